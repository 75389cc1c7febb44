"""Bit depth: the largest value an image file's encoding can hold, and scaling to 16 bits.

A 12-bit FFDM file, a 14-bit one and a 16-bit film scan must land on the same scale before
a model sees them, and each image's own maximum will not do (a fatty breast would be
stretched as bright as a dense one). ``keras-mia prepare`` and the deployed path
(``keras_mia.inference``, ``keras-mia predict``) both scale by the file's bit-depth top.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["source_range", "to_uint16"]


def source_range(path: str | os.PathLike, image: np.ndarray) -> float:
    """The largest value an image file's encoding can hold (after the Modality LUT).

    16-bit outputs are scaled by this, not by each image's own maximum, so that relative
    intensities survive across a data set: ``2**BitsStored - 1`` for DICOM (through the
    rescale slope/intercept), 255 or 65535 for PNG/PGM by their bit depth. Never below the
    image's actual maximum (nor below 1).

    Args:
        path: the file ``image`` was read from (its header gives the bit depth).
        image: its pixels as ``keras_mia.io.read_image`` returned them.

    Returns:
        The top of the file's value range, as a float.
    """
    from keras_mia.io import detect_format

    top = 0.0
    try:
        fmt = detect_format(path)
        if fmt == "dicom":
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            bits = int(ds.get("BitsStored") or 16)
            top = float(2**bits - 1)
            if "RescaleSlope" in ds and "RescaleIntercept" in ds:
                top = top * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        else:
            from PIL import Image

            with Image.open(path) as pil:
                top = 65535.0 if pil.mode in ("I", "I;16", "I;16B", "I;16L") else 255.0
    except Exception:  # noqa: BLE001 - the pixels were read; fall back to their maximum
        top = 0.0
    return max(top, float(np.max(image)) if np.size(image) else 0.0, 1.0)


def to_uint16(image: np.ndarray, top: float) -> np.ndarray:
    """Scales ``[0, top]`` onto the full 16-bit range (negative values clip to 0).

    Args:
        image: values in ``[0, top]``.
        top: the value that becomes 65535 (> 0).

    Returns:
        uint16 array of the same shape, rounded to the nearest integer.

    Raises:
        ValueError: ``top`` is not a positive number.
    """
    if not float(top) > 0.0:
        raise ValueError(f"top must be a positive number. Received: top={top!r}")
    return np.clip(np.rint(np.asarray(image, np.float64) * (65535.0 / top)), 0, 65535).astype(
        np.uint16
    )
