"""Tests for keras_mia.evaluation.classification: hand-computed cases and sklearn agreement."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from keras_mia.evaluation.classification import (
    binary_metrics,
    fast_binary_metrics,
    fast_roc_auc,
    multiclass_metrics,
    one_vs_rest_auc,
    rates_from_counts,
)

# Ten images, threshold 0.5:
#   labels  1    1    1    1    0    0    0    0    0    0
#   scores .9   .8   .4   .6   .7   .2   .1   .3   .05  .5
#   pred    1    1    0    1    1    0    0    0    0    1
# TP = 3, FN = 1, FP = 2, TN = 4.
LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
SCORES = [0.9, 0.8, 0.4, 0.6, 0.7, 0.2, 0.1, 0.3, 0.05, 0.5]


def test_binary_metrics_hand_computed():
    m = binary_metrics(LABELS, SCORES, threshold=0.5)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (3, 1, 2, 4)
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(4 / 6)
    assert m["ppv"] == pytest.approx(3 / 5)
    assert m["npv"] == pytest.approx(4 / 5)
    # Pairs (positive, negative) ranked correctly: for each positive, negatives below it:
    # 0.9 -> 6, 0.8 -> 6, 0.6 -> 5 (not 0.7), 0.4 -> 4 (0.2, 0.1, 0.3, 0.05). 21 of 24.
    assert m["roc_auc"] == pytest.approx(21 / 24)
    # Average precision: positives at ranks 1, 2, 4 (0.6 after 0.7) and 6 (0.4 after 0.5):
    # (1/1 + 2/2 + 3/4 + 4/6) / 4.
    assert m["pr_auc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)


def test_threshold_is_inclusive():
    # A score equal to the threshold is a positive prediction (as roc_curve counts it).
    m = binary_metrics([1, 0], [0.5, 0.4], threshold=0.5)
    assert m["tp"] == 1 and m["tn"] == 1


def test_explicit_decisions_override_threshold():
    m = binary_metrics([1, 1, 0, 0], [0.9, 0.1, 0.8, 0.2], y_pred=[0, 0, 0, 1])
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (0, 2, 1, 1)
    assert m["roc_auc"] == pytest.approx(0.5)


def test_undefined_rates_are_nan_not_zero():
    m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(m["specificity"]) and math.isnan(m["roc_auc"])
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["npv"] == 0.0  # one FN, no TN: NPV = 0 / 1 is defined
    none_positive = binary_metrics([0, 0], [0.1, 0.2])
    assert math.isnan(none_positive["pr_auc"]) and math.isnan(none_positive["ppv"])


def test_rates_from_counts():
    assert rates_from_counts(tp=8, fp=2, tn=5, fn=0) == pytest.approx(
        {"accuracy": 13 / 15, "sensitivity": 1.0, "specificity": 5 / 7, "ppv": 0.8, "npv": 1.0}
    )


@pytest.mark.parametrize("seed", range(5))
def test_fast_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    # Rounded scores create ties, which both AUC computations must treat alike.
    scores = np.round(rng.random(n), 1)
    decisions = (scores >= 0.5).astype(int)
    fast = fast_binary_metrics(labels, scores, decisions)
    slow = binary_metrics(labels, scores, 0.5)
    for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "roc_auc", "pr_auc"):
        assert fast[name] == pytest.approx(slow[name], abs=1e-12), name
    assert fast["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert fast["pr_auc"] == pytest.approx(average_precision_score(labels, scores))


def test_fast_roc_auc_single_class_is_nan():
    assert math.isnan(fast_roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_binary_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="0/1"):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError, match="at least one"):
        binary_metrics([], [])


def test_multiclass_hand_computed():
    labels = [0, 0, 1, 1, 2, 2]
    probs = np.array([
        [0.8, 0.1, 0.1],  # 0 -> 0
        [0.3, 0.6, 0.1],  # 0 -> 1
        [0.1, 0.7, 0.2],  # 1 -> 1
        [0.2, 0.5, 0.3],  # 1 -> 1
        [0.1, 0.2, 0.7],  # 2 -> 2
        [0.5, 0.1, 0.4],  # 2 -> 0
    ])
    m = multiclass_metrics(labels, probs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"]["sensitivity"] == 1.0
    assert m["per_class"]["b"]["ppv"] == pytest.approx(2 / 3)
    assert m["per_class"]["a"]["support"] == 2
    # Class a vs rest: positives score .8, .3; negatives .1 .2 .1 .5: 4 + 3 = 7 of 8 pairs.
    assert m["per_class"]["a"]["auc"] == pytest.approx(7 / 8)
    expected = np.mean([one_vs_rest_auc(np.array(labels), probs, k) for k in range(3)])
    assert m["macro_auc"] == pytest.approx(expected)


def test_multiclass_absent_class_has_undefined_auc():
    m = multiclass_metrics([0, 1, 0], np.array([[0.6, 0.3, 0.1]] * 3), ["a", "b", "c"])
    assert math.isnan(m["per_class"]["c"]["auc"])
    assert m["per_class"]["c"]["support"] == 0


def test_multiclass_rejects_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        multiclass_metrics([0, 1], np.zeros((2, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="class indices"):
        multiclass_metrics([0, 3], np.zeros((2, 3)), ["a", "b", "c"])
