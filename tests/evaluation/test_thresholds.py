"""Tests for keras_mia.evaluation.thresholds and keras_mia.evaluation.patients."""

import numpy as np
import pytest

from keras_mia.evaluation.patients import aggregate_by_patient
from keras_mia.evaluation.thresholds import choose_threshold

#           positives             negatives
LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
SCORES = [0.9, 0.8, 0.6, 0.35, 0.7, 0.4, 0.3, 0.2, 0.1, 0.05]


def test_fixed_rule_returns_the_fixed_threshold():
    assert choose_threshold(LABELS, SCORES, "fixed", threshold=0.42) == 0.42


def test_youden_hand_computed():
    # Candidate thresholds and sensitivity + specificity - 1:
    #   0.9: 1/4 + 6/6 - 1 = 0.25     0.8: 2/4 + 6/6 - 1 = 0.5     0.7: 2/4 + 5/6 - 1 = 0.333
    #   0.6: 3/4 + 5/6 - 1 = 0.583    0.4: 3/4 + 4/6 - 1 = 0.417   0.35: 4/4 + 4/6 - 1 = 0.667
    #   lower thresholds keep sensitivity 1 and lose specificity.
    assert choose_threshold(LABELS, SCORES, "youden") == pytest.approx(0.35)


def test_sensitivity_rule_takes_highest_threshold_reaching_target():
    assert choose_threshold(LABELS, SCORES, "sensitivity", target_sensitivity=0.75) == 0.6
    assert choose_threshold(LABELS, SCORES, "sensitivity", target_sensitivity=1.0) == 0.35
    assert choose_threshold(LABELS, SCORES, "sensitivity", target_sensitivity=0.5) == 0.8


def test_chosen_threshold_reproduces_its_sensitivity():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(0.2 * labels + rng.random(200), 0, 1)
    t = choose_threshold(labels, scores, "sensitivity", target_sensitivity=0.9)
    predicted = scores >= t
    sensitivity = predicted[labels == 1].mean()
    assert sensitivity >= 0.9
    # The next higher score would drop below the target: t is the highest that works.
    higher = scores[scores > t].min()
    assert (scores >= higher)[labels == 1].mean() < 0.9


def test_data_rules_need_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold([1, 1], [0.2, 0.3], "youden")
    with pytest.raises(ValueError, match="rule must be one of"):
        choose_threshold(LABELS, SCORES, "otsu")
    with pytest.raises(ValueError, match="target_sensitivity"):
        choose_threshold(LABELS, SCORES, "sensitivity", target_sensitivity=1.5)


def test_patient_aggregation_max_and_mean():
    ids = ["a", "b", "a", "c", "b"]
    labels = [0, 1, 1, 0, 0]
    scores = [0.2, 0.9, 0.6, 0.1, 0.3]
    patients, y, s = aggregate_by_patient(ids, labels, scores, "max")
    assert patients == ["a", "b", "c"]
    np.testing.assert_array_equal(y, [1, 1, 0])
    np.testing.assert_allclose(s, [0.6, 0.9, 0.1])
    _, _, mean = aggregate_by_patient(ids, labels, scores, "mean")
    np.testing.assert_allclose(mean, [0.4, 0.6, 0.1])


def test_patient_aggregation_rejects_bad_input():
    with pytest.raises(ValueError, match="how must be"):
        aggregate_by_patient(["a"], [0], [0.1], "median")
    with pytest.raises(ValueError, match="patient id"):
        aggregate_by_patient(["a", ""], [0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        aggregate_by_patient(["a"], [0, 1], [0.1, 0.2])
