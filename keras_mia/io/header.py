"""``read_header``: what an image file holds, checked without decoding its pixels.

Used before training (``keras_mia.data.validate.check_files``) to find bad files in
milliseconds each: the same format detection and header checks as ``read_image``, the
pixel cap, and the signs of a file cut short (see ``raster_header`` and ``dicom_header``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from keras_mia.io.dicom import dicom_header
from keras_mia.io.formats import detect_format
from keras_mia.io.raster import raster_header

__all__ = ["ImageHeader", "read_header"]


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says.

    Attributes:
        path: the file.
        format: ``"dicom"``, ``"png"``, ``"jpeg"``, ``"pgm"`` or ``"bmp"``.
        height: rows.
        width: columns.
        frames: frames in the file (``read_image`` reads frame 0 unless told otherwise).
    """

    path: str
    format: str
    height: int
    width: int
    frames: int

    @property
    def pixels(self) -> int:
        """Pixels a read holds in memory: one frame, or every frame for DICOM."""
        return self.height * self.width * (self.frames if self.format == "dicom" else 1)


def read_header(path: str | os.PathLike) -> ImageHeader:
    """Checks an image file as far as possible without decoding its pixels.

    Args:
        path: the file.

    Returns:
        Its :class:`ImageHeader`.

    Raises:
        ImageReadError: missing, not a supported image, corrupt or truncated where that shows
            without decoding, over the pixel cap (``keras_mia.io.max_pixels``), or (DICOM)
            pixel data of the wrong size. The message names the file.
    """
    fmt = detect_format(path)
    if fmt == "dicom":
        height, width, frames = dicom_header(path)
    else:
        height, width, frames = raster_header(path, fmt)
    return ImageHeader(os.fspath(path), fmt, int(height), int(width), int(frames))
