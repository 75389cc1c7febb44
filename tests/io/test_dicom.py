"""DICOM reading on synthetic files whose expected values are known exactly."""

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_voi_lut, convert_color_space
from pydicom.sequence import Sequence

from keras_mia.io import ImageReadError, detect_format, read_image, write_dicom
from keras_mia.io.dicom import read_dicom

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _ramp(shape=(64, 64), top=4095, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, top + 1, size=shape).astype(dtype)


def _dataset(pixels, photometric="MONOCHROME2", bits_stored=None, **attributes):
    """A minimal secondary-capture data set holding ``pixels`` (frames first if 3-D gray)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.SOPClassUID = uid.SecondaryCaptureImageStorage
    ds.Modality = "OT"
    bits = bits_stored or pixels.dtype.itemsize * 8
    ds.set_pixel_data(pixels, photometric, bits)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def _save(ds, path, syntax=None):
    if syntax is not None and syntax != ds.file_meta.TransferSyntaxUID:
        ds.compress(syntax)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_rescale_gives_original_units(tmp_path):
    stored = _ramp()
    path = write_dicom(tmp_path / "ct.dcm", stored, rescale_slope=0.5, rescale_intercept=-1024)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == stored.shape
    np.testing.assert_array_equal(image, stored * 0.5 - 1024)


def test_uint8_without_rescale_is_returned_as_stored(tmp_path):
    stored = _ramp(top=255, dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_dicom(tmp_path / "a.dcm", stored)), stored)


@pytest.mark.parametrize(
    "dtype, slope, intercept",
    [(np.uint16, None, None), (np.uint8, None, None), (np.uint16, 2.0, -1000.0)],
)
def test_monochrome1_is_inverted_within_the_representable_range(tmp_path, dtype, slope, intercept):
    top = np.iinfo(dtype).max
    stored = _ramp(top=top, dtype=dtype)
    path = write_dicom(
        tmp_path / "m1.dcm",
        stored,
        photometric="MONOCHROME1",
        rescale_slope=slope,
        rescale_intercept=intercept,
    )
    s, b = (1.0, 0.0) if slope is None else (slope, intercept)
    # Flipping the stored values within their bit range, then rescaling.
    expected = s * (top - stored.astype(np.float64)) + b
    np.testing.assert_allclose(read_image(path), expected, rtol=1e-7)


def test_monochrome1_with_bits_stored_and_signed_pixels(tmp_path):
    twelve_bit = _ramp(top=4095)
    path = _save(_dataset(twelve_bit, "MONOCHROME1", bits_stored=12), tmp_path / "12.dcm")
    np.testing.assert_array_equal(read_image(path), 4095 - twelve_bit.astype(np.float64))

    signed = (_ramp(top=4095).astype(np.int32) - 2048).astype(np.int16)
    path = _save(_dataset(signed, "MONOCHROME1", bits_stored=12), tmp_path / "s.dcm")
    assert pydicom.dcmread(path).PixelRepresentation == 1
    # Range -2048..2047, so lo + hi = -1.
    np.testing.assert_array_equal(read_image(path), -1.0 - signed)


def test_user_window_maps_onto_the_representable_range(tmp_path):
    stored = _ramp()
    path = write_dicom(tmp_path / "ct.dcm", stored, rescale_slope=1.0, rescale_intercept=-1024)
    hu = stored - 1024.0
    lo, hi = -1024.0, 65535 - 1024.0
    expected = np.clip((hu - (40 - 200)) / 400, 0, 1) * (hi - lo) + lo
    np.testing.assert_allclose(read_image(path, window=(40, 400)), expected, rtol=1e-6)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_auto_window_applies_the_files_window(tmp_path, photometric):
    stored = _ramp()
    path = write_dicom(
        tmp_path / "w.dcm",
        stored,
        photometric=photometric,
        rescale_slope=1.0,
        rescale_intercept=-1024,
        extra={"WindowCenter": 300, "WindowWidth": 1500},
    )
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds)
    windowed = apply_voi_lut(hu.copy(), ds)
    if photometric == "MONOCHROME1":
        # Both windowing and inversion live in the rescaled range -1024 .. 65535 - 1024.
        windowed = (-1024.0 + 65535 - 1024.0) - windowed
        hu = (-1024.0 + 65535 - 1024.0) - hu
    for window in ("auto", True):
        np.testing.assert_allclose(read_image(path, window=window), windowed, rtol=1e-6)
    np.testing.assert_array_equal(read_image(path), hu)


def test_auto_window_without_window_information_changes_nothing(tmp_path):
    stored = _ramp()
    path = write_dicom(tmp_path / "plain.dcm", stored)
    np.testing.assert_array_equal(read_image(path, window="auto"), stored)


def test_auto_window_prefers_the_voi_lut_sequence(tmp_path):
    stored = _ramp(top=255)
    item = Dataset()
    item.LUTDescriptor = [256, 0, 8]
    # LUT Data's VR is ambiguous (US or OW), so it is given explicitly; a reversing LUT is
    # easy to recognise.
    item.add_new("LUTData", "US", list(range(255, -1, -1)))
    ds = _dataset(stored, VOILUTSequence=Sequence([item]), WindowCenter=10, WindowWidth=5)
    path = _save(ds, tmp_path / "voi.dcm")
    np.testing.assert_array_equal(read_image(path, window="auto"), 255 - stored)


@pytest.mark.parametrize(
    "syntax", [uid.ExplicitVRLittleEndian, uid.RLELossless, uid.JPEG2000Lossless]
)
def test_multi_frame_returns_the_requested_frame(tmp_path, syntax):
    frames = np.stack([_ramp(seed=k) for k in range(3)])
    path = _save(_dataset(frames, bits_stored=12), tmp_path / "mf.dcm", syntax)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(read_image(path), frames[0])
    np.testing.assert_array_equal(read_image(path, frame=2), frames[2])
    with pytest.raises(ImageReadError, match=r"mf\.dcm.*frame 3 is out of range"):
        read_image(path, frame=3)


def test_single_frame_file_accepts_only_frame_zero(tmp_path):
    path = write_dicom(tmp_path / "one.dcm", _ramp())
    np.testing.assert_array_equal(read_image(path, frame=0), read_image(path))
    with pytest.raises(ImageReadError, match="frame 1 is out of range: the file has 1 frame"):
        read_image(path, frame=1)


def test_enhanced_multi_frame_functional_groups_rescale_per_frame(tmp_path):
    frames = np.stack([_ramp(seed=k) for k in range(2)])
    per_frame = []
    for slope, intercept in ((1.0, -1024.0), (2.0, 5.0)):
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = slope, intercept
        transform.RescaleType = "US"
        group = Dataset()
        group.PixelValueTransformationSequence = Sequence([transform])
        per_frame.append(group)
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = 0, 2000
    shared = Dataset()
    shared.FrameVOILUTSequence = Sequence([voi])
    ds = _dataset(
        frames,
        bits_stored=12,
        PerFrameFunctionalGroupsSequence=Sequence(per_frame),
        SharedFunctionalGroupsSequence=Sequence([shared]),
    )
    path = _save(ds, tmp_path / "enhanced.dcm")
    np.testing.assert_array_equal(read_image(path, frame=0), frames[0] - 1024.0)
    np.testing.assert_array_equal(read_image(path, frame=1), frames[1] * 2.0 + 5.0)
    # The shared window (DICOM LINEAR: center - 0.5, width - 1) applies, with frame 1's
    # rescale defining the output range.
    lo, hi = 5.0, 4095 * 2.0 + 5.0
    expected = np.clip((frames[1] * 2.0 + 5.0 + 0.5) / 1999 + 0.5, 0, 1)
    windowed = read_image(path, frame=1, window="auto")
    assert windowed.min() >= lo and windowed.max() <= hi
    np.testing.assert_allclose((windowed - lo) / (hi - lo), expected, atol=1e-6)


def test_rgb_and_ybr_become_luminance(tmp_path):
    rgb = _ramp(shape=(16, 20, 3), top=255, dtype=np.uint8)
    luma = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    path = _save(_dataset(rgb, "RGB"), tmp_path / "rgb.dcm")
    np.testing.assert_allclose(read_image(path), luma, rtol=1e-6)

    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    path = _save(_dataset(ybr, "YBR_FULL"), tmp_path / "ybr.dcm")
    # YBR_FULL holds 8-bit rounded values, so the way back to RGB is off by about one level.
    np.testing.assert_allclose(read_image(path), luma, atol=1.5)


def test_file_without_preamble_or_file_meta_is_detected_and_read(tmp_path):
    stored = _ramp()
    ds = _dataset(stored)
    del ds.file_meta
    path = tmp_path / "IM0001"
    ds.save_as(path, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    assert detect_format(path) == "dicom"
    np.testing.assert_array_equal(read_image(path), stored)


def test_truncated_pixel_data_raises(tmp_path):
    path = write_dicom(tmp_path / "cut.dcm", _ramp())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 300])
    with pytest.raises(ImageReadError, match=r"cut\.dcm.*truncated") as info:
        read_image(path)
    assert info.value.path == str(path)


def test_truncated_compressed_pixel_data_raises(tmp_path):
    path = _save(_dataset(_ramp()), tmp_path / "rle.dcm", uid.RLELossless)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(ImageReadError, match=r"rle\.dcm.*truncated"):
        read_image(path)


def test_file_cut_inside_the_header_raises(tmp_path):
    path = write_dicom(tmp_path / "head.dcm", _ramp(), extra={"StudyDescription": "x" * 64})
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"x" * 64) + 10])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_dicom_without_pixel_data_raises(tmp_path):
    ds = _dataset(_ramp())
    del ds.PixelData
    del ds.Rows
    ds.SOPClassUID = uid.BasicTextSRStorage
    path = tmp_path / "report.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=r"report\.dcm.*no pixel data"):
        read_image(path)


def test_unsupported_transfer_syntax_is_named(tmp_path):
    ds = _dataset(_ramp(top=255, dtype=np.uint8))
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = uid.MPEG2MPML
    path = tmp_path / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=r"video\.dcm.*unsupported transfer syntax MPEG2"):
        read_image(path)


def test_corrupt_compressed_data_raises(tmp_path):
    ds = _dataset(_ramp())
    ds.compress(uid.JPEG2000Lossless)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(range(256)) * 4])
    path = tmp_path / "garbage_j2k.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=r"garbage_j2k\.dcm.*JPEG 2000"):
        read_image(path)


def test_read_dicom_reports_a_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_dicom(tmp_path / "absent.dcm")


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_float_pixel_data(tmp_path, photometric):
    values = np.random.default_rng(0).normal(size=(8, 9)).astype(np.float32)
    ds = _dataset(_ramp(shape=values.shape), photometric)
    del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    ds.BitsAllocated = 32
    ds.FloatPixelData = values.tobytes()
    path = _save(ds, tmp_path / "float.dcm")
    # Float data has no bit range, so MONOCHROME1 flips within the observed range.
    expected = values if photometric == "MONOCHROME2" else values.min() + values.max() - values
    np.testing.assert_allclose(read_image(path), expected, rtol=1e-6, atol=1e-6)
