"""Tests for keras_mia.datasets.mias (mini-MIAS)."""

import numpy as np
import pytest
from PIL import Image

from keras_mia.io import read_image
from keras_mia.data.manifest import Manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.datasets import prepare
from keras_mia.datasets.mias import circle_mask, read_info
from keras_mia.datasets.report import PrepareReport
from keras_mia.synth.raw import generate_raw


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
    report = prepare("mias", src, tmp_path / "out", quiet=True)
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
        # 16-bit, exactly 257 x the 8-bit source values (same scale as prepared CBIS-DDSM).
        assert image.shape == (1024, 1024) and image.max() > 255
        np.testing.assert_array_equal(image % 257, 0)
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


def test_image_size_option_and_bad_split(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_pgm(src / "mdb001.pgm")
    (src / "Info.txt").write_text("mdb001 G CIRC B 512 512 100\n", encoding="latin-1")
    report = prepare("mias", src, tmp_path / "out", image_size="64x64", split="", quiet=True)
    row = Manifest.load(report.manifest_path).rows[0]
    mask = np.asarray(Image.open(tmp_path / "out" / row["mask_path"])) > 0
    assert mask.shape == (64, 64) and mask[32, 32] and row["split"] == ""
    with pytest.raises(ValueError, match="split"):
        prepare("mias", src, tmp_path / "o2", split="holdout", quiet=True)
