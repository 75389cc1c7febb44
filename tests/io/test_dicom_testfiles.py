"""Sweep over every file pydicom ships in data/test_files.

Files with pixel data must either decode to what pydicom itself gives (frame 0, Modality LUT,
luminance for colour, MONOCHROME1 inverted) or raise ImageReadError naming the file; every
other file must raise ImageReadError. Per-transfer-syntax minimum decode counts make sure the
pylibjpeg plugins are really installed and used.
"""

import collections
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom import uid
from pydicom.pixels import apply_color_lut, apply_modality_lut

from keras_mia.io import ImageReadError, read_image

# pydicom warns about the deliberately odd files it ships; that is not what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# Fewest files of each transfer syntax that must decode (counted in pydicom 3.0's test data);
# a missing pylibjpeg plugin drops its syntaxes to zero.
MIN_DECODED = {
    uid.ExplicitVRLittleEndian: 30,
    uid.ImplicitVRLittleEndian: 3,
    uid.ExplicitVRBigEndian: 5,
    uid.DeflatedExplicitVRLittleEndian: 1,
    uid.JPEGBaseline8Bit: 10,
    uid.JPEGExtended12Bit: 1,
    uid.JPEGLosslessSV1: 1,
    uid.JPEGLSLossless: 1,
    uid.JPEGLSNearLossless: 3,
    uid.JPEG2000Lossless: 3,
    uid.JPEG2000: 2,
    uid.RLELossless: 6,
}
LUMA = np.array([0.299, 0.587, 0.114])


def _load(path):
    try:
        return pydicom.dcmread(path, force=True, defer_size=1024)
    except Exception:
        return None


def _collect():
    pixel_files, other_files = [], []
    for path in sorted(p for p in TEST_FILES.rglob("*") if p.is_file()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = _load(path)
        has_pixels = ds is not None and any(k in ds for k in PIXEL_KEYWORDS)
        (pixel_files if has_pixels else other_files).append(path)
    return pixel_files, other_files


PIXEL_FILES, OTHER_FILES = _collect()


def _id(path):
    return path.relative_to(TEST_FILES).as_posix()


def _transfer_syntax(path):
    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    return getattr(ds, "file_meta", {}).get("TransferSyntaxUID")


def _reference(path):
    """pydicom's own answer: frame 0 after Modality LUT / palette / luminance / inversion."""
    ds = pydicom.dcmread(path, force=True)
    pixels = ds.pixel_array
    if int(ds.get("NumberOfFrames") or 1) > 1:
        pixels = pixels[0]
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
    if pixels.ndim == 3:
        return pixels[..., :3].astype(np.float64) @ LUMA
    image = apply_modality_lut(pixels, ds).astype(np.float64)
    if photometric == "MONOCHROME1":
        bits = int(ds.BitsStored)
        signed = ds.PixelRepresentation == 1
        ends = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        mapped = apply_modality_lut(np.array(ends, dtype=np.int64), ds)
        image = float(mapped.min()) + float(mapped.max()) - image
    return image


@pytest.fixture(scope="module")
def outcomes():
    """read_image's result for every pixel-data file, computed once per worker."""
    results = {}
    for path in PIXEL_FILES:
        try:
            results[path] = read_image(path)
        except ImageReadError as error:
            results[path] = error
    return results


def test_the_sweep_covers_pydicoms_test_files():
    # Guards against the collection silently finding nothing (e.g. a moved data folder).
    assert len(PIXEL_FILES) >= 80, len(PIXEL_FILES)
    assert len(OTHER_FILES) >= 50, len(OTHER_FILES)


@pytest.mark.parametrize("path", PIXEL_FILES, ids=_id)
def test_pixel_file_decodes_like_pydicom_or_raises_image_read_error(path, outcomes):
    result = outcomes[path]
    if isinstance(result, ImageReadError):
        assert result.path == str(path)
        assert path.name in str(result) and result.reason
        return
    expected = _reference(path)
    assert result.dtype == np.float32
    assert result.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("path", OTHER_FILES, ids=_id)
def test_file_without_pixel_data_raises_image_read_error(path):
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)
    assert path.name in str(info.value)


def test_every_compressed_transfer_syntax_family_decodes(outcomes):
    decoded = collections.Counter()
    raised = []
    for path, result in outcomes.items():
        if isinstance(result, ImageReadError):
            raised.append(f"{path.name}: {result.reason[:80]}")
        else:
            decoded[_transfer_syntax(path)] += 1
    summary = (
        f"{sum(decoded.values())} decoded, {len(raised)} raised ImageReadError: {raised}; "
        f"decoded per transfer syntax: { {u.name: n for u, n in decoded.items()} }"
    )
    for syntax, minimum in MIN_DECODED.items():
        assert decoded[syntax] >= minimum, (syntax.name, summary)
    # pydicom's own test data holds only a handful of deliberately broken files.
    assert len(raised) <= 8, summary


@pytest.mark.parametrize(
    "name, reason",
    [
        ("MR_truncated.dcm", "truncated"),
        ("rtplan.dcm", "no pixel data"),
        ("badVR.dcm", "Number of Frames"),
        ("zipMR.gz", "gzip"),
        ("README.txt", "not an image"),
    ],
)
def test_known_bad_files_give_the_right_reason(name, reason):
    with pytest.raises(ImageReadError, match=reason):
        read_image(TEST_FILES / name)


def test_multi_frame_file_returns_the_requested_frame():
    path = TEST_FILES / "rtdose.dcm"  # 15 frames, 32-bit
    frames = pydicom.dcmread(path).pixel_array
    np.testing.assert_allclose(read_image(path), frames[0], rtol=1e-6)
    np.testing.assert_allclose(read_image(path, frame=14), frames[14], rtol=1e-6)
    with pytest.raises(ImageReadError, match="frame 15 is out of range: the file has 15"):
        read_image(path, frame=15)


def test_monochrome1_file_is_inverted_so_that_high_is_bright():
    path = TEST_FILES / "dicomdirtests" / "77654033" / "CR1" / "6154"
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    stored = apply_modality_lut(ds.pixel_array, ds)
    image = read_image(path)
    # Inversion reverses the order of intensities and keeps the units (differences preserved).
    np.testing.assert_allclose(image - image.mean(), -(stored - stored.mean()), atol=1e-3)


def test_auto_window_uses_the_files_window(tmp_path):
    path = TEST_FILES / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 40, 400
    windowed_path = tmp_path / "ct_windowed.dcm"
    ds.save_as(windowed_path)
    image = read_image(windowed_path, window="auto")
    hu = apply_modality_lut(ds.pixel_array, ds)
    from pydicom.pixels import apply_voi_lut

    np.testing.assert_allclose(image, apply_voi_lut(hu, ds), rtol=1e-6, atol=1e-3)
    # Without window the values stay in Hounsfield units.
    np.testing.assert_allclose(read_image(windowed_path), hu, rtol=1e-6, atol=1e-3)
