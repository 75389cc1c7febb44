"""Tests for keras_mia.evaluation.bootstrap and the reports built on it."""

import numpy as np
import pytest

from keras_mia.evaluation.bootstrap import bootstrap, percentile_interval
from keras_mia.evaluation.reports import binary_report, multiclass_report


def _data(seed, n=80):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(0.3 * labels + rng.random(n) * 0.7, 0, 1)
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interval_contains_point_estimate(seed):
    labels, scores = _data(seed)
    report = binary_report(labels, scores, 0.5, resamples=300, seed=seed)
    for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "roc_auc", "pr_auc"):
        entry = report[name]
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], (name, entry)
        assert entry["ci_low"] < entry["ci_high"], name


def test_same_seed_same_interval_other_seed_differs():
    labels, scores = _data(3)
    first = binary_report(labels, scores, resamples=200, seed=7)
    again = binary_report(labels, scores, resamples=200, seed=7)
    other = binary_report(labels, scores, resamples=200, seed=8)
    assert first == again
    assert first["roc_auc"]["ci_low"] != other["roc_auc"]["ci_low"]
    assert first["roc_auc"]["value"] == other["roc_auc"]["value"]


def test_bootstrap_resamples_with_replacement_reproducibly():
    seen = []
    samples = bootstrap(lambda idx: seen.append(idx.copy()) or {"mean": float(idx.mean())},
                        n=10, resamples=50, seed=0)
    assert samples["mean"].shape == (50,)
    assert all(len(idx) == 10 and idx.min() >= 0 and idx.max() < 10 for idx in seen)
    # With replacement: some resample repeats an index.
    assert any(len(set(idx.tolist())) < 10 for idx in seen)
    again = bootstrap(lambda idx: {"mean": float(idx.mean())}, n=10, resamples=50, seed=0)
    np.testing.assert_array_equal(samples["mean"], again["mean"])


def test_percentile_interval_counts_undefined_resamples():
    values = np.array([1.0, 2.0, 3.0, np.nan, 4.0, np.nan])
    low, high, undefined = percentile_interval(values, confidence=0.5)
    assert undefined == 2
    assert (low, high) == pytest.approx(tuple(np.percentile([1, 2, 3, 4], [25, 75])))
    assert percentile_interval(np.array([np.nan, 1.0])) == (None, None, 1)


def test_report_records_undefined_auc_resamples():
    # Two positives in 20: many resamples have none, so their AUC is undefined.
    labels = np.array([1, 1] + [0] * 18)
    scores = np.linspace(1, 0, 20)
    report = binary_report(labels, scores, resamples=200, seed=0)
    assert report["bootstrap_undefined"]["roc_auc"] > 0
    assert report["roc_auc"]["value"] == pytest.approx(1.0)
    assert report["n"] == 20 and report["positives"] == 2


def test_zero_resamples_gives_no_interval():
    labels, scores = _data(0, n=20)
    report = binary_report(labels, scores, resamples=0)
    assert report["accuracy"]["value"] is not None
    assert report["accuracy"]["ci_low"] is None


def test_multiclass_report_intervals():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    logits = rng.normal(size=(90, 3)) + 1.5 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    report = multiclass_report(labels, probs, ["a", "b", "c"], resamples=200, seed=0)
    for entry in [report["accuracy"], report["macro_auc"]] + [
        report["per_class"][c]["auc"] for c in "abc"
    ]:
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    assert np.sum(report["confusion_matrix"]) == 90
    assert report == multiclass_report(labels, probs, ["a", "b", "c"], resamples=200, seed=0)
