"""Intensity operations shared by the DICOM and raster readers.

The readers hand back single-channel images in the file's own units; these helpers turn colour
into gray, apply a user-chosen window and flip inverted (MONOCHROME1) grayscale.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BLOCK_PIXELS",
    "LUMA_WEIGHTS",
    "apply_linear_window",
    "blockwise",
    "invert_in_range",
    "luminance",
]

# ITU-R BT.601 luma, the weights of Pillow's "L" conversion and of most medical viewers.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Pixels per block of row-wise processing: float64 temporaries stay at a few MB per block
# whatever the image size, while the per-block overhead stays negligible.
BLOCK_PIXELS = 1 << 18


def blockwise(fn, image: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Applies a pointwise ``fn`` to blocks of rows, writing into one ``dtype`` result.

    ``fn`` may compute in float64 (as the readers do, for exactness): only one block's
    temporaries exist at a time, so a full-size float64 copy is never made.

    Args:
        fn: maps an ``(h, W, ...)`` block to an ``(h, W)`` block; must act on each pixel
            independently of the others.
        image: the input, rows first.
        dtype: the result's dtype.

    Returns:
        ``(H, W)`` array of ``dtype``.
    """
    image = np.asarray(image)
    height, width = image.shape[0], image.shape[1]
    out = np.empty((height, width), dtype=dtype)
    step = max(1, BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, step):
        out[top:top + step] = fn(image[top:top + step])
    return out


def luminance(rgb: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Converts an (H, W, 3+) colour image to gray as 0.299 R + 0.587 G + 0.114 B.

    The sum is computed in float64, a block of rows at a time, and stored as ``dtype``: the
    values are those of a whole-image float64 conversion, without its full-size copies
    (a 6000 x 6000 RGB image needs 144 MB for the float32 result instead of 1.3 GB).

    Args:
        rgb: colour image; channels after the third (alpha) are ignored.
        dtype: the result's dtype.

    Returns:
        (H, W) image of ``dtype`` in the units of the input samples (no rescaling).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise ValueError(f"Expected an (H, W, C>=3) image. Received: shape={rgb.shape}")
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.float64)
    return blockwise(lambda block: block[..., :3].astype(np.float64) @ weights, rgb, dtype)


def apply_linear_window(
    image: np.ndarray, center: float, width: float, out_range: tuple[float, float]
) -> np.ndarray:
    """Maps ``[center - width/2, center + width/2]`` linearly onto ``out_range``, clipping outside.

    This is DICOM's ``LINEAR_EXACT`` VOI function (PS3.3 C.11.2.1.3.2), which, unlike
    ``LINEAR``, also works for the sub-unit widths of floating-point data.

    Args:
        image: input values.
        center: window center, in the units of ``image``.
        width: window width (> 0).
        out_range: ``(y_min, y_max)`` of the output.

    Returns:
        float64 array of the same shape.
    """
    y_min, y_max = float(out_range[0]), float(out_range[1])
    scaled = (np.asarray(image, dtype=np.float64) - center) / width + 0.5
    return np.clip(scaled, 0.0, 1.0) * (y_max - y_min) + y_min


def invert_in_range(image: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Flips intensities within a range: ``lo + hi - x``, so ``lo`` <-> ``hi``.

    Args:
        image: input values.
        value_range: ``(lo, hi)``; the order does not matter.

    Returns:
        float64 array of the same shape and the same units.
    """
    lo, hi = value_range
    return (float(lo) + float(hi)) - np.asarray(image, dtype=np.float64)
