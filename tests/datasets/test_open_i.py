"""Tests for keras_mia.datasets.open_i (Hello World data)."""

import logging
import re
from pathlib import Path

import pytest

from keras_mia.data.manifest import Manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.datasets import prepare
from keras_mia.datasets.open_i import PATIENT_PATTERN
from keras_mia.synth.raw import generate_raw

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "open_i_abd_vs_cxr"


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return generate_raw("open-i", tmp_path_factory.mktemp("raw") / "open_i", n=6, seed=0)


def test_patient_pattern():
    def patient(name):
        match = re.search(PATIENT_PATTERN, name)
        return next(g for g in match.groups() if g)

    assert patient("86_IM-2380-1001_invert.png") == patient("86_IM-2380-3001_invert.png") == "86"
    assert patient("PMC3913410_umj0082-0179-f3.png") == "PMC3913410"
    assert patient("openI_9.png") == "openI_9"


def test_end_to_end_on_the_synthetic_layout(src, tmp_path):
    report = prepare("open-i", src, tmp_path / "out", quiet=True)
    manifest = Manifest.load(report.manifest_path)
    sources = sorted(p for p in src.rglob("*.png"))
    duplicates = [p for p in sources if p.stem.endswith(" (1)")]
    assert len(duplicates) == 1
    assert len(manifest) == len(sources) - 1
    assert [reason for _, reason in report.skipped] == [
        f"byte-identical duplicate of {duplicates[0].parent.relative_to(src)}/"
        f"{duplicates[0].name.replace(' (1)', '')}"
    ]
    test_rows = manifest.select("test")
    assert sorted((Path(r["image_path"]).name, r["label"]) for r in test_rows) == [
        ("abd2.png", "openI_abd_xray"), ("chest2.png", "openI_CXR")]
    assert manifest.classes == ["openI_CXR", "openI_abd_xray"]
    # The two films of one study share a patient.
    lateral = [r for r in manifest if r["image_path"].endswith("-3001.png")]
    frontal = [r for r in manifest if r["image_path"] == lateral[0]["image_path"].replace(
        "-3001", "-1001")]
    assert lateral[0]["patient_id"] == frontal[0]["patient_id"]
    for row in manifest:
        copy = manifest.resolve(row["image_path"])
        assert copy.is_file() and copy.parent.name == row["label"]
        assert copy.read_bytes() == next(p for p in sources if p.name == copy.name).read_bytes()
    assert validate_manifest(report.manifest_path).ok


def test_test_files_labelled_by_name_are_not_logged_as_skipped(src, tmp_path, caplog):
    # import_folder alone would call TEST/abd2.png "unlabelled"; the adapter labels it.
    with caplog.at_level(logging.WARNING):
        report = prepare("open-i", src, tmp_path / "out", quiet=True)
    assert "abd2.png" not in caplog.text and "unlabelled" not in caplog.text
    assert not any("unlabelled" in reason for _, reason in report.skipped)


def test_options_change_what_is_kept(src, tmp_path):
    plain = prepare("open-i", src, tmp_path / "a", quiet=True)
    unlabelled = prepare("open-i", src, tmp_path / "b", label_test_by_name=False, quiet=True)
    assert unlabelled.n_images == plain.n_images - 2
    assert sum("unlabelled" in reason for _, reason in unlabelled.skipped) == 2
    kept = prepare("open-i", src, tmp_path / "c", keep_duplicates=True, quiet=True)
    assert kept.n_images == plain.n_images + 1 and not kept.skipped
    assert not validate_manifest(kept.manifest_path).ok  # the duplicate is flagged


@pytest.mark.shared_data
def test_real_hello_world_data(tmp_path):
    if not REAL.is_dir():
        pytest.skip("real Open-I sample not available")
    report = prepare("open-i", REAL, tmp_path / "out", quiet=True)
    counts = report.split_label_counts()
    assert sum(n for (split, _), n in counts.items() if split == "train") == 65
    assert sum(n for (split, _), n in counts.items() if split == "val") == 9
    assert sum(n for (split, _), n in counts.items() if split == "test") == 2
    assert [Path(item).name for item, _ in report.skipped] == [
        "PMC2584007_1752-1947-2-335-2 (1).png"]
    assert validate_manifest(report.manifest_path).ok
