"""Tests for keras_mia.synth.mammo_patch (Shen's five-class patch set S)."""

from pathlib import Path

import numpy as np
import pytest

from keras_mia.data.validate import validate_manifest
from keras_mia.synth import mammo_patch

N, PATCH = 24, 16


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("mammo_patch")
    return mammo_patch.generate(out, n=N, seed=0, image_size=PATCH)


def test_class_names_sort_into_shen_order():
    assert sorted(mammo_patch.PATCH_CLASSES) == list(mammo_patch.PATCH_CLASSES)
    assert [int(name.split("_")[0]) for name in mammo_patch.PATCH_CLASSES] == [0, 1, 2, 3, 4]
    assert mammo_patch.patch_label("none", "normal") == "0_background"
    assert mammo_patch.patch_label("calcification", "malignant") == "1_malignant_calcification"
    assert mammo_patch.patch_label("calcification", "benign") == "2_benign_calcification"
    assert mammo_patch.patch_label("mass", "malignant") == "3_malignant_mass"
    assert mammo_patch.patch_label("mass", "benign") == "4_benign_mass"
    with pytest.raises(ValueError, match="'cyst'"):
        mammo_patch.patch_label("cyst", "benign")


def test_one_background_and_one_patch_per_roi_per_image(dataset, read_rows, read_pixels):
    rows = read_rows(dataset)
    per_image = {}
    for row in rows:
        split, label, name = Path(row["image_path"]).parts
        assert split == row["split"] and label == row["label"]
        image, kind = name[: -len(".png")].rsplit("_", 1)
        per_image.setdefault(image, []).append((kind, row))
        pixels = read_pixels(dataset.parent / row["image_path"])
        assert pixels.shape == (PATCH, PATCH) and pixels.dtype == np.uint16
        assert (row["label"] == "0_background") == (row["abnormality"] == "none")
    assert len(per_image) == N
    for patches in per_image.values():
        kinds = sorted(kind for kind, _ in patches)
        assert kinds[0] == "bkg" and kinds[1:] in (["roi1"], ["roi1", "roi2"])
        lesion_labels = {row["label"] for kind, row in patches if kind != "bkg"}
        assert len(lesion_labels) == 1  # all ROIs of an image share its finding
    assert max(int(read_pixels(dataset.parent / r["image_path"]).max()) for r in rows) > 255


def test_every_class_in_every_split_and_patients_not_shared(dataset, read_rows):
    rows = read_rows(dataset)
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"]
    for split in ("train", "val", "test"):
        assert {r["label"] for r in rows if r["split"] == split} == set(
            mammo_patch.PATCH_CLASSES
        )


def test_background_window_avoids_rois_and_starts_in_the_breast():
    rng = np.random.default_rng(0)
    breast = np.zeros((60, 50), dtype=bool)
    breast[10:50, 5:45] = True
    rois = np.zeros_like(breast)
    rois[20:40, 15:35] = True
    for _ in range(20):
        top, left = mammo_patch._background_window(rng, breast, rois, 12)
        assert 0 <= top <= 48 and 0 <= left <= 38
        assert not rois[top:top + 12, left:left + 12].any()
    # No room at all: None, which generate() reports as a skipped patch.
    assert mammo_patch._background_window(rng, breast, np.ones_like(breast), 12) is None


def test_manifest_validates(dataset):
    report = validate_manifest(dataset, classes=mammo_patch.PATCH_CLASSES)
    assert report.ok, report.problems


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path, tree_digest):
    again = mammo_patch.generate(tmp_path / "again", n=N, seed=0, image_size=PATCH)
    other = mammo_patch.generate(tmp_path / "other", n=N, seed=1, image_size=PATCH)
    assert tree_digest(again.parent) == tree_digest(dataset.parent)
    assert tree_digest(other.parent) != tree_digest(dataset.parent)


def test_mean_intensity_alone_does_not_separate_classes(dataset, mean_only_accuracy):
    assert mean_only_accuracy(dataset) < 0.8


def test_source_size_keeps_shen_ratio_and_bad_sizes_fail(tmp_path):
    assert mammo_patch.source_size(64) == (288, 224)
    assert mammo_patch.source_size(224) == (1008, 784)
    with pytest.raises(ValueError, match="square"):
        mammo_patch.generate(tmp_path / "a", n=N, image_size=(16, 32))
    with pytest.raises(ValueError, match="n=10"):
        mammo_patch.generate(tmp_path / "b", n=10)
