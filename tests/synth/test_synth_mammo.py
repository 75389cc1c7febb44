"""Tests for keras_mia.synth.mammo (whole mammograms with masks)."""

import numpy as np
import pydicom
import pytest

from keras_mia.data.validate import validate_manifest
from keras_mia.synth import mammo
from keras_mia.synth.shapes import gaussian_blur

N, SIZE = 30, (80, 64)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("mammo")
    return mammo.generate(out, n=N, seed=0, image_size=SIZE, dicom_every=4)


def test_images_are_16_bit_png_or_dicom_mg(dataset, read_rows, read_pixels):
    rows = read_rows(dataset)
    assert len(rows) == N
    suffixes = [row["image_path"].rsplit(".", 1)[1] for row in rows]
    assert suffixes.count("dcm") == N // 4 and suffixes.count("png") == N - N // 4
    photometrics = set()
    for row in rows:
        path = dataset.parent / row["image_path"]
        pixels = read_pixels(path)
        assert pixels.dtype == np.uint16 and pixels.shape == SIZE
        assert pixels.max() > 255
        if path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            assert ds.Modality == "MG" and ds.ImageLaterality == row["laterality"]
            assert ds.ViewPosition == row["view"]
            photometrics.add(ds.PhotometricInterpretation)
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"}


def test_masks_match_images_and_are_empty_exactly_for_normals(dataset, read_rows, read_pixels):
    for row in read_rows(dataset):
        mask = read_pixels(dataset.parent / row["mask_path"])
        assert mask.dtype == np.uint8 and mask.shape == SIZE
        assert set(np.unique(mask)) <= {0, 255}
        assert (mask.max() > 0) == (row["label"] != "normal")
        assert (row["abnormality"] == "none") == (row["label"] == "normal")
        assert row["pathology"] == row["label"]


def test_columns_and_patient_level_splits(dataset, read_rows):
    rows = read_rows(dataset)
    assert list(rows[0]) == ["image_path", "label", "patient_id", "split", "mask_path", "view",
                             "laterality", "abnormality", "pathology", "dataset"]
    split_of, views = {}, {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"]
        views.setdefault(row["patient_id"], []).append((row["view"], row["laterality"]))
    assert all(sorted(v) in ([("CC", lat), ("MLO", lat)] for lat in "LR") for v in views.values())
    for split in ("train", "val", "test"):
        assert {r["label"] for r in rows if r["split"] == split} == {"normal", "benign",
                                                                     "malignant"}
    kinds = {(r["abnormality"], r["label"]) for r in rows if r["split"] == "train"}
    assert kinds == set(mammo.FINDINGS.values())


def test_manifest_validates(dataset):
    report = validate_manifest(dataset, classes=["normal", "benign", "malignant"])
    assert report.ok, report.problems


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path, tree_digest):
    again = mammo.generate(tmp_path / "again", n=N, seed=0, image_size=SIZE, dicom_every=4)
    other = mammo.generate(tmp_path / "other", n=N, seed=1, image_size=SIZE, dicom_every=4)
    assert tree_digest(again.parent) == tree_digest(dataset.parent)
    assert tree_digest(other.parent) != tree_digest(dataset.parent)


def test_mean_intensity_alone_does_not_separate_labels(tmp_path, mean_only_accuracy):
    manifest = mammo.generate(tmp_path / "m", n=40, seed=2, image_size=SIZE, dicom_every=0)
    assert mean_only_accuracy(manifest) < 0.8


@pytest.mark.parametrize("laterality", ["L", "R"])
@pytest.mark.parametrize("view", ["CC", "MLO"])
def test_render_puts_the_label_outside_the_breast_and_lesions_inside(laterality, view):
    rng = np.random.default_rng(7)
    image = mammo.render_mammogram(rng, 288, 224, laterality, view, "mass_malignant")
    assert image.image.shape == image.breast.shape == (288, 224)
    assert 0.0 <= image.image.min() and image.image.max() <= 1.0
    # Chest wall on the image's left for left breasts, on the right for right breasts.
    column_share = image.breast.mean(axis=0)
    assert (column_share[:20].mean() > column_share[-20:].mean()) == (laterality == "L")
    (roi,) = image.rois
    assert roi.mask.any() and not (roi.mask & ~image.breast).any()
    # The burned-in text is the brightest thing away from the breast.
    away = gaussian_blur(image.breast.astype(np.float32), 2.0) <= 0.01
    assert image.image[away].max() >= 0.8
    assert (image.image[away] > 0.5).sum() >= 10


def test_malignant_calcifications_are_more_and_smaller_specks():
    def speck_stats(malignant):
        peaks, areas = [], []
        for seed in range(8):
            specks, mask = mammo._calcifications(
                np.random.default_rng(seed), (120, 100), 60.0, 50.0, 1.0, malignant
            )
            top = specks.max()
            # Every speck lies inside the ROI drawn around the cluster.
            assert not ((specks > 0.05 * top) & ~mask).any()
            padded = np.pad(specks, 1)
            neighbours = np.stack([padded[1 + dy:121 + dy, 1 + dx:101 + dx]
                                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
            count = ((specks >= neighbours.max(0)) & (specks > 0.3 * top)).sum()
            peaks.append(count)
            areas.append((specks > 0.5 * top).sum() / count)
        return np.mean(peaks), np.mean(areas)

    benign_peaks, benign_area = speck_stats(False)
    malignant_peaks, malignant_area = speck_stats(True)
    # Malignant specks crowd along branches (some merge), so count fewer than drawn.
    assert malignant_peaks > 1.2 * benign_peaks
    assert malignant_area < 0.7 * benign_area


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n=10"):
        mammo.generate(tmp_path / "a", n=10)
    with pytest.raises(ValueError, match="image_size"):
        mammo.generate(tmp_path / "b", n=30, image_size=(40, 30))
    with pytest.raises(ValueError, match="finding='cyst'"):
        mammo.render_mammogram(np.random.default_rng(0), 96, 80, "L", "CC", "cyst")
    assert mammo.parse_mammo_size(1152) == (1152, 896)
