"""Tests for keras_mia.io.files.is_image_file: the one rule of every folder walk."""

import numpy as np
import pytest

from keras_mia.io import is_image_file, read_image
from keras_mia.io.writers import write_dicom


@pytest.mark.parametrize(
    "name, expected",
    [
        ("scan.png", True),
        ("scan.PNG", True),
        ("mdb001.pgm", True),
        ("radiograph.jpeg", True),
        ("slice.tif", True),  # read_image then names TIFF as unsupported
        ("notes.txt", False),
        (".DS_Store", False),
        (".hidden.png", False),
        ("README", False),  # no suffix and no DICM marker
    ],
)
def test_by_name(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"not really an image")
    assert is_image_file(path) is expected


@pytest.mark.parametrize("name", ["000000", "1.2.840.113619.2.55.3.604688", "IM0001"])
def test_dicom_without_a_dicom_suffix_is_found_by_its_marker(tmp_path, name):
    path = write_dicom(tmp_path / name, np.arange(16, dtype=np.uint16).reshape(4, 4))
    assert is_image_file(path)
    assert read_image(path).shape == (4, 4)


def test_dicom_marker_behind_a_word_suffix_is_not_looked_for(tmp_path):
    path = write_dicom(tmp_path / "scan.backup", np.zeros((4, 4), np.uint16))
    assert not is_image_file(path)
    assert not is_image_file(tmp_path / "missing")
