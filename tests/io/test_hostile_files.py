"""Hostile image files: each one fails clearly, naming the file, or is read in bounded memory.

Peak memory is measured as the growth of the maximum resident set size of a fresh Python
process (``resource.getrusage``), so allocations inside Pillow, zlib and pydicom count too.
"""

import os
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from keras_mia.io import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    MultiFrameWarning,
    max_pixels,
    read_header,
    read_image,
    set_max_pixels,
)
from keras_mia.io.intensity import LUMA_WEIGHTS, luminance
from keras_mia.io.limits import BYTES_PER_PIXEL, ENV_VAR


@pytest.fixture(autouse=True)
def _default_cap(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    set_max_pixels(None)
    yield
    set_max_pixels(None)


def _dicom(path, rows, columns, *, syntax=ExplicitVRLittleEndian, bits=16, frames=1,
           pixel_bytes=None, extra=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = (
        pixel_bytes if pixel_bytes is not None else bytes(rows * columns * frames * bits // 8)
    )
    ds.save_as(path, enforce_file_format=True)
    return path


def _peak_rss_growth(path, cap=None):
    """(outcome, bytes) of read_image(path) in a fresh process: peak RSS over the baseline."""
    code = textwrap.dedent(f"""
        import resource
        import numpy, PIL.Image, PIL.PngImagePlugin, pydicom, pydicom.pixels, zlib
        from keras_mia.io import ImageReadError, read_image
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            out = repr(read_image({str(path)!r}).shape)
        except ImageReadError as err:
            out = "ImageReadError: " + str(err)
        print(out)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
    """)
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    if cap is not None:
        env[ENV_VAR] = str(cap)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120, check=True)
    outcome, grown = result.stdout.strip().splitlines()[-2:]
    return outcome, int(grown)


def test_6000_square_rgb_png_reads_within_the_documented_memory(tmp_path):
    path = tmp_path / "zeros.png"
    Image.fromarray(np.zeros((6000, 6000, 3), np.uint8)).save(path)
    assert path.stat().st_size < 200_000  # ~100 KB on disk
    outcome, grown = _peak_rss_growth(path)
    assert outcome == "(6000, 6000)"
    pixels = 6000 * 6000
    # Before: 1.34 GB (a float64 H x W x 3 copy); now the documented bound, and well below.
    assert grown < BYTES_PER_PIXEL * pixels, grown
    assert grown < 16 * pixels, grown


def test_png_over_the_cap_is_refused_before_decoding(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((3000, 2000), np.uint8)).save(path)
    set_max_pixels(1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match="too large: 3000 x 2000") as info:
            read_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.path == str(path) and ENV_VAR in str(info.value)
    assert peak < 2_000_000  # nothing of the 6 MB image was decoded
    with pytest.raises(ImageReadError, match="too large"):
        read_header(path)


def test_8000_square_deflated_dicom_over_the_cap_is_refused_before_inflating(tmp_path):
    path = _dicom(tmp_path / "bomb.dcm", 8000, 8000, syntax=DeflatedExplicitVRLittleEndian)
    assert path.stat().st_size < 300_000  # 128 MB of pixels in ~125 KB
    set_max_pixels(16_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match=r"8000 x 8000 = 64,000,000 pixels") as info:
            read_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.path == str(path)
    assert peak < 8_000_000, peak  # the 128 MB data set was never inflated


def test_deflated_dicom_under_the_cap_reads_within_the_documented_memory(tmp_path):
    path = _dicom(tmp_path / "big.dcm", 4000, 4000, syntax=DeflatedExplicitVRLittleEndian)
    outcome, grown = _peak_rss_growth(path)
    assert outcome == "(4000, 4000)"
    assert grown < BYTES_PER_PIXEL * 4000 * 4000, grown
    # And the environment variable is the cap in a fresh process (tf.data workers too).
    outcome, grown = _peak_rss_growth(path, cap=1_000_000)
    assert outcome.startswith("ImageReadError") and "big.dcm" in outcome
    assert grown < 20_000_000


def test_deflated_dicom_inflating_beyond_its_image_is_refused(tmp_path):
    # A 64 x 64 image beside 100 MB of zeros in a private element: ~100 KB on disk. (Were
    # the element before the image attributes, the limit would be the cap's, still bounded.)
    path = _dicom(tmp_path / "stuffed.dcm", 64, 64, syntax=DeflatedExplicitVRLittleEndian)
    ds = __import__("pydicom").dcmread(path)
    ds.add_new(0x00291010, "OB", bytes(100 << 20))
    ds.save_as(path, enforce_file_format=True)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageReadError, match="inflates to more than") as info:
        read_image(path)
    assert info.value.path == str(path)


def test_bits_allocated_that_does_not_match_the_pixel_data_names_the_file(tmp_path):
    # 16-bit samples declared as 8-bit: used to decode as garbage and pass validate.
    samples = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
    path = _dicom(tmp_path / "liar.dcm", 32, 32, bits=8, pixel_bytes=samples.tobytes())
    for reader in (read_image, read_header):
        with pytest.raises(ImageReadError, match="pixel data size mismatch") as info:
            reader(path)
        assert info.value.path == str(path)
        assert "BitsAllocated 8" in str(info.value) and "2,048 bytes" in str(info.value)
    # Rows that do not match either.
    path = _dicom(tmp_path / "short.dcm", 64, 32, bits=16, pixel_bytes=samples.tobytes())
    with pytest.raises(ImageReadError, match="mismatch"):
        read_image(path)


def test_multi_frame_file_read_as_one_image_says_which_frame(tmp_path):
    frames = np.stack([np.full((8, 8), v, np.uint16) for v in (10, 20, 30)])
    path = _dicom(tmp_path / "multi.dcm", 8, 8, frames=3, pixel_bytes=frames.tobytes())
    with pytest.warns(MultiFrameWarning, match=r"multi.dcm: multi-frame file with 3 frames.*"
                                               r"frame 0 was used"):
        image = read_image(path)
    np.testing.assert_array_equal(image, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_image(path, frame=2), 30)
    assert read_header(path).frames == 3
    # The cap counts every frame: the whole pixel data is read at once.
    set_max_pixels(8 * 8 * 2)
    with pytest.raises(ImageReadError, match="8 x 8 x 3 frames"):
        read_image(path, frame=0)


def test_truncated_files_are_found_from_their_headers(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    for name in ("a.png", "a.jpg"):
        Image.fromarray(image).save(tmp_path / name)
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) * 2 // 3])
        assert read_header(tmp_path / name).height == 64
        with pytest.raises(ImageReadError, match="truncated") as info:
            read_header(tmp_path / f"cut_{name}")
        assert info.value.path == str(tmp_path / f"cut_{name}")
    Image.fromarray(image).save(tmp_path / "a.bmp")
    data = (tmp_path / "a.bmp").read_bytes()
    (tmp_path / "cut.bmp").write_bytes(data[:-100])
    with pytest.raises(ImageReadError, match="truncated BMP"):
        read_header(tmp_path / "cut.bmp")
    path = _dicom(tmp_path / "a.dcm", 16, 16)
    (tmp_path / "cut.dcm").write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ImageReadError, match="truncated"):
        read_header(tmp_path / "cut.dcm")


def test_cap_configuration():
    assert max_pixels() == DEFAULT_MAX_PIXELS == 2**26
    assert set_max_pixels(1234) == 1234 == max_pixels()
    assert set_max_pixels(None) == DEFAULT_MAX_PIXELS
    for bad in (0, -1, 1.5, True, "lots"):
        with pytest.raises(ValueError, match="positive whole number"):
            set_max_pixels(bad)


def test_cap_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "100_000")
    assert max_pixels() == 100_000
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(ValueError, match=f"{ENV_VAR}.*'many'"):
        max_pixels()
    monkeypatch.delenv(ENV_VAR)


def test_luminance_is_float32_and_equals_the_float64_sum():
    rgb = np.random.default_rng(1).integers(0, 65536, (700, 530, 4)).astype(np.uint16)
    expected = (rgb[..., :3].astype(np.float64) @ np.asarray(LUMA_WEIGHTS)).astype(np.float32)
    gray = luminance(rgb)
    assert gray.dtype == np.float32
    np.testing.assert_array_equal(gray, expected)


def test_sixteen_bit_colour_png_keeps_its_values(tmp_path):
    # Written by hand: Pillow cannot write 16-bit RGB.
    rgb = np.random.default_rng(2).integers(0, 65536, (40, 30, 3)).astype(">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in rgb)

    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = (30).to_bytes(4, "big") + (40).to_bytes(4, "big") + bytes([16, 2, 0, 0, 0])
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
           + chunk(b"IEND", b""))
    (tmp_path / "rgb16.png").write_bytes(png)
    expected = (rgb.astype(np.float64) @ np.asarray(LUMA_WEIGHTS)).astype(np.float32)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb16.png"), expected)
