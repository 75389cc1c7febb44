"""Segmentation metrics: pixel-level overlap and Scuccimarra's image-level area rule.

Pixel counts come from ``sklearn.metrics.confusion_matrix``, accumulated image by image so a
whole test set of full-size mammograms never has to sit in memory at once. Image level
(SPEC section 3): an image is predicted positive when more than ``height * width /
area_divisor`` of its pixels are predicted positive (``size**2 / 750`` for Scuccimarra's
square crops). It is truly positive when its *label* says so (``image_truth``): normal vs
abnormal by default, as Scuccimarra scored MIAS (every abnormal image counts, also the few
whose abnormality has no coordinates and hence no mask), or the labels listed in
``evaluation.image_positive``. Only an image whose label says neither takes its truth from
its mask (any foreground pixel), and ``image_truth`` names those images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix

__all__ = [
    "NEGATIVE_LABELS",
    "ABNORMAL_LABELS",
    "ImageTruth",
    "image_truth",
    "PIXEL_METRICS",
    "pixel_counts",
    "pixel_metrics",
    "area_threshold",
    "predicted_positive",
    "pixel_intervals",
]

# The mammography labels every adapter writes (lower case): the default truth rule reads them.
NEGATIVE_LABELS: tuple[str, ...] = ("normal",)
ABNORMAL_LABELS: tuple[str, ...] = ("benign", "malignant", "abnormal", "benign_without_callback")

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


def pixel_intervals(
    counts: Sequence[dict[str, int]],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[dict[str, dict[str, float | None]], dict[str, int]]:
    """Bootstrap confidence intervals of the pooled pixel metrics, resampling images.

    The pixels of one image are not independent draws (a lesion is one blob), so the unit of
    resampling is the image: each resample draws images with replacement and pools their
    ``pixel_counts`` before ``pixel_metrics``, exactly as the point estimate pools them.

    Args:
        counts: one ``pixel_counts`` dict per image.
        resamples: bootstrap resamples (0: no intervals).
        seed: seeds the resampling.
        confidence: interval coverage.

    Returns:
        ``(intervals, undefined)``: ``intervals[name] = {"value", "ci_low", "ci_high"}`` for
        every ``PIXEL_METRICS`` name (``None`` where undefined) and ``undefined[name]`` = the
        resamples on which the metric was undefined (e.g. no foreground pixel drawn).

    Raises:
        ValueError: ``counts`` is empty.
    """
    from keras_mia.evaluation.bootstrap import bootstrap, with_intervals

    if not counts:
        raise ValueError(f"pixel_intervals needs at least one image. Received: counts={counts!r}")
    table = np.array([[c[k] for k in ("tp", "fp", "tn", "fn")] for c in counts], dtype=np.int64)

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return pixel_metrics(*table[indices].sum(axis=0).tolist())

    point = pixel_metrics(*table.sum(axis=0).tolist())
    samples = bootstrap(statistic, len(table), resamples, seed)
    return with_intervals(point, samples, PIXEL_METRICS, confidence)


def _ratio(numerator, denominator) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


@dataclasses.dataclass(frozen=True)
class ImageTruth:
    """Image-level truth of a segmentation test set, and where each value came from.

    Attributes:
        truth: int ``[n]``, 1 for a truly positive image.
        from_mask: indices of the images whose label could not say and whose truth is
            ``mask.any()``.
        rule: one line: the rule applied.
    """

    truth: np.ndarray
    from_mask: tuple[int, ...]
    rule: str


def image_truth(
    labels: Sequence[str],
    mask_positive: Sequence[bool],
    positive_labels: Sequence[str] | None = None,
) -> ImageTruth:
    """Which images are truly positive: from their labels, the mask only where labels cannot say.

    ``mask.any()`` alone would score an abnormal image whose abnormality has no outline (four
    mini-MIAS images list an abnormality without coordinates) as normal. The label decides:

    - ``positive_labels=None``: normal vs abnormal. ``normal`` (any case) is negative;
      ``benign``, ``malignant``, ``abnormal`` and ``benign_without_callback`` are positive.
      Any other label (or an empty one) cannot say, and that image's truth is
      ``mask_positive`` (listed in ``from_mask``).
    - ``positive_labels`` given (``evaluation.image_positive``, e.g. ``["malignant"]``):
      exactly those labels are positive and every other non-empty label is negative; only an
      empty label falls back to the mask.

    Args:
        labels: each image's manifest label (after the recipe's ``label_map``).
        mask_positive: whether each image's mask has any foreground pixel.
        positive_labels: the positive labels, or ``None`` for normal vs abnormal.

    Returns:
        The ``ImageTruth``.

    Raises:
        ValueError: ``labels`` and ``mask_positive`` differ in length, or ``positive_labels``
            is empty.
    """
    labels = [str(label).strip() for label in labels]
    mask_positive = [bool(v) for v in mask_positive]
    if len(labels) != len(mask_positive):
        raise ValueError(
            f"One label per mask expected. Received: {len(labels)} labels, "
            f"{len(mask_positive)} masks"
        )
    if positive_labels is not None:
        wanted = {str(label).strip() for label in positive_labels}
        if not wanted:
            raise ValueError(
                f"positive_labels must name at least one label. Received: {positive_labels!r}"
            )
        rule = f"label in {sorted(wanted)} (others negative); an empty label: mask.any()"

        def from_label(label: str) -> int | None:
            return None if not label else int(label in wanted)
    else:
        rule = (f"label: {'/'.join(NEGATIVE_LABELS)} negative, {'/'.join(ABNORMAL_LABELS)} "
                "positive; any other label: mask.any()")

        def from_label(label: str) -> int | None:
            key = label.lower()
            if key in NEGATIVE_LABELS:
                return 0
            if key in ABNORMAL_LABELS:
                return 1
            return None

    truth, fallback = [], []
    for i, (label, has_mask) in enumerate(zip(labels, mask_positive)):
        value = from_label(label)
        if value is None:
            fallback.append(i)
            value = int(has_mask)
        truth.append(value)
    return ImageTruth(np.asarray(truth, dtype=np.int64), tuple(fallback), rule)
