"""``read_image``: any supported image file -> float32 (H, W) array in original units."""

from __future__ import annotations

import os

import numpy as np

from keras_mia.io.arguments import normalize_frame, normalize_window
from keras_mia.io.dicom import read_dicom
from keras_mia.io.formats import detect_format
from keras_mia.io.raster import read_raster

__all__ = ["read_image"]


def read_image(
    path: str | os.PathLike,
    frame: int | None = None,
    window: None | bool | str | tuple[float, float] = None,
) -> np.ndarray:
    """Reads a DICOM, PNG, JPEG, PGM or BMP file as a gray image in original intensity units.

    The format is detected from the file's content, never from its extension (see
    ``detect_format``). DICOM files go through the Modality LUT (rescale slope/intercept), an
    optional VOI LUT/window and MONOCHROME1 inversion (high = bright); 16-bit PNG/PGM keep
    their 16 bits; colour becomes gray as 0.299 R + 0.587 G + 0.114 B. See ``read_dicom`` and
    ``read_raster`` for the details of each family.

    Args:
        path: the image file.
        frame: 0-based frame of a multi-frame file. ``None`` returns frame 0, which is also
            the only frame of a single-frame file.
        window: ``None`` (default) returns unwindowed values. ``"auto"`` or ``True`` applies a
            DICOM file's own VOI LUT or first Window Center/Width (no-op when it has none, and
            for non-DICOM files). A ``(center, width)`` pair in the image's units maps
            ``[center - width/2, center + width/2]`` linearly onto the range the image's
            encoding can represent, clipping outside it.

    Returns:
        float32 array of shape (H, W).

    Raises:
        ImageReadError: the file is missing, not a supported image, truncated or corrupt, has
            no pixel data, uses an unsupported DICOM transfer syntax, or has no such frame.
            The message names the file and the reason; ``.path`` and ``.reason`` hold them.
        ValueError, TypeError: ``frame`` or ``window`` is malformed.
    """
    frame = normalize_frame(frame)
    window = normalize_window(window)
    fmt = detect_format(path)
    if fmt == "dicom":
        return read_dicom(path, frame=frame, window=window)
    return read_raster(path, fmt, frame=frame, window=window)
