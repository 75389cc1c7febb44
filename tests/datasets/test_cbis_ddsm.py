"""Tests for keras_mia.datasets.cbis_ddsm (CBIS-DDSM, Shen's preprocessing, patch sets)."""

import csv
import functools
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from keras_mia.data.manifest import Manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.datasets import prepare
from keras_mia.datasets.cbis_ddsm import CASE_PATTERN, read_case_descriptions
from keras_mia.datasets.report import PrepareReport
from keras_mia.preprocessing import PATCH_LABELS
from keras_mia.synth.raw import generate_raw

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SIZE = (96, 64)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return generate_raw("cbis-ddsm", tmp_path_factory.mktemp("raw") / "cbis", n=10, seed=0)


@pytest.fixture(scope="module")
def prepared(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "cbis"
    return prepare(
        "cbis-ddsm", src, out, image_size=SIZE, patches="s10", patch_size=16, quiet=True
    )


def _csv_rows(src):
    rows = []
    for path in sorted(src.glob("*case_description*.csv")):
        with open(path, newline="") as f:
            rows += [dict(r, _file=path.name) for r in csv.DictReader(f)]
    return rows


def test_read_case_descriptions_handles_the_csv_quirks(src):
    csvs = sorted(src.glob("*case_description*.csv"))
    abnormalities = read_case_descriptions(csvs)
    assert len(abnormalities) == len(_csv_rows(src)) == 13
    for abn in abnormalities:
        assert abn.mask_path == abn.mask_path.strip()
        assert abn.cropped_path == abn.cropped_path.strip()
        assert CASE_PATTERN.match(abn.case)
        assert abn.roi_folders == (f"{abn.case}_{abn.abnormality_id}",)
        assert abn.official_split == ("train" if "Training" in abn.case else "test")
        assert abn.abnormality_type in ("mass", "calcification")


def test_read_case_descriptions_reports_bad_rows(tmp_path):
    path = tmp_path / "mass_case_description_train_set.csv"
    header = ("patient_id,breast_density,left or right breast,image view,abnormality id,"
              "abnormality type,mass shape,mass margins,assessment,pathology,subtlety,"
              "image file path,cropped image file path,ROI mask file path\n")
    good = "P_1,2,LEFT,CC,1,mass,OVAL,X,3,BENIGN,2,Mass-Training_P_1_LEFT_CC/a/b/0.dcm,c,m\n"
    path.write_text(header + good + good.replace("BENIGN", "UNSURE").replace(",1,mass", ",2,mass")
                    + good + "P_1,2,LEFT\n")
    report = PrepareReport("cbis-ddsm", tmp_path, tmp_path)
    assert len(read_case_descriptions([path], report)) == 1
    reasons = [reason for _, reason in report.skipped]
    assert "unknown pathology 'UNSURE'" in reasons[0]
    assert "duplicate of" in reasons[1] and "fields" in reasons[2]
    (tmp_path / "bad.csv").write_text("patient_id,pathology\nP_1,BENIGN\n")
    with pytest.raises(ValueError, match="missing column"):
        read_case_descriptions([tmp_path / "bad.csv"])


@pytest.mark.shared_data
def test_real_case_description_csvs():
    paths = sorted((SHARED / "metadata").glob("*case_description*.csv"))
    if len(paths) != 2:
        pytest.skip("real CBIS-DDSM case descriptions not available")
    report = PrepareReport("cbis-ddsm", SHARED, SHARED)
    abnormalities = read_case_descriptions(paths, report)
    assert not report.skipped
    assert len(abnormalities) == 378 + 326
    assert all(a.official_split == "test" and CASE_PATTERN.match(a.case) for a in abnormalities)
    assert all(not a.mask_path.endswith("\n") and not a.cropped_path.endswith("\n")
               for a in abnormalities)
    pathologies = {a.pathology for a in abnormalities}
    assert pathologies == {"MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"}


def _scan_key(case):
    """``Mass-Training_P_00001_LEFT_CC`` -> ``P_00001_LEFT_CC``: the physical scan."""
    return case.split("_", 1)[1]


def test_end_to_end_on_the_synthetic_layout(src, prepared):
    manifest = Manifest.load(prepared.manifest_path)
    out = prepared.out_dir
    csv_rows = _csv_rows(src)
    cases = {r["image file path"].split("/")[0] for r in csv_rows}
    # 11 case folders, 10 scans: one scan is listed as a Mass and as a Calc case.
    assert len(cases) == 11 and len({_scan_key(c) for c in cases}) == 10
    assert len(manifest) == 10 and not prepared.skipped
    for row in manifest:
        case = row["study_id"]
        pathologies = {
            r["pathology"] for r in csv_rows
            if _scan_key(r["image file path"].split("/")[0]) == _scan_key(case)
        }
        assert row["label"] == ("malignant" if "MALIGNANT" in pathologies else "benign")
        assert row["patient_id"] == "P_" + case.split("_P_")[1].split("_")[0]
        official = "train" if "Training" in case else "test"
        assert row["split"] in (("train", "val") if official == "train" else ("test",)) or (
            row["patient_id"] == "P_00005" and row["split"] == "test")
        image = np.asarray(Image.open(manifest.resolve(row["image_path"])))
        mask = np.asarray(Image.open(manifest.resolve(row["mask_path"])))
        assert image.shape == mask.shape == SIZE and image.dtype == np.uint16
        assert set(np.unique(mask)) == {0, 255}
        # Shen's segmentation leaves one filled region: the burned-in label is gone.
        _, regions = ndimage.label(image > 0, structure=np.ones((3, 3)))
        assert regions == 1
        assert (image[mask > 0] > 0).mean() > 0.99
    assert any(note.startswith("patient P_00005 is in the official training and test sets")
               for note in prepared.notes)
    assert any("3 abnormalities: the CSV lists the cropped image" in n for n in prepared.notes)
    assert {r["split"] for r in manifest} == {"train", "val", "test"}
    assert validate_manifest(prepared.manifest_path).ok
    with open(out / "abnormalities.csv", newline="") as f:
        abnormalities = list(csv.DictReader(f))
    assert len(abnormalities) == 13
    assert sum(int(a["mask_crop_swapped_in_csv"]) for a in abnormalities) == 3
    for abn in abnormalities:
        roi = np.asarray(Image.open(out / abn["mask_path"])) > 0
        merged = np.asarray(Image.open(out / "masks" / f"{abn['scan']}.png")) > 0
        assert roi.any() and not (roi & ~merged).any()


def test_a_scan_listed_as_mass_and_calc_case_is_one_image(src, prepared):
    manifest = Manifest.load(prepared.manifest_path)
    (row,) = [r for r in manifest if _scan_key(r["study_id"]) == "P_00001_LEFT_CC"]
    # Its Calc case alone holds a benign calcification; the mass makes the scan malignant.
    assert row["study_id"] == "Calc-Training_P_00001_LEFT_CC"
    assert row["label"] == "malignant" and row["abnormality"] == "calcification;mass"
    with open(prepared.out_dir / "abnormalities.csv", newline="") as f:
        abns = [a for a in csv.DictReader(f) if a["scan"] == row["study_id"]]
    assert sorted((a["case"], a["abnormality_id"], a["pathology"]) for a in abns) == [
        ("Calc-Training_P_00001_LEFT_CC", "2", "BENIGN"),
        ("Mass-Training_P_00001_LEFT_CC", "1", "MALIGNANT")]
    merged = np.asarray(Image.open(manifest.resolve(row["mask_path"]))) > 0
    rois = [np.asarray(Image.open(prepared.out_dir / a["mask_path"])) > 0 for a in abns]
    assert np.array_equal(merged, rois[0] | rois[1]) and not (rois[0] & rois[1]).any()
    notes = [n for n in prepared.notes if n.startswith("Calc-Training_P_00001_LEFT_CC")]
    assert len(notes) == 1 and "one scan listed as 2 cases" in notes[0]  # identical copies


def test_merged_scan_notes_differing_copies_and_uses_a_lone_copy(src, tmp_path):
    from keras_mia.io import read_image
    from keras_mia.io.writers import write_dicom

    copy = tmp_path / "raw"
    shutil.copytree(src, copy)
    (calc_full,) = (copy / "CBIS-DDSM" / "Calc-Training_P_00001_LEFT_CC").rglob("*.dcm")
    pixels = read_image(calc_full).astype(np.uint16)
    pixels[0, 0] += 7
    write_dicom(calc_full, pixels)
    report = prepare("cbis-ddsm", copy, tmp_path / "a", image_size=SIZE, quiet=True)
    assert any("Mass-Training_P_00001_LEFT_CC differs from the one used" in n and "7" in n
               for n in report.notes)
    # Without the Calc folder the Mass copy carries both ROIs, and the scan stays malignant.
    shutil.rmtree(calc_full.parents[2])
    report = prepare("cbis-ddsm", copy, tmp_path / "b", image_size=SIZE, quiet=True)
    (row,) = [r for r in report.rows if _scan_key(r["study_id"]) == "P_00001_LEFT_CC"]
    assert row["study_id"] == "Mass-Training_P_00001_LEFT_CC" and row["label"] == "malignant"
    assert not report.skipped
    assert any("full-mammogram folder of Calc-Training_P_00001_LEFT_CC not found" in n
               for n in report.notes)


def test_roi_file_tags_stay_unique_when_ids_repeat():
    from keras_mia.datasets.cbis_ddsm import Abnormality, _roi_tags

    def abn(case, kind, ident):
        return Abnormality("x", "P_1", "LEFT", "CC", ident, kind, "BENIGN", "", "", "", case,
                           (), "train")

    assert _roi_tags([abn("Mass-Test_P_1_LEFT_CC", "mass", "1"),
                      abn("Calc-Test_P_1_LEFT_CC", "calcification", "2")]) == ["1", "2"]
    assert _roi_tags([abn("Mass-Test_P_1_LEFT_CC", "mass", "1"),
                      abn("Calc-Test_P_1_LEFT_CC", "calcification", "1")]) == [
        "mass1", "calcification1"]


def test_patch_set_s10(prepared):
    patches = Manifest.load(prepared.extra_manifests["patches_s10"])
    images = Manifest.load(prepared.manifest_path)
    names = [Path(r["image_path"]).name for r in patches]
    short = [item for item, reason in prepared.skipped if "quota" in reason]
    with open(prepared.out_dir / "abnormalities.csv", newline="") as f:
        for abn in csv.DictReader(f):
            tag = Path(abn["mask_path"]).stem[len(abn["scan"]) + 1:]
            prefix = f"{abn['scan']}_roi{tag}_"
            count = sum(n.startswith(prefix) for n in names)
            missed = any(i.startswith(f"{abn['scan']} abnormality {abn['abnormality_id']}:")
                         for i in short)
            assert count < 10 if missed else count == 10
            roi_patches = [r for r in patches if Path(r["image_path"]).name.startswith(prefix)]
            assert {r["label"] for r in roi_patches} <= {PATCH_LABELS[int(abn["patch_class"])]}
    for row in images:
        count = sum(n.startswith(f"{row['study_id']}_bg_") for n in names)
        missed = any(i.startswith(f"{row['study_id']} background:") for i in short)
        assert count < 10 if missed else count == 10
    split_of = {r["study_id"]: r["split"] for r in images}
    for row in patches:
        patch = np.asarray(Image.open(patches.resolve(row["image_path"])))
        assert patch.shape == (16, 16) and patch.dtype == np.uint16
        assert row["split"] == split_of[row["study_id"]] and row["label"] in PATCH_LABELS
    assert validate_manifest(prepared.extra_manifests["patches_s10"]).ok


def test_preparation_records_beside_the_manifests(prepared):
    from keras_mia.preprocessing import MammogramPreparation, find_preparation

    whole, path = find_preparation(prepared.manifest_path)
    assert path == prepared.out_dir / "preparation.json"
    assert whole == MammogramPreparation(SIZE, "crop", True, "cbis_ddsm")
    patches, _ = find_preparation(prepared.extra_manifests["patches_s10"])
    assert patches == MammogramPreparation(SIZE, "crop", True, "cbis_ddsm", "s10", 16)
    assert any(str(path) in note for note in prepared.notes)


def test_prepared_images_are_prepare_mammogram_of_the_raw_files(prepared):
    """The written PNG is ``prepare_mammogram`` of the raw file, at its own bit depth (the
    deployed path, keras_mia.inference, calls the same function)."""
    from keras_mia.io import read_image
    from keras_mia.preprocessing import prepare_mammogram, source_range

    with open(prepared.out_dir / "abnormalities.csv", newline="") as f:
        sources = {r["scan"]: Path(r["full_image_source"]) for r in csv.DictReader(f)}
    tops = set()
    for row in Manifest.load(prepared.manifest_path):
        raw = sources[row["study_id"]]
        image = read_image(raw)
        tops.add(source_range(raw, image))
        expected = prepare_mammogram(image, source_range(raw, image), image_size=SIZE).image
        written = np.asarray(Image.open(prepared.out_dir / row["image_path"]))
        np.testing.assert_array_equal(written, expected)
    assert tops == {4095.0, 65535.0}  # the 12-bit file among the 16-bit ones


def test_missing_roi_folder_drops_the_scan_with_reasons(src, tmp_path):
    copy = tmp_path / "raw"
    shutil.copytree(src, copy)
    (roi,) = [p for p in (copy / "CBIS-DDSM").iterdir() if p.name.endswith("_RIGHT_CC_1")][:1]
    shutil.rmtree(roi)
    report = prepare("cbis-ddsm", copy, tmp_path / "out", image_size=SIZE, val_fraction=0,
                     quiet=True)
    case = roi.name[:-2]
    reasons = [reason for item, reason in report.skipped if item.startswith(case)]
    assert any("ROI folder" in r and "not found" in r for r in reasons)
    assert any("scan left out" in r for r in reasons)
    assert case not in {r["study_id"] for r in report.rows} and len(report.rows) == 9
    assert "val" not in {r["split"] for r in report.rows}


def test_jobs_give_the_same_result(src, tmp_path):
    one = prepare("cbis-ddsm", src, tmp_path / "a", image_size=(48, 32), segment=False,
                  quiet=True)
    two = prepare("cbis-ddsm", src, tmp_path / "b", image_size=(48, 32), segment=False,
                  jobs=2, quiet=True)
    manifests = [(tmp_path / d / "manifest.csv").read_text() for d in "ab"]
    assert manifests[0] == manifests[1]
    for row in one.rows:
        name = Path(row["image_path"]).name
        images = [(tmp_path / d / "images" / name).read_bytes() for d in "ab"]
        assert images[0] == images[1]
    assert two.n_images == one.n_images


def _real_layout(tmp_path):
    """The two real samples placed where the real CSV rows say (the PNG mirror's naming).

    The full mammograms and cropped DICOMs are linked as they are. A sample ROI file is a
    16-bit RGB PNG: CBIS-DDSM's 0/255 lesion mask as grey (R = G = B = 255 of 65535) with
    the lesion's bounding box drawn over it in red; the lesion is written back as the
    8-bit 0/255 mask the mirror holds.
    """
    samples = SHARED / "cbis_ddsm_samples"
    src = tmp_path / "real"
    csv_dir = src / "csv"
    csv_dir.mkdir(parents=True)
    for path in (SHARED / "metadata").glob("*case_description*.csv"):
        shutil.copy(path, csv_dir / path.name)
    for abn in read_case_descriptions(sorted(csv_dir.glob("*.csv"))):
        full = samples / "full" / f"{abn.case}.png"
        if not full.is_file():
            continue
        roi = f"{abn.case}_{abn.abnormality_id}"
        for target, source in ((abn.image_path, full),
                               (abn.cropped_path, samples / "dicom" / f"{roi}_cropped.dcm")):
            path = src / "CBIS-DDSM" / target
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.symlink_to(source)
        Image.fromarray(_lesion(roi).astype(np.uint8) * 255).save(src / "CBIS-DDSM" / abn.mask_path)
    return src


@functools.lru_cache(maxsize=None)
def _lesion(case_and_id: str) -> np.ndarray:
    """A sample's lesion mask (see ``_real_layout``), decoded once per test session."""
    from keras_mia.io import read_image

    path = SHARED / "cbis_ddsm_samples/roi" / f"{case_and_id}_mask.png"
    return np.isclose(read_image(path), 255.0)


@pytest.mark.shared_data
def test_real_samples_end_to_end(tmp_path):
    if not (SHARED / "cbis_ddsm_samples" / "full").is_dir() or not (SHARED / "metadata").is_dir():
        pytest.skip("real CBIS-DDSM samples not available")
    src = _real_layout(tmp_path)
    report = prepare("cbis-ddsm", src, tmp_path / "out", csv_dir=src / "csv", quiet=True)
    manifest = Manifest.load(report.manifest_path)
    assert sorted(r["study_id"] for r in manifest) == [
        "Mass-Test_P_00016_LEFT_CC", "Mass-Test_P_00116_RIGHT_MLO"]
    assert {r["label"] for r in manifest} == {"malignant"}
    n_cases = len({a.case for a in read_case_descriptions(sorted((src / "csv").glob("*.csv")))})
    assert len(report.skipped) == n_cases - 2
    assert {reason for _, reason in report.skipped} == {
        "full-mammogram folder not found under SRC"}
    row = next(r for r in manifest if "RIGHT_MLO" in r["study_id"])
    image = np.asarray(Image.open(manifest.resolve(row["image_path"])))
    assert image.shape == (1152, 896) and image.max() > 60000
    # The "R MLO" letters (rows 270-871, columns 121-422 of the 4144 x 2600 film) are zeroed:
    # scale 1152 / 4144, 723 columns of content padded by 86 on the left.
    scale = 1152 / 4144
    r0, r1 = int(270 * scale), int(871 * scale) + 1
    c0, c1 = 86 + int(121 * scale), 86 + int(422 * scale) + 1
    assert not image[r0:r1, c0:c1].any()
    from keras_mia.preprocessing import resize_with_padding

    film = np.asarray(Image.open(SHARED / "cbis_ddsm_samples/full" / f"{row['study_id']}.png"))
    assert resize_with_padding(film)[r0:r1, c0:c1].max() > 200  # the label was there
    mask = np.asarray(Image.open(manifest.resolve(row["mask_path"]))) > 0
    with open(report.out_dir / "abnormalities.csv", newline="") as f:
        rois = [a for a in csv.DictReader(f) if a["case"] == row["study_id"]]
    assert len(rois) == 2
    # The two lesions, inside their drawn boxes (rows 1588-2060 and 1154-1629), merged.
    for a, (top, bottom) in zip(rois, [(1588, 2060), (1154, 1629)]):
        assert top * scale - 1 <= int(a["bbox_top"]) < int(a["bbox_bottom"]) <= bottom * scale + 1
    lesions = [int(_lesion(f"{row['study_id']}_{k}").sum()) for k in (1, 2)]
    assert 0.95 < mask.sum() / (sum(lesions) * scale**2) < 1.05
    assert validate_manifest(report.manifest_path).ok


@pytest.fixture(scope="module")
def prepared_scaled(src, tmp_path_factory):
    """The seed's scale (0.66 of each scan) with the ROI-crop set, at a test-sized crop."""
    out = tmp_path_factory.mktemp("prepared_scaled") / "cbis"
    return prepare("cbis-ddsm", src, out, scale=0.66, roi_crops=64, quiet=True)


def test_seed_scale_prepares_each_scan_at_066_of_its_size(src, prepared_scaled):
    """Acceptance (issue 13): heights 0.66 of the source (+-1 px), masks follow (the ROI's
    bbox scaled), the ROI-crop set has the configured size and each crop holds its ROI."""
    from keras_mia.io import read_image
    from keras_mia.preprocessing import MammogramPreparation, find_preparation

    out = prepared_scaled.out_dir
    manifest = Manifest.load(prepared_scaled.manifest_path)
    assert len(manifest) == 10 and not prepared_scaled.skipped
    with open(out / "abnormalities.csv", newline="") as f:
        abnormalities = list(csv.DictReader(f))
    sources = {a["scan"]: Path(a["full_image_source"]) for a in abnormalities}
    shapes = set()
    for row in manifest:
        source = read_image(sources[row["study_id"]]).shape
        image = np.asarray(Image.open(manifest.resolve(row["image_path"])))
        mask = np.asarray(Image.open(manifest.resolve(row["mask_path"])))
        assert image.dtype == np.uint16 and mask.shape == image.shape
        assert abs(image.shape[0] - 0.66 * source[0]) <= 1
        assert abs(image.shape[1] - 0.66 * source[1]) <= 1
        shapes.add(image.shape)
    for abn in abnormalities:
        # The ROI mask as drawn on the raw scan (the synthetic raw masks match the scan).
        raw_roi = read_image(Path(abn["roi_mask_source"]))
        rows, cols = np.nonzero(raw_roi > raw_roi.min())
        bbox = [int(abn[k]) for k in ("bbox_top", "bbox_left", "bbox_bottom", "bbox_right")]
        expected = [rows.min() * 0.66, cols.min() * 0.66, rows.max() * 0.66, cols.max() * 0.66]
        np.testing.assert_allclose(bbox, expected, atol=2)
    whole, _ = find_preparation(prepared_scaled.manifest_path)
    assert whole == MammogramPreparation(None, "crop", True, "cbis_ddsm", scale=0.66)

    crops = Manifest.load(prepared_scaled.extra_manifests["roi_crops_64"])
    assert len(crops) == len(abnormalities) == 13
    by_roi = {(a["scan"], Path(a["mask_path"]).stem[len(a["scan"]) + 1:]): a
              for a in abnormalities}
    for row in crops:
        image = np.asarray(Image.open(crops.resolve(row["image_path"])))
        mask = np.asarray(Image.open(crops.resolve(row["mask_path"]))) > 0
        assert image.shape == mask.shape == (64, 64) and image.dtype == np.uint16
        abn = by_roi[(row["study_id"], row["roi"])]
        roi = np.asarray(Image.open(out / abn["mask_path"])) > 0
        top, left = int(row["crop_top"]), int(row["crop_left"])
        # The whole ROI lies inside its crop, and the crop's mask shows it.
        inside = roi[top:top + 64, left:left + 64]
        assert inside.sum() == roi.sum() and not (inside & ~mask).any()
        scan = np.asarray(Image.open(out / "images" / f"{row['study_id']}.png"))
        np.testing.assert_array_equal(image, scan[top:top + 64, left:left + 64])
    record, _ = find_preparation(prepared_scaled.extra_manifests["roi_crops_64"])
    assert (record.scale, record.patch_set, record.patch_size) == (0.66, "roi_crops", 64)


def test_scale_and_image_size_exclude_each_other(src, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        prepare("cbis-ddsm", src, tmp_path / "o", scale=0.66, image_size="64x64", quiet=True)
    with pytest.raises(ValueError, match="scale=1.5"):
        prepare("cbis-ddsm", src, tmp_path / "p", scale=1.5, quiet=True)
