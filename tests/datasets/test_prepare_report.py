"""Tests for keras_mia.datasets.report.PrepareReport (the report every adapter returns)."""

from pathlib import Path

from keras_mia.datasets.report import REPORT_FILE, PrepareReport


def _report(tmp_path):
    report = PrepareReport("demo", Path("/src"), tmp_path)
    report.rows = [
        {"image_path": "a.png", "label": "benign", "patient_id": "p1", "split": "train"},
        {"image_path": "b.png", "label": "malignant", "patient_id": "p1", "split": "train"},
        {"image_path": "c.png", "label": "benign", "patient_id": "p2", "split": "test"},
    ]
    for i in range(25):
        report.skip(f"item{i}", "file not found")
    report.skip("odd", "unreadable")
    report.note("fixed a swapped pair")
    return report


def test_counts(tmp_path):
    report = _report(tmp_path)
    assert report.n_images == 3 and report.n_patients == 2
    assert report.label_counts() == {"benign": 2, "malignant": 1}
    assert report.split_label_counts()[("train", "benign")] == 1
    assert report.patients_per_split() == {"train": 1, "test": 1}


def test_summary_lists_every_reason_and_limits_items(tmp_path):
    text = _report(tmp_path).summary(max_items_per_reason=5)
    assert "images: 3   patients: 2" in text
    assert "per label: benign 2, malignant 1" in text
    assert "train: 2 images, 1 patients (benign 1, malignant 1)" in text
    assert "skipped: 26" in text
    assert "25 x file not found" in text and "1 x unreadable" in text
    assert "item4" in text and "item5" not in text and "20 more" in text
    assert text.index("train:") < text.index("test:")
    assert "fixed a swapped pair" in text


def test_write_lists_every_item(tmp_path):
    path = _report(tmp_path).write()
    assert path == tmp_path / REPORT_FILE
    text = path.read_text()
    assert all(f"item{i}\n" in text for i in range(25))
