"""Tests for keras_mia.synth.hello_world (chest vs abdomen radiographs)."""

from pathlib import Path

import numpy as np
import pytest

from keras_mia.data.validate import validate_manifest
from keras_mia.synth import hello_world

N, SIZE = 36, 32


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("hello_world")
    return hello_world.generate(out, n=N, seed=0, image_size=SIZE)


def test_writes_the_real_folder_layout(dataset, read_rows, read_pixels):
    rows = read_rows(dataset)
    assert len(rows) == N
    folders = {"train": "TRAIN", "val": "VAL", "test": "TEST"}
    for row in rows:
        split_folder, class_folder, name = Path(row["image_path"]).parts
        assert split_folder == folders[row["split"]]
        assert class_folder == row["label"] and name.endswith(".png")
        pixels = read_pixels(dataset.parent / row["image_path"])
        assert pixels.dtype == np.uint8 and pixels.shape == (SIZE, SIZE)
    assert {row["label"] for row in rows} == set(hello_world.CLASSES)
    # Classes are balanced; some images are inverted, as in the real set.
    labels = [row["label"] for row in rows]
    assert labels.count("openI_CXR") == labels.count("openI_abd_xray") == N // 2
    assert any(row["image_path"].endswith("_invert.png") for row in rows)


def test_splits_are_by_patient_and_hold_both_classes(dataset, read_rows):
    rows = read_rows(dataset)
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"]
    for split in ("train", "val", "test"):
        assert {r["label"] for r in rows if r["split"] == split} == set(hello_world.CLASSES)
    train = sum(r["split"] == "train" for r in rows)
    assert 0.55 * N <= train <= 0.85 * N


def test_manifest_validates(dataset):
    report = validate_manifest(dataset, classes=hello_world.CLASSES)
    assert report.ok, report.problems


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path, tree_digest):
    again = hello_world.generate(tmp_path / "again", n=N, seed=0, image_size=SIZE)
    other = hello_world.generate(tmp_path / "other", n=N, seed=1, image_size=SIZE)
    assert tree_digest(again.parent) == tree_digest(dataset.parent)
    assert tree_digest(other.parent) != tree_digest(dataset.parent)


def test_mean_intensity_alone_does_not_separate_classes(tmp_path, mean_only_accuracy):
    manifest = hello_world.generate(tmp_path / "hw", n=80, seed=3, image_size=SIZE)
    assert mean_only_accuracy(manifest) < 0.8


def test_render_functions_differ_where_the_lungs_are():
    # Chest films are dark (air) in the lung fields, abdomen films are not.
    chest = np.mean([hello_world.render_chest(np.random.default_rng(s), 64) for s in range(6)], 0)
    abdomen = np.mean([hello_world.render_abdomen(np.random.default_rng(s), 64)
                       for s in range(6)], 0)
    lung_field = (slice(20, 36), slice(8, 20))
    assert chest[lung_field].mean() < abdomen[lung_field].mean() - 0.1


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n=4"):
        hello_world.generate(tmp_path / "a", n=4)
    with pytest.raises(ValueError, match="square"):
        hello_world.generate(tmp_path / "b", n=12, image_size=(32, 48))
