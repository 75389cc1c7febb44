"""Intensity operations shared by the DICOM and raster readers.

The readers hand back single-channel images in the file's own units; these helpers turn colour
into gray, apply a user-chosen window and flip inverted (MONOCHROME1) grayscale.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LUMA_WEIGHTS",
    "apply_linear_window",
    "invert_in_range",
    "luminance",
]

# ITU-R BT.601 luma, the weights of Pillow's "L" conversion and of most medical viewers.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Converts an (H, W, 3+) colour image to gray as 0.299 R + 0.587 G + 0.114 B.

    Args:
        rgb: colour image; channels after the third (alpha) are ignored.

    Returns:
        (H, W) float64 image in the units of the input samples (no rescaling).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise ValueError(f"Expected an (H, W, C>=3) image. Received: shape={rgb.shape}")
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.float64)
    return rgb[..., :3].astype(np.float64) @ weights


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
