"""Tests for keras_mia.data.folder_import.import_folder."""

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from keras_mia.data.folder_import import import_folder
from keras_mia.data.manifest import Manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.io.writers import write_dicom, write_png

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
OPEN_I = SHARED / "data" / "open_i_abd_vs_cxr"


def _png(path, seed=0):
    write_png(path, np.random.default_rng(seed).integers(0, 256, size=(16, 16)))


def _tree(root):
    """TRAIN/VAL class folders, a TEST folder with loose files, and some clutter."""
    _png(root / "TRAIN" / "cat" / "c1.png", 1)
    _png(root / "TRAIN" / "cat" / "nested" / "c2.png", 2)
    _png(root / "TRAIN" / "dog" / "d1.JPG.png", 3)
    (root / "TRAIN" / "dog" / "notes.txt").write_text("hello")
    (root / "TRAIN" / "dog" / ".DS_Store").write_bytes(b"\0")
    write_dicom(root / "Validation" / "dog" / "IM0001", np.zeros((8, 8), np.uint16))
    _png(root / "Validation" / "cat" / "c3.png", 4)
    _png(root / "TEST" / "unknown1.png", 5)
    (root / "README.md").write_text("x")
    (root / "extras").mkdir()


def test_split_layout_rows_and_skips(tmp_path, caplog):
    _tree(tmp_path)
    with caplog.at_level(logging.WARNING):
        rows = import_folder(tmp_path)
    found = [(r["split"], r["label"], Path(r["image_path"]).name, r["patient_id"]) for r in rows]
    assert found == [
        ("train", "cat", "c1.png", "c1"),
        ("train", "cat", "c2.png", "c2"),
        ("train", "dog", "d1.JPG.png", "d1.JPG"),
        ("val", "cat", "c3.png", "c3"),
        ("val", "dog", "IM0001", "IM0001"),  # DICOM without suffix, found by its preamble
    ]
    assert all(Path(r["image_path"]).is_absolute() for r in rows)
    skipped = {p.relative_to(tmp_path).as_posix(): reason for p, reason in rows.skipped}
    assert skipped == {
        "README.md": "not inside a split/class folder",
        "extras": "not a split folder",
        "TEST/unknown1.png": "unlabelled (no class folder)",
        "TRAIN/dog/.DS_Store": "not an image",
        "TRAIN/dog/notes.txt": "not an image",
    }
    assert "skipped 5 item(s)" in caplog.text
    report = rows.report()
    assert "Imported 5 image(s)" in report and "1 x unlabelled (no class folder)" in report


def test_writes_relative_manifest_that_validates(tmp_path):
    _tree(tmp_path)
    out = tmp_path / "manifest.csv"
    rows = import_folder(tmp_path, out_manifest=out, dataset="toy")
    assert rows.manifest_path == out
    manifest = Manifest.load(out)
    assert manifest.rows[0]["image_path"] == "TRAIN/cat/c1.png"
    assert manifest.rows[0]["dataset"] == "toy"
    assert manifest.classes == ["cat", "dog"]
    report = validate_manifest(out)
    assert report.ok, report.problems


def test_class_layout_without_splits_and_custom_names(tmp_path):
    _png(tmp_path / "pos" / "a.png", 1)
    _png(tmp_path / "neg" / "b.png", 2)
    rows = import_folder(tmp_path)
    assert [(r["split"], r["label"]) for r in rows] == [("", "neg"), ("", "pos")]

    _png(tmp_path / "holdout" / "x" / "c.png", 3)
    rows = import_folder(tmp_path, splits={"HOLDOUT": "test"})
    assert [(r["split"], r["label"]) for r in rows] == [("test", "x")]
    assert len(rows.skipped) == 2  # pos/ and neg/ are not split folders here


def test_patient_pattern(tmp_path):
    _png(tmp_path / "TRAIN" / "cxr" / "86_IM-2380-1001_invert.png", 1)
    _png(tmp_path / "TRAIN" / "cxr" / "86_IM-2380-3001_invert.png", 2)
    _png(tmp_path / "TRAIN" / "cxr" / "3_IM-1384-1001.png", 3)
    rows = import_folder(tmp_path, patient_pattern=r"^(?P<patient>\d+)_IM-")
    assert sorted(r["patient_id"] for r in rows) == ["3", "86", "86"]
    rows = import_folder(tmp_path, patient_pattern=r"_IM-(\d+)")
    assert sorted(r["patient_id"] for r in rows) == ["1384", "2380", "2380"]
    with pytest.raises(ValueError, match="does not match file name '3_IM-1384-1001.png'"):
        import_folder(tmp_path, patient_pattern=r"_invert")
    with pytest.raises(ValueError, match=r"patient_pattern='\('"):
        import_folder(tmp_path, patient_pattern="(")


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="root="):
        import_folder(tmp_path / "missing")
    (tmp_path / "TRAIN").mkdir()
    (tmp_path / "TRAIN" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="No labelled image found"):
        import_folder(tmp_path)


@pytest.mark.shared_data
@pytest.mark.skipif(not OPEN_I.is_dir(), reason="real Open-I sample data not available")
def test_real_open_i_folder_imports_and_validate_finds_the_duplicate(tmp_path):
    out = tmp_path / "open_i.csv"
    rows = import_folder(OPEN_I, out_manifest=out)
    counts = Counter((r["split"], r["label"]) for r in rows)
    n_train = sum(1 for _ in (OPEN_I / "TRAIN").rglob("*.png"))
    assert counts[("val", "openI_CXR")] == 5 and counts[("val", "openI_abd_xray")] == 5
    assert counts[("train", "openI_CXR")] + counts[("train", "openI_abd_xray")] == n_train
    assert sorted(p.name for p, _ in rows.skipped) == ["abd2.png", "chest2.png"]
    manifest = Manifest.load(out)
    assert manifest.classes == ["openI_CXR", "openI_abd_xray"]
    # The manifest lies outside the read-only data folder: its paths are absolute.
    assert Path(manifest.rows[0]["image_path"]).is_absolute()

    report = validate_manifest(out, classes=["openI_CXR", "openI_abd_xray"])
    assert len(report.problems) == 1, report.problems
    problem = report.problems[0]
    assert "2 files with identical bytes" in problem
    assert "PMC2584007_1752-1947-2-335-2 (1).png" in problem
    assert "PMC2584007_1752-1947-2-335-2.png" in problem
    lines = [manifest.line_numbers[i] for i, r in enumerate(manifest.rows)
             if "PMC2584007" in r["image_path"]]
    assert problem.startswith(f"{out} lines {lines[0]}, {lines[1]}:")
