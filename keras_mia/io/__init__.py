"""Image input/output: reading DICOM, PNG, JPEG, PGM and BMP as gray arrays in original units,
and writing PNG and DICOM."""

from keras_mia.io.dicom import read_dicom
from keras_mia.io.errors import ImageReadError
from keras_mia.io.files import IMAGE_SUFFIXES, is_image_file
from keras_mia.io.formats import FORMATS, detect_format
from keras_mia.io.raster import read_raster
from keras_mia.io.read import read_image
from keras_mia.io.writers import write_dicom, write_png

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "detect_format",
    "is_image_file",
    "read_dicom",
    "read_image",
    "read_raster",
    "write_dicom",
    "write_png",
]
