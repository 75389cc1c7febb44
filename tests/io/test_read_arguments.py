import numpy as np
import pytest

from keras_mia.io import ImageReadError
from keras_mia.io.arguments import frame_index, normalize_frame, normalize_window


@pytest.mark.parametrize("frame", [None, 0, 3, np.int64(2)])
def test_normalize_frame_accepts_none_and_non_negative_ints(frame):
    result = normalize_frame(frame)
    assert result == (None if frame is None else int(frame))


@pytest.mark.parametrize(
    "frame, error", [(-1, ValueError), (1.0, TypeError), ("0", TypeError), (True, TypeError)]
)
def test_normalize_frame_rejects_bad_values(frame, error):
    with pytest.raises(error, match="frame"):
        normalize_frame(frame)


def test_frame_index_defaults_to_first_frame_and_checks_range():
    assert frame_index(None, 1, "x.dcm") == 0
    assert frame_index(4, 5, "x.dcm") == 4
    with pytest.raises(ImageReadError, match=r"x\.dcm.*frame 5 is out of range.*5 frame"):
        frame_index(5, 5, "x.dcm")


@pytest.mark.parametrize(
    "window, expected",
    [
        (None, None),
        (False, None),
        (True, "auto"),
        ("auto", "auto"),
        ("AUTO", "auto"),
        ((40, 400), (40.0, 400.0)),
        ([-600.5, 1500], (-600.5, 1500.0)),
    ],
)
def test_normalize_window(window, expected):
    assert normalize_window(window) == expected


@pytest.mark.parametrize(
    "window", ["lung", (40,), (40, 0), (40, -5), (40, float("nan")), (True, 3), 40, (1, 2, 3)]
)
def test_normalize_window_rejects_bad_values(window):
    with pytest.raises(ValueError, match="window"):
        normalize_window(window)
