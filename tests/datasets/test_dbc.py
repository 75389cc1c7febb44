"""Tests for keras_mia.datasets.dbc (Duke Breast Cancer MRI)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_mia.data.manifest import Manifest
from keras_mia.data.validate import validate_manifest
from keras_mia.datasets import prepare
from keras_mia.datasets.dbc import is_pre_contrast_fat_sat, label_slices, read_annotation_boxes
from keras_mia.datasets.report import PrepareReport
from keras_mia.synth.raw import generate_raw

REAL_BOXES = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "metadata"
    / "Annotation_Boxes.csv"
)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return generate_raw(
        "dbc", tmp_path_factory.mktemp("raw") / "dbc", n=3, seed=0, image_size=32, slices=24
    )


@pytest.mark.parametrize(
    "description",
    ["ax dyn pre", "ax 3d dyn pre", "t1_fl3d_tra_dynVIEW_pre", "Ax 3D Dyn Pre FS", "AX T1 PRE FS",
     "ax vibrant pre-contrast"],
)
def test_pre_contrast_fat_sat_names(description):
    assert is_pre_contrast_fat_sat(description)


@pytest.mark.parametrize(
    "description",
    ["ax dyn 1st pass", "ax 3d dyn 2nd pass", "t1_fl3d_tra_dynVIEW_post_1", "ax t1",
     "ax t1 pre non fs", "t1_fl3d_tra_nonfs_pre", "Ax Vibrant MultiPhase", "ax dyn pre sub",
     "ax dyn pre ph2", "Ax 3D Dyn Pre FS +C"],
)
def test_other_series_names(description):
    assert not is_pre_contrast_fat_sat(description)


def test_label_slices():
    positives, negatives = label_slices(30, 10, 14, 3)
    assert positives == [10, 11, 12, 13, 14]
    assert negatives == [1, 2, 3, 4, 5, 6, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]


def test_read_annotation_boxes_problems(tmp_path):
    path = tmp_path / "Annotation_Boxes.csv"
    path.write_bytes(
        b"Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice\r\n"
        b"Breast_MRI_001,1,2,3,4,5,6\r\nBreast_MRI_002,1,2,3,4,9,6\r\nBreast_MRI_003,x,2,3,4,5,6"
        b"\r\nBreast_MRI_001,1,2,3,4,5,6\r\n"
    )
    report = PrepareReport("dbc", tmp_path, tmp_path)
    boxes = read_annotation_boxes(path, report)
    assert list(boxes) == ["Breast_MRI_001"] and boxes["Breast_MRI_001"].end_slice == 6
    reasons = [reason for _, reason in report.skipped]
    assert "start <= end" in reasons[0] and "six integers" in reasons[1]
    assert "second row" in reasons[2]
    with pytest.raises(ValueError, match="line 3"):
        read_annotation_boxes(path)
    (tmp_path / "bad.csv").write_text("Patient,Start\n")
    with pytest.raises(ValueError, match="missing column"):
        read_annotation_boxes(tmp_path / "bad.csv")


@pytest.mark.shared_data
def test_real_annotation_boxes():
    if not REAL_BOXES.is_file():
        pytest.skip("real Annotation_Boxes.csv not available")
    assert REAL_BOXES.read_bytes().count(b"\r\n") == 923  # CRLF, as published
    boxes = read_annotation_boxes(REAL_BOXES)
    assert len(boxes) == 922
    first = boxes["Breast_MRI_001"]
    assert (first.start_row, first.end_row, first.start_column, first.end_column,
            first.start_slice, first.end_slice) == (234, 271, 308, 341, 89, 112)
    positives, negatives = label_slices(160, first.start_slice, first.end_slice, 10)
    assert positives[0] == 89 and positives[-1] == 112 and len(positives) == 24
    assert max(k for k in negatives if k < 89) == 78 and min(k for k in negatives if k > 112) == 123


def _box_brightness(manifest, boxes, row):
    box = boxes[row["patient_id"]]
    image = np.asarray(Image.open(manifest.resolve(row["image_path"])), dtype=np.float64)
    return image[box.start_row - 1 : box.end_row, box.start_column - 1 : box.end_column].mean()


def test_end_to_end_on_the_synthetic_layout(src, tmp_path):
    report = prepare("dbc", src, tmp_path / "out", negative_distance=3, quiet=True)
    manifest = Manifest.load(report.manifest_path)
    boxes = read_annotation_boxes(src / "Annotation_Boxes.csv")
    skipped = dict(report.skipped)
    assert "Breast_MRI_003" in skipped and "Ax Vibrant MultiPhase" in skipped["Breast_MRI_003"]
    assert any("no images under SRC" in reason for reason in skipped.values())
    assert {r["patient_id"] for r in manifest} == {"Breast_MRI_001", "Breast_MRI_002"}
    for patient in ("Breast_MRI_001", "Breast_MRI_002"):
        rows = [r for r in manifest if r["patient_id"] == patient]
        box = boxes[patient]
        pos = [r for r in rows if r["label"] == "positive"]
        neg = [r for r in rows if r["label"] == "negative"]
        assert len(pos) == len(neg) == box.end_slice - box.start_slice + 1
        assert all(box.start_slice <= int(r["slice_index"]) <= box.end_slice for r in pos)
        assert all(
            not box.start_slice - 3 <= int(r["slice_index"]) <= box.end_slice + 3 for r in neg
        )
        # The tumour (bright in the pre-contrast series) is in every positive slice, also for
        # Breast_MRI_002, whose InstanceNumber runs against the slice position.
        assert min(_box_brightness(manifest, boxes, r) for r in pos) > max(
            _box_brightness(manifest, boxes, r) for r in neg)
        image = np.asarray(Image.open(manifest.resolve(rows[0]["image_path"])))
        assert image.dtype == np.uint8 and image.min() == 0 and image.max() == 255
    assert len({r["split"] for r in manifest}) == 2  # two patients: two splits
    assert validate_manifest(report.manifest_path).ok


def _pre_series_slice(src, patient, instance):
    """The min-max normalised pixels of one slice of a patient's pre-contrast series."""
    from keras_mia.datasets._common import to_uint8_minmax
    from keras_mia.io import read_image

    (path,) = src.glob(f"Duke-Breast-Cancer-MRI/{patient}/*/*pre*/1-{instance:02d}.dcm")
    return to_uint8_minmax(read_image(path))


@pytest.mark.parametrize("slice_order", ["instance", "position"])
def test_slice_numbers_follow_the_chosen_order(src, tmp_path, slice_order):
    report = prepare(
        "dbc", src, tmp_path / "out", negative_distance=3, slice_order=slice_order, quiet=True
    )
    manifest = Manifest.load(report.manifest_path)
    for row in manifest:
        k = int(row["slice_index"])
        # Breast_MRI_002's InstanceNumber runs against its slice position (24 slices).
        mirrored = slice_order == "position" and row["patient_id"] == "Breast_MRI_002"
        expected = _pre_series_slice(src, row["patient_id"], 25 - k if mirrored else k)
        np.testing.assert_array_equal(
            np.asarray(Image.open(manifest.resolve(row["image_path"]))), expected
        )


def test_series_pattern_and_options(src, tmp_path):
    report = prepare(
        "dbc", src, tmp_path / "out", series_pattern=r"vibrant", negative_distance=3,
        negatives_per_positive=0.5, quiet=True,
    )
    assert {r["patient_id"] for r in report.rows} == {"Breast_MRI_003"}
    labels = report.label_counts()
    assert labels["negative"] == round(labels["positive"] * 0.5)
    assert "series_pattern 'vibrant'" in dict(report.skipped)["Breast_MRI_001"]
    capped = prepare("dbc", src, tmp_path / "capped", negative_distance=3, max_per_class=3,
                     quiet=True)
    assert capped.label_counts() == {"positive": 3, "negative": 3}
    assert {r["patient_id"] for r in capped.rows} == {"Breast_MRI_001"}
    assert "max_per_class=3 reached" in dict(capped.skipped)["Breast_MRI_002"]
    with pytest.raises(ValueError, match="slice_order"):
        prepare("dbc", src, tmp_path / "o2", slice_order="z", quiet=True)
    with pytest.raises(ValueError, match="series_pattern"):
        prepare("dbc", src, tmp_path / "o3", series_pattern="(", quiet=True)
