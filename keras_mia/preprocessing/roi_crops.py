"""Scuccimarra's second training set: square crops centred on each ROI.

The seed trained its dense-prediction network on whole scans *and* on 1280 x 1280 crops of
the original CBIS-DDSM scans centred on each ROI (about 6 % positive pixels, the share the
loss weight of 15 was tuned for). ``prepare cbis-ddsm --roi-crops`` and ``prepare mias
--roi-crops`` both cut them here, so the two sets follow one rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RoiCrop", "roi_crop_window", "crop_padded", "roi_crops"]


@dataclass(frozen=True)
class RoiCrop:
    """One ROI-centred crop.

    Attributes:
        image: the ``size x size`` crop of the image (zero-padded at the bottom/right
            where the image is smaller).
        mask: the same crop of the *merged* mask (every ROI the crop shows), bool.
        top, left: the crop's corner in the image.
        roi_extent: ``(height, width)`` of the ROI's bounding box; larger than ``size``
            means the crop holds only the ROI's centre.
    """

    image: np.ndarray
    mask: np.ndarray
    top: int
    left: int
    roi_extent: tuple[int, int]


def roi_crop_window(
    roi: np.ndarray, size: int, image_shape: tuple[int, int]
) -> tuple[int, int]:
    """Top-left corner of the ``size x size`` crop centred on a ROI, kept inside the image.

    Args:
        roi: bool mask of the ROI (non-empty), in the prepared image.
        size: crop side in pixels.
        image_shape: ``(height, width)`` of the prepared image.

    Returns:
        ``(top, left)``: the crop is centred on the ROI's bounding box, then shifted so that it
        lies inside the image (at 0 along an axis shorter than ``size``).
    """
    rows, cols = np.nonzero(roi)
    corner = []
    for low, high, extent in ((rows.min(), rows.max(), image_shape[0]),
                              (cols.min(), cols.max(), image_shape[1])):
        start = (int(low) + int(high) + 1) // 2 - size // 2
        corner.append(min(max(start, 0), max(extent - size, 0)))
    return corner[0], corner[1]


def crop_padded(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """``image[top:top+size, left:left+size]``, zero-padded at the bottom/right to size."""
    piece = image[top : top + size, left : left + size]
    out = np.zeros((size, size), dtype=image.dtype)
    out[: piece.shape[0], : piece.shape[1]] = piece
    return out


def roi_crops(
    image: np.ndarray, rois: Sequence[np.ndarray], size: int
) -> Iterator[RoiCrop]:
    """One ``size x size`` crop per ROI, centred on it, with the merged mask's crop.

    Args:
        image: the prepared image (2-D).
        rois: one bool mask per ROI, each of ``image``'s shape; an empty one is skipped
            (the caller reports it: a ROI outside the image has no centre).
        size: crop side in pixels (positive).

    Yields:
        A :class:`RoiCrop` per non-empty ROI, in order.
    """
    if isinstance(size, bool) or int(size) < 1:
        raise ValueError(f"size must be a positive number of pixels. Received: size={size!r}")
    size = int(size)
    merged = np.zeros(image.shape[:2], dtype=bool)
    for roi in rois:
        merged |= roi
    for roi in rois:
        if not roi.any():
            continue
        top, left = roi_crop_window(roi, size, image.shape[:2])
        rows, cols = np.nonzero(roi)
        extent = (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
        yield RoiCrop(
            image=crop_padded(image, top, left, size),
            mask=crop_padded(merged, top, left, size),
            top=top,
            left=left,
            roi_extent=extent,
        )
