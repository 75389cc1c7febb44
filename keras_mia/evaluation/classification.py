"""Classification metrics on arrays of labels and probabilities.

Point estimates come from scikit-learn (``confusion_matrix``, ``roc_auc_score``,
``average_precision_score``). Bootstrap resamples need the same numbers thousands of times,
so :func:`fast_binary_metrics` recomputes them with NumPy (confusion counts by ``bincount``,
ROC AUC by the Mann-Whitney rank formula, average precision by sklearn's own step-wise sum);
``tests/evaluation/test_classification.py`` checks that both agree with scikit-learn.

Conventions:

- A score at or above the threshold is a positive prediction (as ``sklearn.metrics.roc_curve``
  counts it, so a threshold read off the ROC curve reproduces that curve's point).
- A ratio whose denominator is zero (e.g. specificity without negatives) and an AUC of a
  single-class sample are ``nan`` here and ``null`` in ``metrics.json``: undefined, not 0.
- ``pr_auc`` is the average precision (sklearn's step-wise area under the precision-recall
  curve; the trapezoidal area overestimates it).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    roc_auc_score,
)

__all__ = [
    "BINARY_METRICS",
    "COUNT_METRICS",
    "binary_metrics",
    "fast_binary_metrics",
    "fast_roc_auc",
    "rates_from_counts",
    "multiclass_metrics",
    "one_vs_rest_auc",
]

# The rates reported for a two-class decision, each with a bootstrap confidence interval.
BINARY_METRICS: tuple[str, ...] = (
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "roc_auc",
    "pr_auc",
)
# The confusion counts behind them (reported without intervals).
COUNT_METRICS: tuple[str, ...] = ("tp", "fp", "tn", "fn")


def binary_metrics(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
    y_pred: Sequence[int] | np.ndarray | None = None,
) -> dict[str, float]:
    """Two-class metrics of scores against 0/1 labels.

    Args:
        y_true: 0/1 labels (1 = the positive class).
        scores: the positive class's probability (any monotone score works for the AUCs).
        threshold: positive when ``score >= threshold``.
        y_pred: 0/1 decisions to use instead of thresholding ``scores`` (e.g. the
            segmentation area rule); the AUCs still come from ``scores``.

    Returns:
        ``tp``, ``fp``, ``tn``, ``fn`` (ints) and ``accuracy``, ``sensitivity``,
        ``specificity``, ``ppv``, ``npv``, ``roc_auc``, ``pr_auc`` (floats, ``nan`` when
        undefined).

    Raises:
        ValueError: the arrays differ in length, are empty, or labels are not 0/1.
    """
    y_true, scores = _check_binary(y_true, scores)
    y_pred = _decisions(scores, threshold, y_pred)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel())
    out: dict[str, float] = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    out.update(rates_from_counts(tp, fp, tn, fn))
    out["accuracy"] = float(accuracy_score(y_true, y_pred))
    both = 0 < y_true.sum() < len(y_true)
    out["roc_auc"] = float(roc_auc_score(y_true, scores)) if both else float("nan")
    out["pr_auc"] = (
        float(average_precision_score(y_true, scores)) if y_true.sum() > 0 else float("nan")
    )
    return out


def fast_binary_metrics(
    y_true: np.ndarray, scores: np.ndarray, y_pred: np.ndarray
) -> dict[str, float]:
    """The rates of :func:`binary_metrics` in NumPy, for bootstrap resamples.

    Args:
        y_true: int 0/1 labels.
        scores: float scores.
        y_pred: int 0/1 decisions.

    Returns:
        The ``BINARY_METRICS`` (``nan`` when undefined).
    """
    counts = np.bincount(y_true * 2 + y_pred, minlength=4)
    tn, fp, fn, tp = (int(c) for c in counts)
    out = rates_from_counts(tp, fp, tn, fn)
    out["roc_auc"] = fast_roc_auc(y_true, scores)
    out["pr_auc"] = _average_precision(y_true, scores) if tp + fn else float("nan")
    return out


def fast_roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney U statistic with average ranks for ties.

    This is exactly ``sklearn.metrics.roc_auc_score`` for 0/1 labels, without its input
    validation (which dominates the cost on small resamples).

    Args:
        y_true: 0/1 labels.
        scores: float scores.

    Returns:
        The AUC, or ``nan`` when only one class is present.
    """
    positives = np.asarray(y_true) == 1
    n_pos = int(positives.sum())
    n_neg = len(positives) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def rates_from_counts(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, PPV and NPV from confusion counts.

    Args:
        tp: true positives.
        fp: false positives.
        tn: true negatives.
        fn: false negatives.

    Returns:
        The five rates; ``nan`` where the denominator is zero.
    """
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
    }


def multiclass_metrics(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
) -> dict:
    """Accuracy, confusion matrix and per-class one-vs-rest results of a softmax classifier.

    Args:
        y_true: class indices.
        probabilities: ``[n, n_classes]``; the prediction is the arg-max.
        class_names: names in index order.

    Returns:
        ``accuracy``; ``confusion_matrix`` (rows: true class, columns: predicted, in
        ``class_names`` order); ``per_class``: name -> ``{"auc", "sensitivity", "ppv",
        "support"}`` (one-vs-rest; ``nan`` when undefined); ``macro_auc``: the mean of the
        defined per-class AUCs.

    Raises:
        ValueError: shapes disagree or a label is out of range.
    """
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(class_names)
    if probabilities.ndim != 2 or probabilities.shape != (len(y_true), n_classes):
        raise ValueError(
            f"probabilities must have shape (n, {n_classes}) = ({len(y_true)}, {n_classes}). "
            f"Received: shape={probabilities.shape}"
        )
    if len(y_true) == 0:
        raise ValueError("multiclass_metrics needs at least one sample. Received: 0 samples")
    if y_true.min() < 0 or y_true.max() >= n_classes:
        raise ValueError(
            f"Labels must be class indices in [0, {n_classes}). "
            f"Received: labels in [{y_true.min()}, {y_true.max()}]"
        )
    y_pred = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))
    per_class = {}
    for index, name in enumerate(class_names):
        support = int(matrix[index].sum())
        per_class[name] = {
            "auc": one_vs_rest_auc(y_true, probabilities, index),
            "sensitivity": _ratio(matrix[index, index], support),
            "ppv": _ratio(matrix[index, index], matrix[:, index].sum()),
            "support": support,
        }
    aucs = [v["auc"] for v in per_class.values() if not np.isnan(v["auc"])]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "confusion_matrix": matrix.astype(int).tolist(),
        "per_class": per_class,
        "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
    }


def one_vs_rest_auc(y_true: np.ndarray, probabilities: np.ndarray, index: int) -> float:
    """ROC AUC of class ``index``'s probability for "this class vs the others".

    Returns:
        The AUC, or ``nan`` when the sample has no member or only members of the class.
    """
    positives = (np.asarray(y_true) == index).astype(np.int64)
    if not 0 < positives.sum() < len(positives):
        return float("nan")
    return float(roc_auc_score(positives, np.asarray(probabilities)[:, index]))


def _check_binary(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if len(y_true) != len(scores):
        raise ValueError(
            f"y_true and scores must have the same length. "
            f"Received: {len(y_true)} labels and {len(scores)} scores"
        )
    if len(y_true) == 0:
        raise ValueError("Binary metrics need at least one sample. Received: 0 samples")
    values = set(np.unique(y_true).tolist())
    if not values <= {0, 1, True, False}:
        raise ValueError(f"y_true must hold 0/1 labels. Received values: {sorted(values)}")
    return y_true.astype(np.int64), scores


def _decisions(scores: np.ndarray, threshold: float, y_pred) -> np.ndarray:
    if y_pred is None:
        return (scores >= threshold).astype(np.int64)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    if len(y_pred) != len(scores):
        raise ValueError(
            f"y_pred must have one decision per score. "
            f"Received: {len(y_pred)} decisions and {len(scores)} scores"
        )
    return y_pred


def _ratio(numerator, denominator) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def _average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's average precision: sum over distinct thresholds of (R_n - R_{n-1}) P_n."""
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    hits = y_true[order]
    # The last index of each run of equal scores: one threshold per distinct score.
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tps = np.cumsum(hits)[last]
    fps = (last + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
