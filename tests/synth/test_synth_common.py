"""Tests for keras_mia.synth.common: sizes, splits, manifest CSV, reproducible files."""

import csv

import numpy as np
import pydicom
import pytest
from PIL import Image

from keras_mia.data.schema import ALL_COLUMNS
from keras_mia.synth import common


def test_parse_size_forms_and_errors():
    assert common.parse_size(None, (10, 20)) == (10, 20)
    assert common.parse_size(32, (10, 20)) == (32, 32)
    assert common.parse_size((40, 30), (10, 20)) == (40, 30)
    with pytest.raises(ValueError, match="image_size='big'"):
        common.parse_size("big", (1, 1))
    with pytest.raises(ValueError, match="positive"):
        common.parse_size((0, 4), (1, 1))


@pytest.mark.parametrize("n", [3, 4, 7, 10, 20, 101])
def test_split_counts_sum_and_non_empty(n):
    train, val, test = common.split_counts(n)
    assert train + val + test == n
    assert min(train, val, test) >= 1
    assert train >= max(val, test)


def test_split_counts_near_70_15_15():
    assert common.split_counts(100) == (70, 15, 15)
    assert common.split_counts(2) == (2, 0, 0)


def test_assign_splits_stratified_deterministic_and_complete():
    strata = {f"P{i:03d}": "abc"[i % 3] for i in range(30)}
    first = common.assign_splits(strata, np.random.default_rng(5))
    again = common.assign_splits(strata, np.random.default_rng(5))
    other = common.assign_splits(strata, np.random.default_rng(6))
    assert first == again
    assert first != other
    assert set(first) == set(strata)
    for key in "abc":
        seen = {first[p] for p, k in strata.items() if k == key}
        assert seen == {"train", "val", "test"}


def test_assign_splits_small_strata_keep_one_patient_in_train():
    strata = {"A1": "a", "B1": "b", "B2": "b", "C1": "c", "C2": "c"}
    splits = common.assign_splits(strata, np.random.default_rng(0))
    for key in "abc":
        assert "train" in {splits[p] for p, k in strata.items() if k == key}
    # The two second patients go one to val, one to test.
    assert sorted(splits.values()) == ["test", "train", "train", "train", "val"]


def test_write_manifest_csv_orders_columns_by_schema(tmp_path):
    rows = [
        {"dataset": "d", "label": "x", "image_path": "a.png", "patient_id": "p", "split": "train"},
        {"label": "y", "image_path": "b.png", "patient_id": "q", "split": "test"},
    ]
    path = common.write_manifest_csv(tmp_path / "m.csv", rows)
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    used = {"dataset", "label", "image_path", "patient_id", "split"}
    assert header == [c for c in ALL_COLUMNS if c in used]
    assert body[1][header.index("dataset")] == ""
    with pytest.raises(ValueError, match="colour"):
        common.write_manifest_csv(tmp_path / "bad.csv", [{"colour": "red"}])


def test_prepare_out_dir_refuses_non_empty_folder(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        common.prepare_out_dir(tmp_path, overwrite=False)
    assert common.prepare_out_dir(tmp_path, overwrite=True) == tmp_path
    assert common.prepare_out_dir(tmp_path / "new" / "deep", overwrite=False).is_dir()


def test_write_png_gray_keeps_16_bits(tmp_path):
    pixels = np.array([[0, 255, 256], [1000, 40000, 65535]], dtype=np.uint16)
    path = common.write_png_gray(tmp_path / "a.png", pixels, 16)
    with Image.open(path) as image:
        back = np.asarray(image)
    np.testing.assert_array_equal(back, pixels)
    with pytest.raises(ValueError, match="bit_depth=12"):
        common.write_png_gray(tmp_path / "b.png", pixels, 12)


def test_write_dicom_reproducible_is_byte_identical(tmp_path):
    image = np.arange(64, dtype=np.uint16).reshape(8, 8) * 900
    kwargs = dict(modality="MR", patient_id="P1", study_uid=common.synthetic_uid("s"),
                  series_uid=common.synthetic_uid("t"), series_description="ax dyn pre")
    uid = common.synthetic_uid("test", 1)
    first = common.write_dicom_reproducible(tmp_path / "a.dcm", image, sop_uid=uid, **kwargs)
    second = common.write_dicom_reproducible(tmp_path / "b.dcm", image, sop_uid=uid, **kwargs)
    assert first.read_bytes() == second.read_bytes()
    ds = pydicom.dcmread(first)
    assert ds.SOPInstanceUID == uid == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.StudyDate == common.STUDY_DATE
    np.testing.assert_array_equal(ds.pixel_array, image)
    assert common.synthetic_uid("test", 1) != common.synthetic_uid("test", 2)
