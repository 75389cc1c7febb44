"""Tests for keras_mia.preprocessing.record: the preparation record from prepare to serving."""

import json

import numpy as np
import pytest

from keras_mia.preprocessing import (
    PREPARATION_FILE,
    MammogramPreparation,
    carry_preparation,
    find_preparation,
    prepare_mammogram,
    read_preparation,
    write_preparation,
)


def test_round_trip_and_apply(tmp_path):
    record = MammogramPreparation("64x48", "fit", False, "cbis_ddsm", "s10", 16)
    assert record.image_size == (64, 48) and record.kind == "patches"
    path = write_preparation(tmp_path, record)
    assert path == tmp_path / PREPARATION_FILE
    assert read_preparation(path) == record
    assert json.loads(path.read_text())["description"] == record.describe()
    image = np.random.default_rng(0).uniform(0, 4095, (120, 90))
    applied = record.apply(image, 4095.0)
    expected = prepare_mammogram(image, 4095.0, image_size=(64, 48), overflow="fit",
                                 segment=False)
    np.testing.assert_array_equal(applied.image, expected.image)


@pytest.mark.parametrize("change, message", [
    ({"format_version": 2}, "format_version must be 1"),
    ({"function": "my_own_preparation"}, "function must be"),
    ({"intensity": "per_image_minmax"}, "intensity must be"),
    ({"overflow": "stretch"}, "overflow must be one of"),
    ({"image_size": [0, 4]}, "image size must be two positive integers"),
    ({"segment": "yes"}, "segment must be true or false"),
    ({"patch_set": "s"}, "patch_set and patch_size go together"),
])
def test_records_this_version_cannot_apply_are_refused(tmp_path, change, message):
    data = {**MammogramPreparation().to_dict(), **change}
    (tmp_path / PREPARATION_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as caught:
        read_preparation(tmp_path / PREPARATION_FILE)
    assert "Received" in str(caught.value) and str(tmp_path) in str(caught.value)


def test_carry_copies_the_manifest_record_or_removes_a_stale_one(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    run.mkdir()
    manifest = data / "manifest.csv"
    manifest.write_text("image_path,label\n")
    assert find_preparation(manifest) is None
    (run / PREPARATION_FILE).write_text("{}")  # left by an earlier attempt
    assert carry_preparation(manifest, run) is None
    assert not (run / PREPARATION_FILE).exists()
    record = MammogramPreparation((96, 64), dataset="cbis_ddsm")
    write_preparation(data, record)
    assert find_preparation(manifest) == (record, data / PREPARATION_FILE)
    assert find_preparation(data) == (record, data / PREPARATION_FILE)
    assert carry_preparation(manifest, run) == record
    assert read_preparation(run / PREPARATION_FILE) == record


def test_a_relative_scale_record_round_trips_and_applies(tmp_path):
    from keras_mia.preprocessing import prepare_mammogram

    record = MammogramPreparation(None, "crop", True, "cbis_ddsm", scale=0.66)
    write_preparation(tmp_path, record)
    back = read_preparation(tmp_path / "preparation.json")
    assert back == record and back.to_dict()["image_size"] is None
    assert "0.66 of the source" in back.describe()
    image = np.random.default_rng(1).uniform(0, 4095, (90, 60)).astype(np.float32)
    np.testing.assert_array_equal(back.apply(image, 4095).image,
                                  prepare_mammogram(image, 4095, scale=0.66).image)
    with pytest.raises(ValueError, match="exclude each other"):
        MammogramPreparation((64, 64), scale=0.66)
