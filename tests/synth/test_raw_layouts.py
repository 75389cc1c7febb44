"""Tests for keras_mia.synth.raw: the public data sets' own on-disk layouts, synthesised."""

import csv
import re

import numpy as np
import pydicom
import pytest
from PIL import Image

from keras_mia.synth.raw import RAW_DATASETS, canonical_raw_dataset, generate_raw

CASE = re.compile(r"^(Mass|Calc)-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)(_\d+)?$")


@pytest.fixture(scope="module")
def cbis(tmp_path_factory):
    return generate_raw("cbis-ddsm", tmp_path_factory.mktemp("raw") / "cbis", n=10, seed=0)


def test_names_and_errors(tmp_path):
    assert set(RAW_DATASETS) == {"cbis-ddsm", "mias", "dbc", "open-i"}
    assert canonical_raw_dataset("CBIS_DDSM") == "cbis-ddsm"
    with pytest.raises(ValueError, match="Received: dataset='inbreast'"):
        generate_raw("inbreast", tmp_path / "x")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "f").write_text("x")
    with pytest.raises(FileExistsError):
        generate_raw("mias", busy, n=1)


def test_cbis_folders_csvs_and_tags(cbis):
    root = cbis / "CBIS-DDSM"
    folders = sorted(p.name for p in root.iterdir())
    assert all(CASE.match(name) for name in folders)
    csvs = sorted(p.name for p in cbis.glob("*.csv"))
    assert csvs == [f"{k}_case_description_{s}_set.csv" for k in ("calc", "mass")
                    for s in ("test", "train")]
    mass_header = (cbis / "mass_case_description_train_set.csv").read_text().splitlines()[0]
    calc_header = (cbis / "calc_case_description_test_set.csv").read_text().splitlines()[0]
    assert "breast_density" in mass_header and "breast density" in calc_header
    raw = (cbis / "mass_case_description_train_set.csv").read_text()
    assert '.dcm\n"' in raw  # a quoted path ending in a newline
    rows = []
    for name in csvs:
        with open(cbis / name, newline="") as f:
            rows += list(csv.DictReader(f))
    assert len(rows) == 13
    swapped = 0
    for row in rows:
        case = row["image file path"].split("/")[0]
        assert (root / case).is_dir()
        assert not (root / row["image file path"]).exists()  # TCIA's UIDs, not the folders
        (full,) = (root / case).rglob("*.dcm")
        full_ds = pydicom.dcmread(full)
        assert full_ds.PatientID == case and full_ds.SeriesDescription == "full mammogram images"
        assert full_ds.Modality == "MG" and full_ds.BitsStored in (12, 16)
        roi_files = sorted((root / f"{case}_{row['abnormality id']}").rglob("*.dcm"))
        assert len(roi_files) == 2
        by_kind = {pydicom.dcmread(p).SeriesDescription: p for p in roi_files}
        mask = pydicom.dcmread(by_kind["ROI mask images"]).pixel_array
        crop = pydicom.dcmread(by_kind["cropped images"]).pixel_array
        assert mask.shape == full_ds.pixel_array.shape and set(np.unique(mask)) == {0, 255}
        assert crop.shape[0] < mask.shape[0] and len(np.unique(crop)) > 10
        listed = row["ROI mask file path"].strip()
        mask_ds = pydicom.dcmread(by_kind["ROI mask images"])
        points_at_mask = (listed.split("/")[-2] == mask_ds.SeriesInstanceUID
                          and listed.split("/")[-1] == by_kind["ROI mask images"].name)
        swapped += not points_at_mask
    assert swapped == 3


def test_cbis_has_a_12_bit_and_a_monochrome1_mammogram(cbis):
    from keras_mia.io import read_image
    from keras_mia.preprocessing import source_range

    encodings = {}
    for full in sorted((cbis / "CBIS-DDSM").glob("*/*/*full mammogram*/000000.dcm")):
        ds = pydicom.dcmread(full)
        encodings[full.parts[-4]] = (int(ds.BitsStored), ds.PhotometricInterpretation)
        image = read_image(full)
        assert source_range(full, image) == 2 ** int(ds.BitsStored) - 1
        assert image.max() < 2 ** int(ds.BitsStored)
        # Read back with high = dense: the empty film beside the breast is dark.
        assert np.percentile(image, 10) < 0.1 * float(image.max())
    assert sorted(encodings.values()).count((16, "MONOCHROME2")) == len(encodings) - 2
    assert (12, "MONOCHROME2") in encodings.values()
    assert (16, "MONOCHROME1") in encodings.values()


def test_cbis_is_reproducible(cbis, tmp_path):
    again = generate_raw("cbis-ddsm", tmp_path / "again", n=10, seed=0)
    for name in ("mass_case_description_train_set.csv", "calc_case_description_test_set.csv"):
        assert (again / name).read_bytes() == (cbis / name).read_bytes()
    first = sorted(cbis.rglob("*.dcm"))[0]
    assert (again / first.relative_to(cbis)).read_bytes() == first.read_bytes()


def test_mias_layout(tmp_path):
    out = generate_raw("mias", tmp_path / "mias", n=8, seed=0)
    images = sorted(out.glob("mdb*.pgm"))
    assert [p.name for p in images] == [f"mdb{i:03d}.pgm" for i in range(1, 9)]
    assert images[0].read_bytes()[:2] == b"P5"
    with Image.open(images[0]) as image:
        assert image.size == (1024, 1024) and image.mode == "L"
    lines = [ln for ln in (out / "Info.txt").read_text().splitlines() if ln.startswith("mdb")]
    norm = [ln for ln in lines if " NORM" in ln]
    assert norm and all(len(ln.split()) == 3 for ln in norm)
    refs = [ln.split()[0] for ln in lines]
    assert any(refs.count(r) == 2 for r in refs)
    assert any(len(ln.split()) == 4 for ln in lines)  # abnormal, no coordinates
    for ln in lines:
        parts = ln.split()
        if len(parts) == 7:
            x, y, radius = map(int, parts[4:])
            assert 0 < x < 1024 and 0 < y < 1024 and radius > 0
            pixels = np.asarray(Image.open(out / f"{parts[0]}.pgm"))
            assert pixels[1024 - y, x] > 20  # the centre (origin bottom-left) is in the breast
    for path in images:
        pixels = np.asarray(Image.open(path))
        # A fogged film strip in columns of exact zeros, as mini-MIAS pads its scans.
        assert not pixels[:, :128].any() and not pixels[:, 896:].any()
        assert pixels[:, 128:896].min() >= 1


def test_dbc_layout(tmp_path):
    out = generate_raw("dbc", tmp_path / "dbc", n=3, seed=0, image_size=32, slices=24)
    boxes = (out / "Annotation_Boxes.csv").read_bytes()
    assert boxes.startswith(b"Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,")
    assert boxes.count(b"\r\n") == 5 and b"\n" not in boxes.replace(b"\r\n", b"")
    patients = sorted(p.name for p in (out / "Duke-Breast-Cancer-MRI").iterdir())
    assert patients == ["Breast_MRI_001", "Breast_MRI_002", "Breast_MRI_003"]
    (pre,) = (out / "Duke-Breast-Cancer-MRI" / "Breast_MRI_002").glob("*/*dyn pre*")
    files = sorted(pre.glob("*.dcm"))
    assert len(files) == 24
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    assert [h.InstanceNumber for h in headers] == list(range(1, 25))
    z = [float(h.ImagePositionPatient[2]) for h in headers]
    assert z == sorted(z, reverse=True)  # InstanceNumber runs against the position
    assert {h.SeriesDescription for h in headers} == {"ax 3d dyn pre"}
    assert headers[0].PatientID == "Breast_MRI_002" and headers[0].Modality == "MR"
    row = [ln for ln in boxes.decode().split("\r\n") if ln.startswith("Breast_MRI_002")][0]
    r0, r1, c0, c1, s0, s1 = map(int, row.split(",")[1:])
    volume = np.stack([pydicom.dcmread(p).pixel_array for p in files]).astype(float)
    inside = volume[s0 - 1 : s1, r0 - 1 : r1, c0 - 1 : c1].mean()
    outside = volume[[0, 1, 22, 23], r0 - 1 : r1, c0 - 1 : c1].mean()
    assert inside > 1.3 * outside  # the tumour lies in the annotated box


def test_open_i_layout(tmp_path):
    out = generate_raw("open-i", tmp_path / "oi", n=6, seed=0, image_size=32)
    assert sorted(p.name for p in out.iterdir()) == ["TEST", "TRAIN", "VAL"]
    assert sorted(p.name for p in (out / "TRAIN").iterdir()) == ["openI_CXR", "openI_abd_xray"]
    (copy,) = out.rglob("* (1).png")
    assert copy.read_bytes() == copy.with_name(copy.name.replace(" (1)", "")).read_bytes()
    assert sorted(p.name for p in (out / "TEST").iterdir()) == ["abd2.png", "chest2.png"]
    with Image.open(next((out / "TRAIN" / "openI_CXR").iterdir())) as image:
        assert image.mode == "RGB" and image.size == (32, 32)
