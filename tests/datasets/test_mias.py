"""Tests for keras_mia.datasets.mias (mini-MIAS)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_mia.io import read_image
from keras_mia.data.manifest import Manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.datasets import prepare
from keras_mia.datasets.mias import circle_mask, read_info
from keras_mia.datasets.report import PrepareReport
from keras_mia.evaluation.segmentation import image_truth
from keras_mia.preprocessing import find_preparation, prepare_mammogram
from keras_mia.synth.raw import generate_raw

MIAS_DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mias_dev"


def _write_pgm(path, value=40):
    Image.fromarray(np.full((1024, 1024), value, np.uint8)).save(path)


def test_mask_circle_lands_at_row_1024_minus_y(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_pgm(src / "mdb001.pgm")
    _write_pgm(src / "mdb002.pgm")
    (src / "Info.txt").write_text(
        "Reference table\nmdb001 G CIRC B 300 200 20 \nmdb002 D NORM \n", encoding="latin-1"
    )
    report = prepare("mias", src, tmp_path / "out", segment=False, quiet=True)
    rows = {r["image_path"].split("/")[-1]: r for r in Manifest.load(report.manifest_path)}
    mask = np.asarray(Image.open(tmp_path / "out" / rows["mdb001.png"]["mask_path"])) > 0
    ys, xs = np.nonzero(mask)
    assert abs(ys.mean() - (1024 - 200)) < 0.5 and abs(xs.mean() - 300) < 0.5
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (804, 844, 280, 320)
    assert abs(mask.sum() - np.pi * 20**2) < 0.05 * np.pi * 20**2
    assert not mask[200, 300]  # not measured from the top
    assert rows["mdb001.png"]["label"] == "benign"
    normal = np.asarray(Image.open(tmp_path / "out" / rows["mdb002.png"]["mask_path"]))
    assert rows["mdb002.png"]["label"] == "normal" and not normal.any()
    assert rows["mdb001.png"]["patient_id"] == rows["mdb002.png"]["patient_id"]
    assert validate_manifest(report.manifest_path).ok


def test_circle_mask_uses_the_image_height():
    mask = circle_mask((100, 60), x=10, y=30, radius=3)
    ys, xs = np.nonzero(mask)
    assert (ys.mean(), xs.mean()) == (70, 10)


def test_read_info_quirks(tmp_path):
    info = tmp_path / "Info.txt"
    info.write_text(
        "1st column: MIAS database reference number.\n"
        "mdb001 G CIRC B 535 425 197\n"
        "mdb003 D NORM \n"
        "mdb005 F CIRC B 477 133 30\n"
        "mdb005 F CIRC M 500 168 26 \n"
        "mdb059 F CIRC B\n"
        "mdb060 F BLOB B 1 2 3\n"
        "mdb061 F SPIC\n"
        "mdb062 F MISC M *NOTE 3*\n",
        encoding="latin-1",
    )
    report = PrepareReport("mias", tmp_path, tmp_path)
    rows = read_info(info, report)
    assert rows["mdb001"][0].x == 535 and rows["mdb001"][0].y == 425
    assert rows["mdb003"][0].severity is None and rows["mdb003"][0].abnormality == "NORM"
    assert len(rows["mdb005"]) == 2 and rows["mdb005"][1].severity == "M"
    assert rows["mdb059"][0].x is None and rows["mdb062"][0].x is None
    assert "mdb060" not in rows and "mdb061" not in rows
    reasons = dict(report.skipped)
    assert "unknown CLASS 'BLOB'" in reasons["Info.txt line 7"]
    assert "without severity" in reasons["Info.txt line 8"]
    assert any("1 description line" in note for note in report.notes)
    assert any("not understood" in note for note in report.notes)
    with pytest.raises(ValueError, match="line 7"):
        read_info(info)


def test_end_to_end_on_the_synthetic_layout(tmp_path):
    src = generate_raw("mias", tmp_path / "raw", seed=0)
    (src / "mdb999.pgm").write_bytes((src / "mdb001.pgm").read_bytes())  # no Info row
    with open(src / "Info.txt", "a", encoding="latin-1") as f:
        f.write("mdb321 G NORM \n")  # no image
    report = prepare("mias", src, tmp_path / "out", quiet=True)
    manifest = Manifest.load(report.manifest_path)
    info = read_info(src / "Info.txt")
    assert len(manifest) == 8
    reasons = {item.split("/")[-1].split(" ")[0]: reason for item, reason in report.skipped}
    assert reasons == {"mdb999.pgm": "no row in Info.txt", "mdb321": "image file not found"}
    for row in manifest:
        refnum = row["image_path"].split("/")[-1][:-4]
        severities = {r.severity for r in info[refnum]}
        expected = "malignant" if "M" in severities else "benign" if "B" in severities else "normal"
        assert row["label"] == expected and row["split"] == "test"
        image = read_image(manifest.resolve(row["image_path"]))
        # 16-bit, exactly 257 x the 8-bit source values (same scale as prepared CBIS-DDSM),
        # zero outside the segmented breast, not flipped.
        assert image.shape == (1024, 1024) and image.max() > 255
        raw = read_image(src / f"{refnum}.pgm")
        breast = prepare_mammogram(raw, 255.0, scale=1.0).breast
        np.testing.assert_array_equal(image[breast], raw[breast] * 257)
        assert not image[~breast].any() and 0.1 < breast.mean() < 0.9
        with_coords = [r for r in info[refnum] if r.x is not None]
        if expected != "normal" and not with_coords:
            assert row["mask_path"] == ""
            continue
        mask = np.asarray(Image.open(manifest.resolve(row["mask_path"]))) > 0
        assert mask.any() == bool(with_coords)
        for r in with_coords:
            assert mask[1024 - r.y, r.x]
    assert any("no row has coordinates" in note for note in report.notes)
    assert validate_manifest(report.manifest_path).ok
    record, _ = find_preparation(report.manifest_path)
    assert (record.scale, record.image_size, record.segment, record.dataset) == (
        1.0, None, True, "mias")


def test_no_segment_keeps_the_raw_scan(tmp_path, capsys):
    from keras_mia.cli import main

    src = generate_raw("mias", tmp_path / "raw", n=2, seed=1)
    out = tmp_path / "out"
    assert main(["prepare", "mias", str(src), str(out), "--no-segment", "--quiet"]) == 0
    manifest = Manifest.load(out / "manifest.csv")
    for row in manifest:
        image = read_image(manifest.resolve(row["image_path"]))
        raw = read_image(src / Path(row["image_path"]).with_suffix(".pgm").name)
        np.testing.assert_array_equal(image, raw * 257)  # padding and film fog kept
    record, _ = find_preparation(out / "manifest.csv")
    assert record.segment is False
    assert "segmentation" not in (out / "prepare_report.txt").read_text()


def test_image_size_option_and_bad_split(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_pgm(src / "mdb001.pgm")
    (src / "Info.txt").write_text("mdb001 G CIRC B 512 512 100\n", encoding="latin-1")
    report = prepare("mias", src, tmp_path / "out", image_size="64x64", split="", segment=False,
                     quiet=True)
    row = Manifest.load(report.manifest_path).rows[0]
    mask = np.asarray(Image.open(tmp_path / "out" / row["mask_path"])) > 0
    assert mask.shape == (64, 64) and mask[32, 32] and row["split"] == ""
    with pytest.raises(ValueError, match="split"):
        prepare("mias", src, tmp_path / "o2", split="holdout", quiet=True)


def _info_labels(path):
    """``refnum -> label`` read straight from Info.txt (not through the adapter)."""
    severities = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        match = re.match(r"^(mdb\d{3})\s+\S+\s+(\S+)\s*(\S*)", line)
        if match:
            found = severities.setdefault(match[1], set())
            if match[2] != "NORM":
                found.add(match[3])
    return {ref: "malignant" if "M" in s else "benign" if "B" in s else "normal"
            for ref, s in severities.items()}


@pytest.fixture(scope="module")
def mias_dev(tmp_path_factory):
    if not (MIAS_DEV / "Info.txt").is_file():
        pytest.skip("../shared/data/mias_dev not available")
    out = tmp_path_factory.mktemp("mias_dev") / "prepared"
    return prepare("mias", MIAS_DEV, out, quiet=True)


# Film labels apart from the breast (rows, columns in the raw scan) that the segmentation
# chained to the breast through the film's edge lines before the opening cut them.
_LABELS = {"mdb029": (7, 302, 199, 248), "mdb081": (12, 258, 188, 329),
           "mdb129": (0, 104, 256, 453), "mdb274": (0, 68, 589, 674)}


@pytest.mark.shared_data
def test_mias_dev_images_labels_and_segmentation(mias_dev):
    manifest = Manifest.load(mias_dev.manifest_path)
    expected = _info_labels(MIAS_DEV / "Info.txt")
    names = {Path(r["image_path"]).stem: r for r in manifest}
    assert len(manifest) == 162 and len({r["patient_id"] for r in manifest}) == 81
    assert {name: r["label"] for name, r in names.items()} == expected
    for name, (r0, r1, c0, c1) in _LABELS.items():
        raw = read_image(MIAS_DEV / f"{name}.pgm")
        image = read_image(manifest.resolve(names[name]["image_path"]))
        assert raw[r0:r1, c0:c1].max() > 150 and not image[r0:r1, c0:c1].any(), name
    for name in ("mdb001", "mdb029", "mdb233", "mdb318"):
        raw = read_image(MIAS_DEV / f"{name}.pgm")
        image = read_image(manifest.resolve(names[name]["image_path"]))
        breast = prepare_mammogram(raw, 255.0, scale=1.0).breast
        # Outside the segmented breast all 0; inside the scan's own values, not flipped.
        assert not image[~breast].any()
        np.testing.assert_array_equal(image[breast], raw[breast] * 257)
        assert 0.1 < breast.mean() < 0.7
    data = json.loads((mias_dev.out_dir / "preparation.json").read_text())
    assert data["segment"] is True and data["scale"] == 1.0 and data["dataset"] == "mias"
    # The two images whose segmentation a human should look at: mdb141 (a large breast
    # touching three borders) and mdb002 (a band of the film's edge joined along the top).
    assert "segmentation to check: 2 image(s): mdb002, mdb141" in mias_dev.notes


@pytest.mark.shared_data
def test_mias_dev_abnormal_images_without_coordinates_are_positive(mias_dev):
    manifest = Manifest.load(mias_dev.manifest_path)
    has_mask = [bool(r["mask_path"]) and read_image(manifest.resolve(r["mask_path"])).any()
                for r in manifest]
    truth = image_truth([r["label"] for r in manifest], has_mask)
    names = [Path(r["image_path"]).stem for r in manifest]
    unmasked = {names[i] for i, r in enumerate(manifest)
                if r["label"] != "normal" and not has_mask[i]}
    assert unmasked == {"mdb233", "mdb245"}  # CALC rows without coordinates
    assert all(truth.truth[names.index(name)] == 1 for name in unmasked)
    assert truth.truth.sum() == sum(r["label"] != "normal" for r in manifest) == 55
    assert sum(has_mask) == 53 and truth.from_mask == ()


def test_patches_s_follow_shens_set_s(tmp_path):
    from keras_mia.preprocessing import PATCH_LABELS

    src = generate_raw("mias", tmp_path / "raw", n=8, seed=0)
    report = prepare("mias", src, tmp_path / "out", patches="s", split="auto", quiet=True)
    info = read_info(src / "Info.txt")
    patch_manifest = tmp_path / "out" / "patches_s" / "manifest.csv"
    patches = Manifest.load(patch_manifest)
    manifest = Manifest.load(report.manifest_path)
    images = {Path(r["image_path"]).stem: r for r in manifest}
    assert validate_manifest(patch_manifest).ok
    assert find_preparation(patch_manifest)[0].patch_set == "s"
    assert not [item for item, _ in report.skipped if "patch set" in item]
    # Shen's classes; CALC -> calcification, the other codes -> mass; B/M -> benign/malignant.
    shen = {("CALC", "B"): 2, ("CALC", "M"): 1, ("CIRC", "B"): 4, ("SPIC", "M"): 3,
            ("MISC", "M"): 3, ("ARCH", "B"): 4}
    assert {r["label"] for r in patches} <= set(PATCH_LABELS)
    for refnum, image_row in images.items():
        own = [r for r in patches if r["study_id"] == refnum]
        # A patch goes with its image (and woman) into the image's split.
        assert {(r["split"], r["patient_id"]) for r in own} == {
            (image_row["split"], image_row["patient_id"])}
        placed = [r for r in info[refnum] if r.x is not None]
        # Set S: one patch per ROI circle, one background patch per image.
        assert sorted(r["label"] for r in own) == sorted(
            [PATCH_LABELS[0]] + [PATCH_LABELS[shen[r.abnormality, r.severity]] for r in placed])
        image = read_image(manifest.resolve(image_row["image_path"]))
        breast = image > 0  # prepare zeroes everything outside the segmented breast
        for row in own:
            patch = read_image(patches.resolve(row["image_path"]))
            assert patch.shape == (224, 224)
            if row["label"] == PATCH_LABELS[0]:
                assert (patch > 0).mean() >= 0.5  # in the breast, not on the padding
                continue
            r = placed[int(Path(row["image_path"]).stem.split("_")[1][3:])]
            top = int(np.clip(1024 - r.y - 112, 0, 1024 - 224))
            left = int(np.clip(r.x - 112, 0, 1024 - 224))
            np.testing.assert_array_equal(patch, image[top:top + 224, left:left + 224])
            assert breast[1024 - r.y, r.x]
    assert len({r["split"] for r in patches}) == 3
    without = [k for k, rows in info.items() if rows[0].severity and rows[0].x is None]
    assert without and any(f"{len(without)} abnormalit" in n for n in report.notes)


def test_roi_crops_centre_each_circle_with_the_merged_mask(tmp_path):
    src = generate_raw("mias", tmp_path / "raw", n=8, seed=0)
    report = prepare("mias", src, tmp_path / "out", roi_crops=96, split="auto", quiet=True)
    info = read_info(src / "Info.txt")
    crop_manifest = tmp_path / "out" / "roi_crops_96" / "manifest.csv"
    crops = Manifest.load(crop_manifest)
    images = {Path(r["image_path"]).stem: r for r in Manifest.load(report.manifest_path)}
    assert validate_manifest(crop_manifest).ok
    record = find_preparation(crop_manifest)[0]
    assert (record.patch_set, record.patch_size) == ("roi_crops", 96)
    placed = {k: [r for r in rows if r.x is not None] for k, rows in info.items()}
    assert len(crops) == sum(len(v) for k, v in placed.items() if k in images) > 0
    for row in crops:
        refnum = row["study_id"]
        image_row = images[refnum]
        assert (row["label"], row["split"], row["patient_id"]) == (
            image_row["label"], image_row["split"], image_row["patient_id"])
        image = read_image(Manifest.load(report.manifest_path).resolve(image_row["image_path"]))
        mask = np.asarray(Image.open(crops.resolve(row["mask_path"]))) > 0
        crop = read_image(crops.resolve(row["image_path"]))
        top, left = int(row["crop_top"]), int(row["crop_left"])
        assert crop.shape == mask.shape == (96, 96)
        np.testing.assert_array_equal(crop, image[top:top + 96, left:left + 96])
        circle = placed[refnum][int(row["roi"][3:])]
        # The crop is centred on its circle (shifted only to stay inside the image).
        centre = (1024 - circle.y - top, circle.x - left)
        assert mask[centre] and all(0 <= c < 96 for c in centre)
        if 48 <= 1024 - circle.y <= 1024 - 48 and 48 <= circle.x <= 1024 - 48:
            assert abs(centre[0] - 48) <= 1 and abs(centre[1] - 48) <= 1
    assert any("roi_crops_96:" in note and "lesion" in note for note in report.notes)
