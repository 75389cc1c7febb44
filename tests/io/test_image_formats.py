"""Format detection by content, whatever the file is called."""

from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from PIL import Image

from keras_mia.io import FORMATS, ImageReadError, detect_format, write_dicom, write_png

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"


def _write(kind, path):
    image = np.random.default_rng(0).integers(0, 256, size=(16, 16), dtype=np.uint8)
    if kind == "dicom":
        write_dicom(path, image)
    elif kind == "png":
        # write_png picks Pillow's encoder from the suffix, so it writes a .png, renamed after.
        write_png(path.with_name("tmp.png"), image).rename(path)
    else:
        pillow_format = {"jpeg": "JPEG", "pgm": "PPM", "bmp": "BMP"}[kind]
        Image.fromarray(image).save(path, format=pillow_format)
    return path


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize("name", ["image.dcm", "image.png", "image.jpg", "image", "image.txt"])
def test_detected_by_content_not_extension(tmp_path, kind, name):
    assert detect_format(_write(kind, tmp_path / name)) == kind


@pytest.mark.parametrize(
    "name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm", "rtstruct.dcm"]
)
def test_dicom_without_preamble_is_detected(name):
    path = PYDICOM_FILES / name
    assert path.read_bytes()[128:132] != b"DICM"
    assert detect_format(path) == "dicom"


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"patient_id,label\nP1,0\n", "text file"),
        (b"BMW 320i service record\n", "text file"),
        (b"\x1f\x8b\x08\x00" + bytes(range(40)), "gzip"),
        (b"II*\x00" + bytes(40), "TIFF"),
        (bytes(range(256)) * 2, "unrecognised content"),
    ],
)
def test_unsupported_content_raises_image_read_error(tmp_path, content, reason):
    path = tmp_path / "scan.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        detect_format(path)
    assert info.value.path == str(path)
    assert "scan.png" in str(info.value)


def test_garbage_named_dcm_is_not_a_valid_dicom(tmp_path):
    path = tmp_path / "broken.dcm"
    path.write_bytes(bytes(range(256)) * 2)
    with pytest.raises(ImageReadError, match="not a valid DICOM file"):
        detect_format(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        detect_format(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        detect_format(tmp_path)
