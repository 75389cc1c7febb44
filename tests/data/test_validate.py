"""Tests for keras_mia.data.validate and the `keras-mia validate` command."""

import shutil

import numpy as np
import pytest
from PIL import Image

from keras_mia import cli
from keras_mia.data.manifest import write_manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.io.writers import write_png


def _noise(seed, shape=(32, 32)):
    return np.random.default_rng(seed).integers(0, 256, size=shape)


def _dataset(tmp_path, n=6, splits=("train", "train", "train", "val", "test", "test")):
    """n distinct noise PNGs, one patient each, labels alternating a/b."""
    rows = []
    for i in range(n):
        write_png(tmp_path / "img" / f"{i}.png", _noise(i))
        rows.append(
            {"image_path": f"img/{i}.png", "label": "ab"[i % 2], "patient_id": f"P{i}",
             "split": splits[i]}
        )
    return rows


def test_clean_manifest_is_ok_and_summarised(tmp_path, capsys):
    rows = _dataset(tmp_path)
    rows.append({"image_path": "img/0.png", "label": "a", "patient_id": "P0", "split": "train"})
    rows[-1]["image_path"] = "img/extra.png"
    write_png(tmp_path / "img" / "extra.png", _noise(99))
    path = write_manifest(tmp_path / "manifest.csv", rows)

    report = validate_manifest(path, classes=["a", "b"])
    assert report.ok and report.problems == []
    assert report.n_rows == 7 and report.n_patients == 6
    assert report.counts == {"train": {"a": 3, "b": 1}, "val": {"b": 1}, "test": {"a": 1, "b": 1}}
    assert report.patients == {"train": 3, "val": 1, "test": 2}
    summary = report.summary()
    assert "7 image(s), 6 patient(s), 2 label(s)" in summary
    assert summary.splitlines()[1].split() == ["split", "a", "b", "images", "patients"]
    assert summary.splitlines()[2].split() == ["train", "3", "1", "4", "3"]
    assert summary.splitlines()[-3].split() == ["total", "4", "3", "7", "6"]
    # val holds only 'b': a warning, not a problem.
    assert report.warnings == [
        "split 'val' has only one class ('b', 1 row(s)): a classifier cannot learn or be "
        "scored on it (AUC needs both classes); re-split by patient with stratification"
    ]
    assert summary.splitlines()[-2] == f"warning: {report.warnings[0]}"
    assert summary.endswith("OK: no problem found")

    assert cli.main(["validate", str(path)]) == 0
    assert "OK: no problem found" in capsys.readouterr().out


def test_acceptance_missing_truncated_and_leaking_patient_all_reported(tmp_path, capsys):
    rows = _dataset(tmp_path)
    (tmp_path / "img" / "1.png").unlink()  # line 3
    data = (tmp_path / "img" / "2.png").read_bytes()
    (tmp_path / "img" / "2.png").write_bytes(data[: len(data) // 2])  # line 4
    rows[4]["patient_id"] = "P3"  # P3 now in val (line 5) and test (line 6)
    path = write_manifest(tmp_path / "manifest.csv", rows)

    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    problem_lines = [line for line in out.splitlines() if line.startswith(str(path))]
    assert len(problem_lines) == 3, out
    missing, truncated, leak = problem_lines
    assert missing.startswith(f"{path} line 3: image 'img/1.png' not found")
    assert truncated.startswith(f"{path} line 4: image 'img/2.png' cannot be decoded")
    assert leak.startswith(f"{path} lines 5, 6: patient 'P3' is in 2 splits")
    assert "'img/3.png'" in leak and "'img/4.png'" in leak
    assert "FAILED: 3 problem(s) found" in out


def test_mask_size_must_match_image(tmp_path):
    rows = _dataset(tmp_path, n=3, splits=("train",) * 3)
    write_png(tmp_path / "mask" / "0.png", np.zeros((32, 32)))
    write_png(tmp_path / "mask" / "1.png", np.zeros((16, 32)))
    # An RGB mask (as CBIS-DDSM stores them) of the right size is fine.
    write_png(tmp_path / "mask" / "2.png", np.zeros((32, 32, 3)))
    for i, row in enumerate(rows):
        row["mask_path"] = f"mask/{i}.png"
    rows.append({"image_path": "img/0b.png", "label": "a", "patient_id": "P9",
                 "mask_path": "mask/none.png"})
    write_png(tmp_path / "img" / "0b.png", _noise(50))
    path = write_manifest(tmp_path / "m.csv", rows)

    problems = validate_manifest(path).problems
    assert problems == [
        f"{path} line 3: mask 'mask/1.png' is 16x32 but image 'img/1.png' is 32x32 "
        "(height x width)",
        f"{path} line 5: mask 'mask/none.png' not found (looked for "
        f"{tmp_path / 'mask' / 'none.png'})",
    ]


def test_duplicate_bytes_and_duplicate_pixels_name_both_rows(tmp_path):
    rows = _dataset(tmp_path, n=4, splits=("train", "train", "val", "test"))
    shutil.copy(tmp_path / "img" / "0.png", tmp_path / "img" / "0 (1).png")
    rows.append({"image_path": "img/0 (1).png", "label": "a", "patient_id": "P0 (1)",
                 "split": "train"})
    # The same pixels saved with other PNG settings: different bytes, identical content.
    pixels = np.asarray(Image.open(tmp_path / "img" / "3.png"))
    Image.fromarray(pixels).save(tmp_path / "img" / "3_again.png", compress_level=0)
    assert (tmp_path / "img" / "3_again.png").read_bytes() != (
        tmp_path / "img" / "3.png").read_bytes()
    rows.append({"image_path": "img/3_again.png", "label": "b", "patient_id": "Q3",
                 "split": "train"})
    path = write_manifest(tmp_path / "m.csv", rows)

    report = validate_manifest(path)
    assert len(report.problems) == 2, report.problems
    by_bytes, by_pixels = report.problems
    assert by_bytes.startswith(f"{path} lines 2, 6: duplicate image, 2 files with identical bytes")
    assert "'img/0.png'" in by_bytes and "'img/0 (1).png'" in by_bytes
    assert by_pixels.startswith(
        f"{path} lines 5, 7: duplicate image, 2 files with identical pixels"
    )
    assert "across splits test, train" in by_pixels

    assert validate_manifest(path, check_duplicates=False).ok


def test_blank_images_are_not_reported_as_duplicates(tmp_path):
    rows = []
    for i in range(3):
        write_png(tmp_path / f"blank{i}.png", np.zeros((32, 32)))
        rows.append({"image_path": f"blank{i}.png", "label": "0", "patient_id": "P1"})
    assert validate_manifest(write_manifest(tmp_path / "m.csv", rows)).ok


def test_duplicate_rows_unknown_labels_and_structure_reported_together(tmp_path):
    rows = _dataset(tmp_path, n=3, splits=("train", "val", "test"))
    rows.append(dict(rows[0]))  # line 5 repeats line 2
    rows.append({"image_path": "img/2.png", "label": "c", "patient_id": "P2", "split": "TEST"})
    path = write_manifest(tmp_path / "m.csv", rows)

    problems = validate_manifest(path, classes=["a", "b"]).problems
    assert problems == [
        f"{path} line 6: unknown split 'TEST' (image_path='img/2.png'); "
        "expected one of ['train', 'val', 'test'] or empty",
        f"{path} line 6: unknown label 'c' (image 'img/2.png'); expected one of ['a', 'b']",
        f"{path} lines 2, 5: image 'img/0.png' is listed 2 times (duplicate rows)",
        f"{path} lines 4, 6: image 'img/2.png' is listed 2 times (duplicate rows)",
    ]


def test_unreadable_manifest_is_a_problem_not_a_crash(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text("image_path,label\na.png,1\n")
    report = validate_manifest(path)
    assert not report.ok and "missing required column(s) ['patient_id']" in report.problems[0]
    assert cli.main(["validate", str(tmp_path / "absent.csv")]) == 1
    assert "manifest file not found" in capsys.readouterr().out


def test_unknown_columns_are_notes_not_problems(tmp_path):
    rows = _dataset(tmp_path, n=2, splits=("train", "val"))
    for row in rows:
        row["scanner"] = "GE"
    report = validate_manifest(write_manifest(tmp_path / "m.csv", rows))
    assert report.ok
    assert "note:" in report.summary() and "scanner" in report.summary()


@pytest.mark.parametrize("workers", [1, 4])
def test_same_result_with_any_number_of_workers(tmp_path, workers):
    rows = _dataset(tmp_path)
    (tmp_path / "img" / "5.png").write_bytes(b"not a png")
    path = write_manifest(tmp_path / "m.csv", rows)
    problems = validate_manifest(path, num_workers=workers).problems
    assert len(problems) == 1 and problems[0].startswith(f"{path} line 7: image 'img/5.png'")
