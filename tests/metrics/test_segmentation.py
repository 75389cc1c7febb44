"""Segmentation metrics of keras_mia.metrics against scikit-learn (both Keras backends)."""

import keras
import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from keras_mia.losses import WeightedSigmoidCrossEntropy
from keras_mia.metrics import (
    AREA_DIVISOR,
    Dice,
    ImageAccuracy,
    ImagePrecision,
    ImageRecall,
    ImageSpecificity,
    PixelAccuracy,
    PixelF1,
    PixelPrecision,
    PixelRecall,
    SegmentationIoU,
    image_positive,
    predicted_positive_pixels,
)

PIXEL_METRICS = (SegmentationIoU, PixelAccuracy, PixelPrecision, PixelRecall, PixelF1)
IMAGE_METRICS = (ImageAccuracy, ImagePrecision, ImageRecall, ImageSpecificity)


def _result(metric):
    return float(keras.ops.convert_to_numpy(metric.result()))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def _masks_and_logits(rng, n=6, size=16):
    """Square lesions with noisy logits; image 0 is empty in truth and prediction."""
    masks = np.zeros((n, size, size, 1), "float32")
    for i in range(1, n):
        top, left = rng.integers(0, size - 6, 2)
        side = rng.integers(2, 6)
        masks[i, top:top + side, left:left + side] = 1
    logits = (4.0 * (masks - 0.5) + rng.normal(0, 2.5, masks.shape)).astype("float32")
    logits[0] = -5.0
    return masks, logits


def _sklearn_pixels(masks, predicted, sample_weight=None):
    y, p = masks.ravel().astype(int), predicted.ravel().astype(int)
    return {
        SegmentationIoU: jaccard_score(y, p, average="macro", labels=[0, 1],
                                       sample_weight=sample_weight),
        PixelAccuracy: accuracy_score(y, p, sample_weight=sample_weight),
        PixelPrecision: precision_score(y, p, sample_weight=sample_weight),
        PixelRecall: recall_score(y, p, sample_weight=sample_weight),
        PixelF1: f1_score(y, p, sample_weight=sample_weight),
    }


def _update_in_two_batches(metric, masks, predictions, sample_weight=None):
    half = len(masks) // 2
    for part in (slice(0, half), slice(half, None)):
        weight = None if sample_weight is None else sample_weight[part]
        metric.update_state(masks[part], predictions[part], sample_weight=weight)
    return _result(metric)


# keras.metrics.MeanIoU asks JAX for an int64 confusion matrix, which JAX truncates to int32.
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64")
def test_pixel_metrics_match_sklearn_on_logits(rng):
    masks, logits = _masks_and_logits(rng)
    expected = _sklearn_pixels(masks, logits >= 0)
    for cls in PIXEL_METRICS:
        value = _update_in_two_batches(cls(), masks, logits)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__
    # The IoU is Keras' own MeanIoU over the two classes.
    mean_iou = keras.metrics.MeanIoU(num_classes=2)
    mean_iou.update_state(masks.ravel(), (logits >= 0).ravel())
    assert _update_in_two_batches(SegmentationIoU(), masks, logits) == pytest.approx(
        _result(mean_iou), abs=1e-6
    )


def test_pixel_metrics_on_probabilities_with_a_threshold_and_2d_masks(rng):
    masks, logits = _masks_and_logits(rng)
    probs = _sigmoid(logits).astype("float32")
    expected = _sklearn_pixels(masks, probs >= 0.3)
    for cls in PIXEL_METRICS:
        metric = cls(threshold=0.3, from_logits=False)
        # Masks without the channel axis, as mask pipelines often yield them.
        value = _update_in_two_batches(metric, masks[..., 0], probs)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__


def test_pixel_metrics_with_per_image_sample_weights(rng):
    masks, logits = _masks_and_logits(rng)
    weights = rng.uniform(0.5, 2.0, len(masks)).astype("float32")
    per_pixel = np.repeat(weights, masks[0].size)
    expected = _sklearn_pixels(masks, logits >= 0, sample_weight=per_pixel)
    for cls in PIXEL_METRICS:
        value = _update_in_two_batches(cls(), masks, logits, sample_weight=weights)
        assert value == pytest.approx(expected[cls], rel=1e-5), cls.__name__


def test_iou_is_the_mean_over_the_two_classes_by_hand():
    # 4x4 image: 3 true positive pixels, 1 false positive, 2 false negatives, 10 true negatives.
    mask = np.zeros((1, 4, 4, 1), "float32")
    pred = np.zeros((1, 4, 4, 1), "float32")
    mask.ravel()[[0, 1, 2, 3, 4]] = 1
    pred.ravel()[[0, 1, 2, 5]] = 1
    metric = SegmentationIoU(from_logits=False)
    metric.update_state(mask, pred)
    assert _result(metric) == pytest.approx((3 / 6 + 10 / 13) / 2)
    # Only background anywhere: the absent class does not count (as in keras MeanIoU).
    metric = SegmentationIoU(from_logits=False)
    metric.update_state(np.zeros_like(mask), np.zeros_like(pred))
    assert _result(metric) == pytest.approx(1.0)


def test_dice_is_the_mean_per_image_dice(rng):
    masks, logits = _masks_and_logits(rng)
    predicted = logits >= 0
    # sklearn's F1 of one image's pixels is its Dice; empty truth and prediction count as 1.
    expected = np.mean([
        f1_score(m.ravel(), p.ravel(), zero_division=1.0) for m, p in zip(masks, predicted)
    ])
    assert _update_in_two_batches(Dice(), masks, logits) == pytest.approx(expected, abs=1e-6)
    weights = np.arange(1, len(masks) + 1, dtype="float32")
    per_image = [f1_score(m.ravel(), p.ravel(), zero_division=1.0)
                 for m, p in zip(masks, predicted)]
    expected = np.dot(weights, per_image) / weights.sum()
    value = _update_in_two_batches(Dice(), masks, logits, sample_weight=weights)
    assert value == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("size", [64, 640])
def test_image_positive_rule_is_area_over_size_squared_over_750(size):
    limit = size * size / 750  # 5.46 for 64 px, 546.13 for 640 px
    below, above = int(np.floor(limit)), int(np.floor(limit)) + 1
    probs = np.zeros((2, size, size, 1), "float32")
    probs[0].ravel()[:below] = 0.9
    probs[1].ravel()[:above] = 0.9
    decided = keras.ops.convert_to_numpy(image_positive(probs, from_logits=False))
    np.testing.assert_array_equal(decided, [False, True])
    # The same in logits, and a higher pixel threshold that no pixel passes.
    logits = np.where(probs > 0, 2.2, -3.0).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(image_positive(logits)),
                                  [False, True])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(image_positive(probs, from_logits=False, threshold=0.95)),
        [False, False],
    )
    assert AREA_DIVISOR == 750


def test_image_positive_counts_height_times_width_and_a_custom_divisor():
    probs = np.zeros((1, 30, 50, 1), "float32")  # 1500 pixels: 2 for the rule of 750
    probs[0, 0, :3] = 1.0
    assert bool(keras.ops.convert_to_numpy(image_positive(probs, from_logits=False))[0])
    assert not bool(keras.ops.convert_to_numpy(
        image_positive(probs, from_logits=False, area_divisor=500)
    )[0])
    pixels = keras.ops.convert_to_numpy(predicted_positive_pixels(probs, from_logits=False))
    assert pixels.shape == (1, 1500) and pixels.sum() == 3


def test_image_level_metrics_match_sklearn_on_the_area_rule():
    size = 32  # an image is predicted positive above 1024 / 750 = 1.37 pixels, i.e. from 2
    # 3 TN, 1 FP, 4 TP, 2 FN: accuracy, precision, recall and specificity all differ.
    predicted_areas = [0, 1, 0, 5, 2, 3, 9, 7, 0, 1]
    truth_areas = [0, 0, 0, 0, 4, 4, 1, 2, 4, 3]
    probs = np.zeros((10, size, size, 1), "float32")
    masks = np.zeros((10, size, size, 1), "float32")
    for i, (pred_area, true_area) in enumerate(zip(predicted_areas, truth_areas)):
        probs[i].ravel()[:pred_area] = 0.8
        if true_area:
            masks[i].ravel()[-true_area:] = 1
    predicted = np.array(predicted_areas) > size * size / 750
    actual = np.array(truth_areas) > 0
    expected = {
        ImageAccuracy: accuracy_score(actual, predicted),
        ImagePrecision: precision_score(actual, predicted),
        ImageRecall: recall_score(actual, predicted),
        ImageSpecificity: recall_score(actual, predicted, pos_label=False),
    }
    assert [expected[cls] for cls in IMAGE_METRICS] == pytest.approx([0.7, 0.8, 4 / 6, 0.75])
    for cls in IMAGE_METRICS:
        value = _update_in_two_batches(cls(from_logits=False), masks, probs)
        assert value == pytest.approx(expected[cls]), cls.__name__
    # A larger divisor lowers the area limit to below 1 pixel: 1-pixel predictions turn positive.
    recall = _update_in_two_batches(ImageRecall(from_logits=False, area_divisor=2000), masks,
                                    probs)
    assert recall == pytest.approx(recall_score(actual, np.array(predicted_areas) > 0))


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="threshold=-0.1"):
        PixelF1(threshold=-0.1)
    with pytest.raises(ValueError, match="threshold=2"):
        Dice(threshold=2)
    with pytest.raises(ValueError, match="area_divisor=0"):
        ImageRecall(area_divisor=0)


def _all_metrics():
    return [
        SegmentationIoU(threshold=0.4),
        PixelAccuracy(from_logits=False),
        PixelPrecision(name="pp"),
        PixelRecall(),
        PixelF1(),
        Dice(threshold=0.6),
        ImageAccuracy(area_divisor=300),
        ImagePrecision(),
        ImageRecall(from_logits=False),
        ImageSpecificity(),
    ]


def test_reset_state_forgets_earlier_batches(rng):
    masks, logits = _masks_and_logits(rng)
    for metric, fresh in zip(_all_metrics(), _all_metrics()):
        metric.update_state(masks[:3], logits[:3])
        metric.reset_state()
        for variable in metric.variables:
            assert not np.any(keras.ops.convert_to_numpy(variable)), metric.name
        metric.update_state(masks[3:], logits[3:])
        fresh.update_state(masks[3:], logits[3:])
        assert _result(metric) == pytest.approx(_result(fresh)), metric.name


def test_get_config_round_trip(rng):
    masks, logits = _masks_and_logits(rng)
    for metric in _all_metrics():
        config = metric.get_config()
        again = type(metric).from_config(config)
        assert again.get_config() == config, metric.name
        restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
        assert type(restored) is type(metric) and restored.get_config() == config
        metric.update_state(masks, logits)
        restored.update_state(masks, logits)
        assert _result(restored) == pytest.approx(_result(metric)), metric.name


def test_usable_in_compile_fit_and_evaluate_of_a_logits_model(rng, tmp_path):
    masks, _ = _masks_and_logits(rng, n=8)
    images = (masks + rng.normal(0, 0.4, masks.shape)).astype("float32")
    inputs = keras.Input((None, None, 1))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1)(hidden))
    metrics = [cls() for cls in (*PIXEL_METRICS, Dice, *IMAGE_METRICS)]
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=WeightedSigmoidCrossEntropy(pos_weight=15),
        metrics=metrics,
    )
    history = model.fit(images, masks, batch_size=4, epochs=2, verbose=0)
    assert {metric.name for metric in metrics} <= set(history.history)
    logs = model.evaluate(images, masks, batch_size=4, verbose=0, return_dict=True)
    logits = model.predict(images, batch_size=4, verbose=0)
    expected = _sklearn_pixels(masks, logits >= 0)
    for cls in PIXEL_METRICS:
        name = cls().name
        assert logs[name] == pytest.approx(expected[cls], abs=1e-5), name
    predicted = (logits >= 0).reshape(len(masks), -1).sum(axis=1) > 16 * 16 / 750
    actual = masks.reshape(len(masks), -1).max(axis=1) > 0
    assert logs["image_accuracy"] == pytest.approx(accuracy_score(actual, predicted))
    assert logs["image_recall"] == pytest.approx(recall_score(actual, predicted))
    # The registered classes let a compiled model come back from a .keras file.
    model.save(tmp_path / "segmenter.keras")
    reloaded = keras.saving.load_model(tmp_path / "segmenter.keras")
    again = reloaded.evaluate(images, masks, batch_size=4, verbose=0, return_dict=True)
    for name, value in logs.items():
        assert again[name] == pytest.approx(value, abs=1e-5), name


def test_image_level_metrics_are_recipe_metric_names():
    """``training.metrics`` takes Scuccimarra's image-level metrics by name, with the recipe's
    area divisor (so ``training.monitor: val_image_recall`` is a history column)."""
    from keras_mia.config.data import PipelineConfig
    from keras_mia.training.compile import make_metrics

    data = PipelineConfig(task="segmentation")
    names = ["iou", "image_accuracy", "image_precision", "image_recall", "image_specificity"]
    built = make_metrics(names, data, 0, area_divisor=100.0)
    assert [m.name for m in built] == names
    assert [type(m) for m in built[1:]] == [ImageAccuracy, ImagePrecision, ImageRecall,
                                            ImageSpecificity]
    assert all(m.area_divisor == 100.0 for m in built[1:])
    # 10x10 images: positive above 1 pixel at divisor 100, above 0.133 at 750.
    y_true = np.zeros((2, 10, 10, 1), np.float32)
    y_true[0, :2, :2] = 1.0
    y_pred = np.full((2, 10, 10, 1), -5.0, np.float32)
    y_pred[0, 0, 0] = 5.0  # one pixel predicted in the abnormal image
    recall_100, recall_750 = built[3], make_metrics(["image_recall"], data, 0)[0]
    for metric in (recall_100, recall_750):
        metric.update_state(y_true, y_pred)
    assert float(recall_100.result()) == 0.0 and float(recall_750.result()) == 1.0
    from keras_mia.config.typed import ConfigError

    with pytest.raises(ConfigError, match="classification metric"):
        make_metrics(["auc"], data, 0)
