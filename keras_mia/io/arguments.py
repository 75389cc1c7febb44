"""Validation of the ``frame`` and ``window`` arguments shared by the readers.

Bad arguments are the caller's mistake, not the file's, so they raise plain ``ValueError`` /
``TypeError``; only a frame index beyond what a particular file holds is an ``ImageReadError``.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np

from keras_mia.io.errors import ImageReadError

__all__ = ["MultiFrameWarning", "frame_index", "normalize_frame", "normalize_window",
           "warn_first_frame"]


class MultiFrameWarning(UserWarning):
    """A multi-frame file was read as one image: only its first frame was used."""


def warn_first_frame(path: str | os.PathLike, n_frames: int) -> None:
    """Notes that ``frame=None`` read frame 0 of a file holding ``n_frames`` frames.

    Args:
        path: the file.
        n_frames: how many frames it holds.
    """
    warnings.warn(
        f"{os.fspath(path)}: multi-frame file with {n_frames} frames read as one image; "
        "frame 0 was used (pass frame=N to choose another)",
        MultiFrameWarning,
        stacklevel=4,
    )


def normalize_frame(frame) -> int | None:
    """Validates ``frame``: ``None`` or a non-negative integer.

    Args:
        frame: the requested frame.

    Returns:
        ``None`` or the frame as ``int``.
    """
    if frame is None:
        return None
    if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
        raise TypeError(f"frame must be None or an int. Received: frame={frame!r}")
    if frame < 0:
        raise ValueError(f"frame must be >= 0. Received: frame={frame}")
    return int(frame)


def frame_index(frame: int | None, n_frames: int, path: str | os.PathLike) -> int:
    """Resolves ``frame`` against a file's frame count (``None`` means the first frame).

    Args:
        frame: validated frame argument.
        n_frames: how many frames the file holds.
        path: the file, for the error message.

    Returns:
        The 0-based frame index to decode.

    Raises:
        ImageReadError: ``frame`` is beyond the last frame.
    """
    index = 0 if frame is None else frame
    if index >= n_frames:
        raise ImageReadError(
            path,
            f"frame {index} is out of range: the file has {n_frames} frame(s) "
            f"(valid frames: 0..{n_frames - 1})",
        )
    return index


def normalize_window(window) -> None | str | tuple[float, float]:
    """Validates the ``window`` argument of the readers.

    Args:
        window: ``None``/``False`` (no windowing), ``"auto"``/``True`` (the file's own VOI LUT
            or window) or a ``(center, width)`` pair with ``width > 0``.

    Returns:
        ``None``, ``"auto"`` or ``(center, width)`` as floats.
    """
    if window is None or window is False:
        return None
    if window is True or (isinstance(window, str) and window.lower() == "auto"):
        return "auto"
    if (
        isinstance(window, (tuple, list))
        and len(window) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in window)
    ):
        center, width = float(window[0]), float(window[1])
        if not (np.isfinite(center) and np.isfinite(width) and width > 0):
            raise ValueError(
                f"window must have a finite center and a width > 0. Received: window={window!r}"
            )
        return center, width
    raise ValueError(
        "window must be None, 'auto' (or True) or a (center, width) pair. "
        f"Received: window={window!r}"
    )
