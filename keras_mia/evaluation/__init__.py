"""Evaluation: metrics with bootstrap confidence intervals, thresholds, plots, run evaluation.

The array-level functions (scikit-learn and NumPy only) import eagerly; ``evaluate_run``,
which needs TensorFlow and Keras, is imported on first use so that light users (``predict``
writing heatmap figures) do not load the model code.
"""

from keras_mia.evaluation.bootstrap import bootstrap, percentile_interval, with_intervals
from keras_mia.evaluation.classification import (
    BINARY_METRICS,
    COUNT_METRICS,
    binary_metrics,
    fast_binary_metrics,
    fast_roc_auc,
    multiclass_metrics,
    one_vs_rest_auc,
    rates_from_counts,
)
from keras_mia.evaluation.patients import AGGREGATIONS, aggregate_by_patient
from keras_mia.evaluation.reports import binary_report, multiclass_report
from keras_mia.evaluation.segmentation import (
    PIXEL_METRICS,
    area_threshold,
    pixel_counts,
    pixel_metrics,
    predicted_positive,
)
from keras_mia.evaluation.thresholds import THRESHOLD_RULES, choose_threshold

__all__ = [
    "AGGREGATIONS",
    "BINARY_METRICS",
    "COUNT_METRICS",
    "PIXEL_METRICS",
    "THRESHOLD_RULES",
    "aggregate_by_patient",
    "area_threshold",
    "binary_metrics",
    "binary_report",
    "bootstrap",
    "choose_threshold",
    "evaluate_run",
    "fast_binary_metrics",
    "fast_roc_auc",
    "multiclass_metrics",
    "multiclass_report",
    "one_vs_rest_auc",
    "percentile_interval",
    "pixel_counts",
    "pixel_metrics",
    "predicted_positive",
    "rates_from_counts",
    "with_intervals",
]


def __getattr__(name):
    if name == "evaluate_run":
        from keras_mia.evaluation.evaluate import evaluate_run

        return evaluate_run
    raise AttributeError(f"module 'keras_mia.evaluation' has no attribute {name!r}")
