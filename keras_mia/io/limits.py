"""The one pixel cap every image reader of keras_mia checks before it decodes anything.

A compressed image file can be tiny on disk and huge in memory: a 105 KB PNG of zeros holds
6000 x 6000 RGB pixels, a 125 KB deflated DICOM 8000 x 8000. Every reader therefore reads the
image's size from its header first (PNG/JPEG/BMP/PGM via Pillow's ``size``; DICOM ``Rows x
Columns x NumberOfFrames``, all frames because the whole pixel data is read at once; the
tf.data decoders from the PNG/JPEG/BMP headers in the graph) and refuses the file, naming
it, when it holds more than the cap. Decoding below the cap needs about
``BYTES_PER_PIXEL`` bytes per pixel at its peak, so one image never needs more than
``max_pixels() * BYTES_PER_PIXEL`` bytes.

The cap is ``DEFAULT_MAX_PIXELS`` (2**26 = 67,108,864 pixels: 8192 x 8192, room for the
largest mammograms, about 7000 x 5500). Change it with the ``KERAS_MIA_MAX_PIXELS``
environment variable (read when first needed; it also reaches tf.data workers and
subprocesses) or :func:`set_max_pixels` (for this process).
"""

from __future__ import annotations

import numbers
import os
import threading

from keras_mia.io.errors import ImageReadError

__all__ = [
    "BYTES_PER_PIXEL",
    "DEFAULT_MAX_PIXELS",
    "ENV_VAR",
    "check_pixel_count",
    "max_pixels",
    "set_max_pixels",
    "sync_pillow",
]

DEFAULT_MAX_PIXELS = 2**26
ENV_VAR = "KERAS_MIA_MAX_PIXELS"
# Peak bytes per pixel of the heaviest read (16-bit colour PNG: two 8-bit RGB decodes, the
# 16-bit samples and the float32 result); grey and 8-bit colour need about half. The hostile-
# file tests measure the peak against this figure.
BYTES_PER_PIXEL = 24

_lock = threading.Lock()
_cap: int | None = None


def _validated(value, source: str) -> int:
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text.isdigit():
            raise ValueError(
                f"{source} must be a positive whole number of pixels. Received: {value!r}"
            )
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"{source} must be a positive whole number of pixels. Received: {value!r}"
        )
    return int(value)


def max_pixels() -> int:
    """The pixel cap in force: ``set_max_pixels``, else ``KERAS_MIA_MAX_PIXELS``, else the default.

    Returns:
        The largest number of pixels (width x height, x frames for DICOM) a file may hold.

    Raises:
        ValueError: ``KERAS_MIA_MAX_PIXELS`` is set but is not a positive integer.
    """
    if _cap is not None:
        return _cap
    raw = os.environ.get(ENV_VAR)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_PIXELS
    return _validated(raw, f"The environment variable {ENV_VAR}")


def set_max_pixels(value: int | None) -> int:
    """Sets the pixel cap for this process (``None`` goes back to the environment/default).

    Pillow has a cap of its own (``PIL.Image.MAX_IMAGE_PIXELS``); when this cap is higher,
    Pillow's is raised to match so that there is only one limit to think about.

    Args:
        value: the largest number of pixels a file may hold, or ``None``.

    Returns:
        The cap now in force.
    """
    global _cap
    with _lock:
        _cap = None if value is None else _validated(value, "max_pixels")
    return max_pixels()


def sync_pillow(cap: int) -> None:
    """Lets Pillow open images up to ``cap`` pixels without its own bomb warning or error."""
    from PIL import Image

    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < cap:
        with _lock:
            Image.MAX_IMAGE_PIXELS = max(cap, Image.MAX_IMAGE_PIXELS or 0)


def check_pixel_count(
    path: str | os.PathLike, height: int, width: int, frames: int = 1, what: str = "image"
) -> None:
    """Refuses a file that holds more pixels than the cap, before anything is decoded.

    Args:
        path: the file, for the message.
        height: rows, from the file's header.
        width: columns, from the file's header.
        frames: how many frames are read at once (DICOM: all of them).
        what: how the message calls the pixels (e.g. ``"image"``).

    Raises:
        ImageReadError: ``height * width * frames`` exceeds :func:`max_pixels`.
    """
    cap = max_pixels()
    total = int(height) * int(width) * max(int(frames), 1)
    if total > cap:
        layout = f"{int(height)} x {int(width)}"
        if frames > 1:
            layout += f" x {int(frames)} frames"
        raise ImageReadError(
            path,
            f"{what} too large: {layout} = {total:,} pixels exceeds the cap of {cap:,} "
            f"pixels (raise it with the {ENV_VAR} environment variable or "
            "keras_mia.io.set_max_pixels if the file is genuine)",
        )
