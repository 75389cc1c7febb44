"""read_image end to end: dispatch by content, argument checks, and the real sample data."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from keras_mia.io import ImageReadError, read_image, write_dicom, write_png

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CBIS = SHARED_DATA / "cbis_ddsm_samples"
OPEN_I = SHARED_DATA / "open_i_abd_vs_cxr"
LUMA = np.array([0.299, 0.587, 0.114])


def _shared(folder, pattern):
    """Parameters for the real files, or one skipped parameter when ../shared is absent."""
    files = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{folder} is absent"))]
    return [pytest.param(path, id=path.relative_to(folder).as_posix()) for path in files]


def test_wrong_extension_is_read_by_content(tmp_path):
    image = np.random.default_rng(0).integers(0, 4096, size=(32, 32)).astype(np.uint16)
    dicom_as_png = write_dicom(tmp_path / "actually_dicom.png", image, rescale_intercept=-1000)
    png_as_dcm = tmp_path / "actually_png.dcm"
    write_png(tmp_path / "tmp.png", (image // 16).astype(np.uint8)).rename(png_as_dcm)
    np.testing.assert_array_equal(read_image(dicom_as_png), image - 1000.0)
    np.testing.assert_array_equal(read_image(png_as_dcm), image // 16)


@pytest.mark.parametrize(
    "kwargs, error",
    [({"frame": -1}, ValueError), ({"frame": "0"}, TypeError), ({"window": "lung"}, ValueError)],
)
def test_bad_arguments_are_rejected_before_reading(tmp_path, kwargs, error):
    # The file does not exist: argument errors come first and are not ImageReadErrors.
    with pytest.raises(error):
        read_image(tmp_path / "absent.png", **kwargs)


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("notes.png", b"just some text\n", "not an image"),
        ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "truncated"),
    ],
)
def test_bad_files_raise_image_read_error_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert name in str(info.value) and info.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match=r"absent\.dcm.*file not found"):
        read_image(tmp_path / "absent.dcm")


@pytest.mark.shared_data
@pytest.mark.parametrize("path", _shared(CBIS / "dicom", "*.dcm"))
def test_cbis_ddsm_cropped_dicoms_keep_16_bits(path):
    ds = pydicom.dcmread(path)
    image = read_image(path)
    assert image.dtype == np.float32
    assert image.shape == (ds.Rows, ds.Columns)
    np.testing.assert_array_equal(image, ds.pixel_array)
    assert image.max() > 255 and image.min() >= 0 and image.max() <= 65535


def _yolo_box(mask_path):
    """(x1, y1, x2, y2) of a lesion.

    yolo_boxes.txt lines read ``<case>=<kind>.png x1 y1 x2 y2 rows columns``.
    """
    case = mask_path.name[: -len("_mask.png")]
    for line in (CBIS / "yolo_boxes.txt").read_text().splitlines():
        name, *numbers = line.split()
        if name.split("=")[0] == case:
            return tuple(int(v) for v in numbers[:4])
    raise AssertionError(f"{case} not in yolo_boxes.txt")


@pytest.mark.shared_data
@pytest.mark.parametrize("path", _shared(CBIS / "roi", "*_mask.png"))
def test_cbis_ddsm_16_bit_rgb_roi_masks_keep_all_16_bits(path):
    # These masks are 16-bit RGB PNGs: the lesion is (255, 255, 255) and a box outline around
    # it is pure red (65535, 0, 0). Pillow alone keeps only the high bytes, which would erase
    # the lesion (0) and leave only the outline.
    mask = read_image(path)
    lesion, outline = mask == 255, mask > 255
    assert lesion.any() and outline.any()
    assert set(np.unique(mask[~lesion & ~outline]).tolist()) == {0.0}
    x1, y1, x2, y2 = _yolo_box(path)
    rows, cols = np.nonzero(lesion)
    assert y1 <= rows.min() and rows.max() <= y2 and x1 <= cols.min() and cols.max() <= x2
    rows, cols = np.nonzero(outline)
    assert rows.min() < y1 and rows.max() > y2 and cols.min() < x1 and cols.max() > x2
    full = CBIS / "full" / (path.name.rsplit("_", 2)[0] + ".png")
    assert read_image(full).shape == mask.shape


@pytest.mark.shared_data
@pytest.mark.parametrize("path", _shared(OPEN_I, "*/**/*.png"))
def test_open_i_pngs_match_pillows_own_gray_conversion(path):
    image = read_image(path)
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
        pillow_gray = np.asarray(img.convert("L"), dtype=np.float64)
    assert image.shape == pillow_gray.shape
    np.testing.assert_allclose(image, rgb @ LUMA, rtol=1e-6)
    # Pillow rounds its fixed-point luma to integers.
    assert np.abs(image - pillow_gray).max() <= 1.0


@pytest.mark.shared_data
def test_open_i_duplicate_file_reads_identically():
    folder = OPEN_I / "VAL" / "openI_abd_xray"
    copy = folder / "PMC2584007_1752-1947-2-335-2 (1).png"
    if not copy.exists():
        pytest.skip(f"{copy} is absent")
    original = folder / "PMC2584007_1752-1947-2-335-2.png"
    np.testing.assert_array_equal(read_image(copy), read_image(original))
