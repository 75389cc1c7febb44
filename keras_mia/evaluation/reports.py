"""Metric reports with bootstrap confidence intervals, as they are written to metrics.json.

Every rate is reported as ``{"value", "ci_low", "ci_high"}`` (``None`` where undefined); the
confusion counts are plain integers; ``bootstrap_undefined`` says, per metric, how many
resamples had to be left out of its interval because the metric was undefined on them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from keras_mia.evaluation.bootstrap import bootstrap, with_intervals
from keras_mia.evaluation.classification import (
    BINARY_METRICS,
    COUNT_METRICS,
    binary_metrics,
    fast_binary_metrics,
    fast_roc_auc,
    multiclass_metrics,
)

__all__ = ["binary_report", "multiclass_report"]


def binary_report(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    y_pred: Sequence[int] | np.ndarray | None = None,
) -> dict:
    """Two-class metrics with seeded percentile-bootstrap confidence intervals.

    Args:
        y_true: 0/1 labels.
        scores: positive-class probabilities.
        threshold: positive when ``score >= threshold`` (ignored when ``y_pred`` is given).
        resamples: bootstrap resamples (0: no intervals).
        seed: seeds the resampling.
        confidence: interval coverage.
        y_pred: explicit 0/1 decisions (e.g. the segmentation area rule).

    Returns:
        ``n``, ``positives``, ``threshold``, each of ``BINARY_METRICS`` as ``{"value",
        "ci_low", "ci_high"}``, the ``COUNT_METRICS`` and ``bootstrap_undefined``.
    """
    point = binary_metrics(y_true, scores, threshold, y_pred=y_pred)
    labels = np.asarray(y_true).ravel().astype(np.int64)
    values = np.asarray(scores, dtype=np.float64).ravel()
    decisions = (
        (values >= threshold).astype(np.int64)
        if y_pred is None
        else np.asarray(y_pred).ravel().astype(np.int64)
    )

    def statistic(indices):
        return fast_binary_metrics(labels[indices], values[indices], decisions[indices])

    samples = bootstrap(statistic, len(labels), resamples, seed)
    metrics, undefined = with_intervals(point, samples, BINARY_METRICS, confidence)
    report: dict = {
        "n": int(len(labels)),
        "positives": int(labels.sum()),
        "threshold": None if y_pred is not None else float(threshold),
    }
    report.update(metrics)
    report.update({name: int(point[name]) for name in COUNT_METRICS})
    report["bootstrap_undefined"] = undefined
    return report


def multiclass_report(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """Arg-max accuracy, confusion matrix and per-class one-vs-rest AUC, with intervals.

    Args:
        y_true: class indices.
        probabilities: ``[n, n_classes]``.
        class_names: in index order.
        resamples: bootstrap resamples.
        seed: seeds the resampling.
        confidence: interval coverage.

    Returns:
        ``n``; ``accuracy`` and ``macro_auc`` as ``{"value", "ci_low", "ci_high"}``;
        ``per_class``: name -> ``{"auc": {...}, "sensitivity", "ppv", "support"}``;
        ``confusion_matrix`` (rows true, columns predicted); ``class_names``;
        ``bootstrap_undefined``.
    """
    point = multiclass_metrics(y_true, probabilities, class_names)
    labels = np.asarray(y_true).ravel().astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    auc_names = [f"auc/{name}" for name in class_names]

    def statistic(indices):
        sample_labels = labels[indices]
        out = {"accuracy": float(np.mean(predicted[indices] == sample_labels))}
        aucs = []
        for k, key in enumerate(auc_names):
            auc = fast_roc_auc((sample_labels == k).astype(np.int64), probabilities[indices, k])
            out[key] = auc
            if not np.isnan(auc):
                aucs.append(auc)
        out["macro_auc"] = float(np.mean(aucs)) if aucs else float("nan")
        return out

    flat_point = {"accuracy": point["accuracy"], "macro_auc": point["macro_auc"]}
    flat_point.update(
        {key: point["per_class"][name]["auc"] for key, name in zip(auc_names, class_names)}
    )
    samples = bootstrap(statistic, len(labels), resamples, seed)
    metrics, undefined = with_intervals(
        flat_point, samples, ["accuracy", "macro_auc"] + auc_names, confidence
    )
    per_class = {}
    for key, name in zip(auc_names, class_names):
        entry = dict(point["per_class"][name])
        entry["auc"] = metrics[key]
        for rate in ("sensitivity", "ppv"):
            entry[rate] = None if np.isnan(entry[rate]) else entry[rate]
        per_class[name] = entry
    return {
        "n": int(len(labels)),
        "class_names": list(class_names),
        "accuracy": metrics["accuracy"],
        "macro_auc": metrics["macro_auc"],
        "per_class": per_class,
        "confusion_matrix": point["confusion_matrix"],
        "bootstrap_undefined": undefined,
    }
