"""Segmentation metrics: pixel-level overlap and Scuccimarra's image-level area rule.

Pixel counts come from ``sklearn.metrics.confusion_matrix``, accumulated image by image so a
whole test set of full-size mammograms never has to sit in memory at once. Image level
(SPEC section 3): an image is predicted positive when more than ``height * width /
area_divisor`` of its pixels are predicted positive (``size**2 / 750`` for Scuccimarra's
square crops), and it is truly positive when its mask has any foreground pixel.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

__all__ = [
    "PIXEL_METRICS",
    "pixel_counts",
    "pixel_metrics",
    "area_threshold",
    "predicted_positive",
]

PIXEL_METRICS: tuple[str, ...] = (
    "iou",
    "iou_foreground",
    "iou_background",
    "dice",
    "precision",
    "recall",
    "f1",
    "accuracy",
)


def pixel_counts(mask_true: np.ndarray, mask_pred: np.ndarray) -> dict[str, int]:
    """Pixel confusion counts of a predicted mask against the true one.

    Args:
        mask_true: truth, any shape; non-zero is foreground.
        mask_pred: 0/1 (or boolean) prediction of the same shape.

    Returns:
        ``{"tp", "fp", "tn", "fn"}`` pixel counts.

    Raises:
        ValueError: the shapes differ.
    """
    mask_true = np.asarray(mask_true)
    mask_pred = np.asarray(mask_pred)
    if mask_true.shape != mask_pred.shape:
        raise ValueError(
            f"Masks must have the same shape. Received: {mask_true.shape} and {mask_pred.shape}"
        )
    tn, fp, fn, tp = confusion_matrix(
        (mask_true.ravel() != 0), (mask_pred.ravel() != 0), labels=[False, True]
    ).ravel()
    return {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}


def pixel_metrics(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Overlap metrics from (summed) pixel counts.

    ``iou`` is the mean of the foreground and background IoU (the "mean IoU over the 2
    classes" Scuccimarra monitored); ``dice`` equals ``f1`` for binary masks and is kept
    under both names.

    Args:
        tp: foreground pixels predicted foreground.
        fp: background pixels predicted foreground.
        tn: background pixels predicted background.
        fn: foreground pixels predicted background.

    Returns:
        ``PIXEL_METRICS`` (``nan`` where the denominator is zero).
    """
    iou_fg = _ratio(tp, tp + fp + fn)
    iou_bg = _ratio(tn, tn + fn + fp)
    defined = [v for v in (iou_fg, iou_bg) if not np.isnan(v)]
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "iou": float(np.mean(defined)) if defined else float("nan"),
        "iou_foreground": iou_fg,
        "iou_background": iou_bg,
        "dice": dice,
        "precision": precision,
        "recall": recall,
        "f1": dice,
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
    }


def area_threshold(shape: tuple[int, ...], area_divisor: float = 750.0) -> float:
    """Pixels a predicted area must exceed for the image to count as positive.

    Args:
        shape: the mask's ``(height, width)`` (extra trailing axes of size 1 are allowed).
        area_divisor: 750 in Scuccimarra.

    Returns:
        ``height * width / area_divisor``.

    Raises:
        ValueError: ``area_divisor <= 0``.
    """
    if area_divisor <= 0:
        raise ValueError(f"area_divisor must be > 0. Received: area_divisor={area_divisor}")
    return float(shape[0]) * float(shape[1]) / float(area_divisor)


def predicted_positive(mask_pred: np.ndarray, area_divisor: float = 750.0) -> bool:
    """Scuccimarra's image-level decision for one predicted 0/1 mask ``[H, W(, 1)]``."""
    mask_pred = np.asarray(mask_pred)
    return bool(np.count_nonzero(mask_pred) > area_threshold(mask_pred.shape, area_divisor))


def _ratio(numerator, denominator) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")
