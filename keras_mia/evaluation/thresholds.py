"""Operating thresholds: fixed, Youden's J, or the highest one reaching a target sensitivity.

Rules other than ``"fixed"`` are meant to be applied to the *validation* split, and the
threshold they give then used unchanged on the test split (choosing it on the test split
would flatter the test results).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import roc_curve

__all__ = ["THRESHOLD_RULES", "choose_threshold"]

THRESHOLD_RULES: tuple[str, ...] = ("fixed", "youden", "sensitivity")


def choose_threshold(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    rule: str = "fixed",
    threshold: float = 0.5,
    target_sensitivity: float = 0.9,
) -> float:
    """Chooses the operating threshold (positive when ``score >= threshold``).

    Args:
        y_true: 0/1 labels of the split the threshold is chosen on.
        scores: the positive class's probabilities.
        rule: ``"fixed"`` (returns ``threshold``), ``"youden"`` (maximises sensitivity +
            specificity - 1; among ties the highest threshold), or ``"sensitivity"`` (the
            highest threshold whose sensitivity is at least ``target_sensitivity``, i.e. the
            best specificity at that sensitivity).
        threshold: the fixed threshold.
        target_sensitivity: for ``rule="sensitivity"``, in (0, 1].

    Returns:
        The threshold, a float in [0, 1] for probability scores.

    Raises:
        ValueError: an unknown rule, a target outside (0, 1], or a data-driven rule on
            labels of one class only.
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"rule must be one of {THRESHOLD_RULES}. Received: rule={rule!r}")
    if rule == "fixed":
        return float(threshold)
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not 0 < y_true.sum() < len(y_true):
        raise ValueError(
            f"threshold rule {rule!r} needs both classes in the split it is chosen on. "
            f"Received: {int(y_true.sum())} positive(s) of {len(y_true)}"
        )
    fpr, tpr, thresholds = roc_curve(y_true, scores, drop_intermediate=False)
    if rule == "youden":
        # argmax takes the first maximum: the highest threshold among equally good ones.
        index = int(np.argmax(tpr - fpr))
    else:
        if not 0 < target_sensitivity <= 1:
            raise ValueError(
                "target_sensitivity must be in (0, 1]. "
                f"Received: target_sensitivity={target_sensitivity}"
            )
        # tpr never decreases along the curve, so the first index reaching the target is
        # the highest threshold that does.
        index = int(np.argmax(tpr >= target_sensitivity - 1e-12))
    chosen = float(thresholds[index])
    if np.isinf(chosen):
        # roc_curve's first point (nothing positive) has threshold +inf; just above the
        # highest score gives the same decisions with a finite number.
        chosen = float(np.nextafter(scores.max(), np.inf))
    return chosen
