"""Tests for keras_mia.synth.breast_mri (DBC-like DICOM slice series)."""

from collections import defaultdict

import numpy as np
import pydicom
import pytest

from keras_mia.data.validate import validate_manifest
from keras_mia.synth import breast_mri

N, SIZE, SLICES, MARGIN = 5, 32, 12, 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("breast_mri")
    return breast_mri.generate(out, n=N, seed=0, image_size=SIZE, slices=SLICES, margin=MARGIN)


def test_every_slice_is_a_readable_mr_dicom(dataset):
    files = sorted(dataset.parent.rglob("*.dcm"))
    assert len(files) == N * SLICES
    by_patient = defaultdict(list)
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.Modality == "MR"
        assert ds.SeriesDescription == breast_mri.SERIES_DESCRIPTION == "ax dyn pre"
        assert ds.pixel_array.shape == (SIZE, SIZE) and ds.pixel_array.dtype == np.uint16
        assert float(ds.ImagePositionPatient[2]) == float(ds.SliceLocation)
        by_patient[ds.PatientID].append((int(ds.InstanceNumber), float(ds.SliceLocation),
                                         ds.SeriesInstanceUID, ds.SOPInstanceUID))
    assert len(by_patient) == N
    for series in by_patient.values():
        series.sort()
        assert [number for number, *_ in series] == list(range(1, SLICES + 1))
        assert np.all(np.diff([location for _, location, *_ in series]) > 0)
        assert len({uid for *_, uid, _ in series}) == 1
        assert len({sop for *_, sop in series}) == SLICES


def test_labels_follow_the_tumour_box_and_skip_its_border(dataset, read_rows):
    rows = read_rows(dataset)
    by_patient = defaultdict(dict)
    for row in rows:
        index = int(row["slice_index"])
        assert row["image_path"].endswith(f"1-{index + 1:03d}.dcm")
        by_patient[row["patient_id"]][index] = row["label"]
    assert len(by_patient) == N
    for labels in by_patient.values():
        positives = sorted(k for k, v in labels.items() if v == "positive")
        negatives = sorted(k for k, v in labels.items() if v == "negative")
        assert positives and negatives
        assert positives == list(range(positives[0], positives[-1] + 1))
        assert min(abs(n - p) for n in negatives for p in positives) > MARGIN
        # Exactly the slices within the margin of the box are left out.
        left_out = set(range(SLICES)) - set(labels)
        expected = {k for k in range(SLICES)
                    if 0 < min(abs(k - p) for p in positives) <= MARGIN}
        assert left_out == expected


def test_tumour_is_a_compact_bright_spot_inside_its_box():
    with_tumour, (first, last) = breast_mri.render_volume(np.random.default_rng(4), 16, 64, 64)
    without, box = breast_mri.render_volume(np.random.default_rng(4), 16, 64, 64, tumour=False)
    assert with_tumour.shape == (16, 64, 64) and box == (first, last)
    assert 0 <= first <= last < 16 and last - first in (2, 4, 6)
    changed = np.abs(with_tumour - without) > 1e-6
    slices_changed = np.flatnonzero(changed.any(axis=(1, 2)))
    assert slices_changed.tolist() == list(range(first, last + 1))
    centre = (first + last) // 2
    spot = changed[centre]
    assert 6 <= spot.sum() <= 0.1 * spot.size
    assert with_tumour[centre][spot].mean() > with_tumour[centre].mean() + 0.2


def test_splits_are_by_patient(dataset, read_rows):
    rows = read_rows(dataset)
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"]
        assert row["study_id"]
    assert set(split_of.values()) == {"train", "val", "test"}


def test_manifest_validates(dataset):
    report = validate_manifest(dataset, classes=breast_mri.LABELS)
    assert report.ok, report.problems


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path, tree_digest):
    kwargs = dict(n=N, image_size=SIZE, slices=SLICES, margin=MARGIN)
    again = breast_mri.generate(tmp_path / "again", seed=0, **kwargs)
    other = breast_mri.generate(tmp_path / "other", seed=1, **kwargs)
    assert tree_digest(again.parent) == tree_digest(dataset.parent)
    assert tree_digest(other.parent) != tree_digest(dataset.parent)


def test_mean_intensity_alone_does_not_separate_classes(tmp_path, mean_only_accuracy):
    manifest = breast_mri.generate(tmp_path / "mri", n=10, seed=2, image_size=SIZE, slices=SLICES)
    assert mean_only_accuracy(manifest) < 0.8


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n=2"):
        breast_mri.generate(tmp_path / "a", n=2)
    with pytest.raises(ValueError, match="slices=8, margin=2"):
        breast_mri.generate(tmp_path / "b", n=3, slices=8)
