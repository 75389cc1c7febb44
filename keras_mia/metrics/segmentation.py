"""Binary segmentation metrics (pixel level and image level), ``keras.ops`` only.

Predictions are per-pixel logits (``from_logits=True``, the default: ``dense_prediction_28``
outputs logits) or probabilities, shaped ``(batch, height, width[, 1])``; targets are 0/1
masks of the same size. A pixel is predicted positive when its probability is at least
``threshold``.

Image level (Scuccimarra 2018): an image is predicted positive when more than
``height * width / 750`` of its pixels are predicted positive (``size^2 / 750`` for the square
crops of the paper); it is actually positive when its mask has any positive pixel.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = [
    "AREA_DIVISOR",
    "predicted_positive_pixels",
    "image_positive",
    "SegmentationIoU",
    "Dice",
    "PixelAccuracy",
    "PixelPrecision",
    "PixelRecall",
    "PixelF1",
    "ImageAccuracy",
    "ImagePrecision",
    "ImageRecall",
    "ImageSpecificity",
]

AREA_DIVISOR = 750.0


def _flatten_per_image(x):
    """(batch, ...) -> (batch, pixels), float32."""
    x = ops.cast(x, "float32")
    return ops.reshape(x, (ops.shape(x)[0], -1))


def predicted_positive_pixels(y_pred, *, from_logits: bool = True, threshold: float = 0.5):
    """Returns the 0/1 predicted mask, ``(batch, pixels)`` float32."""
    y_pred = _flatten_per_image(y_pred)
    probs = ops.sigmoid(y_pred) if from_logits else y_pred
    return ops.cast(probs >= threshold, "float32")


def image_positive(
    y_pred,
    *,
    from_logits: bool = True,
    threshold: float = 0.5,
    area_divisor: float = AREA_DIVISOR,
):
    """The image-level positive rule: predicted area > pixels / ``area_divisor``.

    Args:
        y_pred: Per-pixel logits or probabilities, ``(batch, height, width[, 1])``.
        from_logits: Whether ``y_pred`` holds logits.
        threshold: Pixel probability threshold.
        area_divisor: 750 in the paper (a 640x640 crop needs > 546.1 positive pixels).

    Returns:
        A boolean tensor ``(batch,)``.
    """
    pixels = predicted_positive_pixels(y_pred, from_logits=from_logits, threshold=threshold)
    area = ops.sum(pixels, axis=1)
    total = ops.cast(ops.shape(pixels)[1], "float32")
    return area > total / area_divisor


def _sample_weight(sample_weight, like):
    if sample_weight is None:
        return ops.ones_like(like[:, :1])
    return ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))


class _BinaryCounts(keras.metrics.Metric):
    """Accumulates TP/FP/TN/FN counts (pixels or images, depending on the subclass).

    Args:
        threshold: Pixel probability threshold.
        from_logits: Whether predictions are logits.
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(self, threshold: float = 0.5, from_logits: bool = True, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1]. Received: threshold={threshold!r}")
        self.threshold = float(threshold)
        self.from_logits = bool(from_logits)
        self.true_positives = self.add_variable((), initializer="zeros", name="tp")
        self.false_positives = self.add_variable((), initializer="zeros", name="fp")
        self.true_negatives = self.add_variable((), initializer="zeros", name="tn")
        self.false_negatives = self.add_variable((), initializer="zeros", name="fn")

    def _decisions(self, y_true, y_pred):
        """Returns (predicted, actual, weight) float tensors that broadcast together."""
        predicted = predicted_positive_pixels(
            y_pred, from_logits=self.from_logits, threshold=self.threshold
        )
        actual = ops.cast(_flatten_per_image(y_true) >= 0.5, "float32")
        return predicted, actual

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted, actual = self._decisions(y_true, y_pred)
        weight = _sample_weight(sample_weight, predicted)
        self.true_positives.assign_add(ops.sum(weight * predicted * actual))
        self.false_positives.assign_add(ops.sum(weight * predicted * (1 - actual)))
        self.true_negatives.assign_add(ops.sum(weight * (1 - predicted) * (1 - actual)))
        self.false_negatives.assign_add(ops.sum(weight * (1 - predicted) * actual))

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold, "from_logits": self.from_logits})
        return config


def _ratio(numerator, denominator):
    return ops.divide_no_nan(numerator, denominator)


@keras.saving.register_keras_serializable(package="keras_mia")
class SegmentationIoU(_BinaryCounts):
    """Mean IoU over the two classes (background and abnormal), over all pixels seen.

    Like ``keras.metrics.MeanIoU(num_classes=2)``: the mean over the classes that occur in the
    predictions or the targets.
    """

    def __init__(self, threshold=0.5, from_logits=True, name="iou", dtype=None):
        super().__init__(threshold, from_logits, name, dtype)

    def result(self):
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        union_fg = tp + fp + fn
        union_bg = tn + fn + fp
        valid = ops.cast(union_fg > 0, "float32") + ops.cast(union_bg > 0, "float32")
        return _ratio(_ratio(tp, union_fg) + _ratio(tn, union_bg), valid)


@keras.saving.register_keras_serializable(package="keras_mia")
class PixelAccuracy(_BinaryCounts):
    """Fraction of pixels classified correctly."""

    def __init__(self, threshold=0.5, from_logits=True, name="pixel_accuracy", dtype=None):
        super().__init__(threshold, from_logits, name, dtype)

    def result(self):
        correct = self.true_positives + self.true_negatives
        return _ratio(correct, correct + self.false_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_mia")
class PixelPrecision(_BinaryCounts):
    """Pixel precision TP / (TP + FP) over all pixels seen."""

    def __init__(self, threshold=0.5, from_logits=True, name="pixel_precision", dtype=None):
        super().__init__(threshold, from_logits, name, dtype)

    def result(self):
        return _ratio(self.true_positives, self.true_positives + self.false_positives)


@keras.saving.register_keras_serializable(package="keras_mia")
class PixelRecall(_BinaryCounts):
    """Pixel recall TP / (TP + FN) over all pixels seen."""

    def __init__(self, threshold=0.5, from_logits=True, name="pixel_recall", dtype=None):
        super().__init__(threshold, from_logits, name, dtype)

    def result(self):
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_mia")
class PixelF1(_BinaryCounts):
    """Pixel F1 2TP / (2TP + FP + FN) over all pixels seen (the global Dice coefficient)."""

    def __init__(self, threshold=0.5, from_logits=True, name="pixel_f1", dtype=None):
        super().__init__(threshold, from_logits, name, dtype)

    def result(self):
        tp2 = 2.0 * self.true_positives
        return _ratio(tp2, tp2 + self.false_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_mia")
class Dice(keras.metrics.Metric):
    """Mean per-image Dice coefficient ``2|P & T| / (|P| + |T|)`` of thresholded masks.

    An image with an empty target and an empty prediction scores 1. (The Dice of all pixels
    pooled together is :class:`PixelF1`.)

    Args:
        threshold: Pixel probability threshold.
        from_logits: Whether predictions are logits.
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(self, threshold=0.5, from_logits=True, name="dice", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1]. Received: threshold={threshold!r}")
        self.threshold = float(threshold)
        self.from_logits = bool(from_logits)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = predicted_positive_pixels(
            y_pred, from_logits=self.from_logits, threshold=self.threshold
        )
        actual = ops.cast(_flatten_per_image(y_true) >= 0.5, "float32")
        intersection = ops.sum(predicted * actual, axis=1)
        sizes = ops.sum(predicted, axis=1) + ops.sum(actual, axis=1)
        dice = ops.where(sizes > 0, _ratio(2.0 * intersection, sizes), ops.ones_like(sizes))
        weight = _sample_weight(sample_weight, predicted)[:, 0]
        self.total.assign_add(ops.sum(weight * dice))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return _ratio(self.total, self.count)

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold, "from_logits": self.from_logits})
        return config


class _ImageCounts(_BinaryCounts):
    """Image-level counts with the area rule (see the module docstring).

    Args:
        threshold: Pixel probability threshold.
        from_logits: Whether predictions are logits.
        area_divisor: An image is positive when its predicted area exceeds pixels / this.
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(self, threshold=0.5, from_logits=True, area_divisor=AREA_DIVISOR, name=None,
                 dtype=None):
        super().__init__(threshold, from_logits, name, dtype)
        if not float(area_divisor) > 0:
            raise ValueError(
                f"`area_divisor` must be positive. Received: area_divisor={area_divisor!r}"
            )
        self.area_divisor = float(area_divisor)

    def _decisions(self, y_true, y_pred):
        predicted = image_positive(
            y_pred,
            from_logits=self.from_logits,
            threshold=self.threshold,
            area_divisor=self.area_divisor,
        )
        actual = ops.max(_flatten_per_image(y_true), axis=1) >= 0.5
        return (
            ops.expand_dims(ops.cast(predicted, "float32"), -1),
            ops.expand_dims(ops.cast(actual, "float32"), -1),
        )

    def get_config(self):
        config = super().get_config()
        config["area_divisor"] = self.area_divisor
        return config


@keras.saving.register_keras_serializable(package="keras_mia")
class ImageAccuracy(_ImageCounts):
    """Image-level accuracy of the area rule."""

    def __init__(self, threshold=0.5, from_logits=True, area_divisor=AREA_DIVISOR,
                 name="image_accuracy", dtype=None):
        super().__init__(threshold, from_logits, area_divisor, name, dtype)

    def result(self):
        correct = self.true_positives + self.true_negatives
        return _ratio(correct, correct + self.false_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_mia")
class ImagePrecision(_ImageCounts):
    """Image-level precision of the area rule."""

    def __init__(self, threshold=0.5, from_logits=True, area_divisor=AREA_DIVISOR,
                 name="image_precision", dtype=None):
        super().__init__(threshold, from_logits, area_divisor, name, dtype)

    def result(self):
        return _ratio(self.true_positives, self.true_positives + self.false_positives)


@keras.saving.register_keras_serializable(package="keras_mia")
class ImageRecall(_ImageCounts):
    """Image-level recall (sensitivity) of the area rule."""

    def __init__(self, threshold=0.5, from_logits=True, area_divisor=AREA_DIVISOR,
                 name="image_recall", dtype=None):
        super().__init__(threshold, from_logits, area_divisor, name, dtype)

    def result(self):
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_mia")
class ImageSpecificity(_ImageCounts):
    """Image-level specificity of the area rule."""

    def __init__(self, threshold=0.5, from_logits=True, area_divisor=AREA_DIVISOR,
                 name="image_specificity", dtype=None):
        super().__init__(threshold, from_logits, area_divisor, name, dtype)

    def result(self):
        return _ratio(self.true_negatives, self.true_negatives + self.false_positives)
