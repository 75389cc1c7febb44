import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from keras_mia.io.intensity import apply_linear_window, invert_in_range, luminance


def test_luminance_uses_bt601_weights_and_ignores_alpha():
    rgba = np.array([[[255, 0, 0, 7], [0, 255, 0, 7], [0, 0, 255, 7], [10, 20, 30, 255]]])
    gray = luminance(rgba)
    np.testing.assert_allclose(gray, [[76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 + 3.42]])


def test_luminance_of_gray_pixels_is_the_gray_value():
    values = np.arange(0, 65536, 257, dtype=np.uint16)
    rgb = np.stack([values] * 3, axis=-1)[None]
    np.testing.assert_array_equal(luminance(rgb).astype(np.float32)[0], values)


def test_luminance_rejects_single_channel():
    with pytest.raises(ValueError, match="shape"):
        luminance(np.zeros((4, 4)))


@pytest.mark.parametrize(
    "center, width, bits, signed, slope, intercept",
    [
        (40.0, 400.0, 12, 1, 1.0, -1024.0),
        (2000.0, 1000.0, 16, 0, 1.0, 0.0),
        (0.5, 0.25, 8, 0, 0.01, 0.0),
    ],
)
def test_linear_window_matches_pydicom_linear_exact(center, width, bits, signed, slope, intercept):
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = bits
    ds.PixelRepresentation = signed
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.WindowCenter = center
    ds.WindowWidth = width
    ds.VOILUTFunction = "LINEAR_EXACT"
    lo = -(2 ** (bits - 1)) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    out_range = (lo * slope + intercept, hi * slope + intercept)
    values = np.linspace(*out_range, 997)
    expected = apply_windowing(values.copy(), ds)
    got = apply_linear_window(values, center, width, out_range)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_invert_in_range_swaps_the_ends():
    image = np.array([-1024.0, 0.0, 3071.0])
    inverted = invert_in_range(image, (3071.0, -1024.0))
    np.testing.assert_array_equal(inverted, [3071.0, 2047.0, -1024.0])
