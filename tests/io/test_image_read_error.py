import pickle
from pathlib import Path

import pytest

from keras_mia.io import ImageReadError


def test_message_names_file_and_reason():
    error = ImageReadError(Path("/data/scan 1.dcm"), "truncated: pixel data is incomplete")
    assert isinstance(error, ValueError)
    assert error.path == "/data/scan 1.dcm"
    assert error.reason == "truncated: pixel data is incomplete"
    assert "/data/scan 1.dcm" in str(error)
    assert "truncated: pixel data is incomplete" in str(error)


def test_survives_pickling_with_its_attributes():
    # tf.data / multiprocessing workers send exceptions across process boundaries.
    error = pickle.loads(pickle.dumps(ImageReadError("a.png", "file not found")))
    assert isinstance(error, ImageReadError)
    assert (error.path, error.reason) == ("a.png", "file not found")
    assert str(error) == str(ImageReadError("a.png", "file not found"))


def test_can_be_caught_as_value_error():
    with pytest.raises(ValueError, match="b.png"):
        raise ImageReadError("b.png", "not an image")
