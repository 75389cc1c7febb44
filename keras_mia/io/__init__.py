"""Image input/output: reading DICOM, PNG, JPEG, PGM and BMP as gray arrays in original units,
and writing PNG and DICOM."""

from keras_mia.io.arguments import MultiFrameWarning
from keras_mia.io.dicom import read_dicom
from keras_mia.io.errors import ImageReadError
from keras_mia.io.files import IMAGE_SUFFIXES, is_image_file
from keras_mia.io.formats import FORMATS, detect_format
from keras_mia.io.header import ImageHeader, read_header
from keras_mia.io.limits import DEFAULT_MAX_PIXELS, max_pixels, set_max_pixels
from keras_mia.io.raster import read_raster
from keras_mia.io.read import read_image
from keras_mia.io.writers import write_dicom, write_png

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ImageHeader",
    "ImageReadError",
    "MultiFrameWarning",
    "detect_format",
    "is_image_file",
    "max_pixels",
    "read_dicom",
    "read_header",
    "read_image",
    "read_raster",
    "set_max_pixels",
    "write_dicom",
    "write_png",
]
