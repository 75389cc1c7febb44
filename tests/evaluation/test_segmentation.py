"""Tests for keras_mia.evaluation.segmentation: pixel and image-level metrics."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score

from keras_mia.evaluation.segmentation import (
    area_threshold,
    pixel_counts,
    pixel_intervals,
    pixel_metrics,
    predicted_positive,
)


def test_pixel_metrics_hand_computed():
    truth = np.zeros((4, 4), int)
    truth[0:2, 0:2] = 1  # 4 foreground pixels
    pred = np.zeros((4, 4), int)
    pred[1:3, 1:2] = 1  # (1,1) hit, (2,1) false positive
    counts = pixel_counts(truth, pred)
    assert counts == {"tp": 1, "fp": 1, "tn": 11, "fn": 3}
    m = pixel_metrics(**counts)
    assert m["iou_foreground"] == pytest.approx(1 / 5)
    assert m["iou_background"] == pytest.approx(11 / 15)
    assert m["iou"] == pytest.approx((1 / 5 + 11 / 15) / 2)
    assert m["dice"] == pytest.approx(2 / 6) == m["f1"]
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 4)
    assert m["accuracy"] == pytest.approx(12 / 16)


def test_pixel_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    truth = rng.random((20, 24)) > 0.7
    pred = rng.random((20, 24)) > 0.6
    m = pixel_metrics(**pixel_counts(truth, pred))
    assert m["iou_foreground"] == pytest.approx(jaccard_score(truth.ravel(), pred.ravel()))
    assert m["iou"] == pytest.approx(jaccard_score(truth.ravel(), pred.ravel(), average="macro"))
    assert m["dice"] == pytest.approx(f1_score(truth.ravel(), pred.ravel()))


def test_empty_truth_and_prediction():
    m = pixel_metrics(**pixel_counts(np.zeros((3, 3)), np.zeros((3, 3))))
    assert math.isnan(m["iou_foreground"]) and math.isnan(m["dice"])
    assert m["iou"] == 1.0  # only the background class is defined, and perfect
    assert m["accuracy"] == 1.0


def test_pixel_counts_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        pixel_counts(np.zeros((3, 3)), np.zeros((3, 4)))


def test_area_rule():
    # 30 x 25 = 750 pixels: more than one predicted pixel makes the image positive.
    assert area_threshold((30, 25)) == pytest.approx(1.0)
    mask = np.zeros((30, 25, 1))
    mask[0, 0] = 1
    assert not predicted_positive(mask)  # 1 pixel is not more than 1
    mask[0, 1] = 1
    assert predicted_positive(mask)
    assert area_threshold((640, 640), 750) == pytest.approx(640 * 640 / 750)
    with pytest.raises(ValueError, match="area_divisor"):
        area_threshold((10, 10), 0)


def test_pixel_intervals_resample_images_and_pool_their_counts():
    # Two perfect images and one that misses its whole lesion: pooled recall 10 / 20.
    counts = [{"tp": 5, "fp": 0, "tn": 95, "fn": 0}, {"tp": 5, "fp": 0, "tn": 95, "fn": 0},
              {"tp": 0, "fp": 0, "tn": 90, "fn": 10}]
    intervals, undefined = pixel_intervals(counts, resamples=400, seed=1)
    recall = intervals["recall"]
    assert recall["value"] == pytest.approx(0.5)
    # Resamples pool whole images: recall is 0 (only the miss), 1 (no miss) or in between.
    assert recall["ci_low"] == pytest.approx(0.0) and recall["ci_high"] == pytest.approx(1.0)
    assert intervals["precision"]["ci_low"] == pytest.approx(1.0)  # never a false positive
    assert undefined["precision"] > 0  # resamples of the missed image alone: no prediction
    assert pixel_intervals(counts, resamples=400, seed=1) == (intervals, undefined)
    with pytest.raises(ValueError, match="counts=\\[\\]"):
        pixel_intervals([])
