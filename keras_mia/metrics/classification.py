"""Classification metrics usable in ``model.compile`` (``keras.ops`` state, any backend).

Predictions may be a single column (binary: a probability or logit per sample) or one column
per class (softmax heads such as ``resnet18``'s two classes). Labels may be 0/1, integer class
ids, or one-hot rows.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["Sensitivity", "Specificity", "Precision", "BinaryAUC", "MulticlassAUC"]


def _is_binary(y_pred) -> bool:
    return len(y_pred.shape) == 1 or y_pred.shape[-1] == 1


def _probabilities(y_pred, from_logits: bool):
    y_pred = ops.cast(y_pred, "float32")
    if not from_logits:
        return y_pred
    return ops.sigmoid(y_pred) if _is_binary(y_pred) else ops.softmax(y_pred, axis=-1)


def _class_ids(y_true, num_classes: int):
    """Integer class ids from integer labels (any shape with one id per sample) or one-hot rows."""
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1:
        return ops.cast(ops.argmax(y_true, axis=-1), "int32")
    return ops.cast(ops.reshape(y_true, (-1,)), "int32")


def _default_positive_class(num_columns: int, positive_class: int | None, metric_name: str) -> int:
    if positive_class is not None:
        if not 0 <= positive_class < num_columns:
            raise ValueError(
                f"{metric_name}: positive_class must index one of the {num_columns} prediction "
                f"columns. Received: positive_class={positive_class}"
            )
        return positive_class
    if num_columns == 2:
        return 1
    raise ValueError(
        f"{metric_name}: predictions have {num_columns} columns; give positive_class (one "
        f"class vs the rest) or num_classes (macro average). Received: positive_class=None"
    )


class _ConfusionMetric(keras.metrics.Metric):
    """Accumulates true/false positives/negatives; subclasses turn them into a ratio.

    Args:
        threshold: Decision threshold on the positive probability. Default 0.5 for a single
            prediction column; for several columns the default (``None``) predicts the argmax
            class, and a number thresholds the ``positive_class`` column instead.
        positive_class: For multi-column predictions, the class scored one-vs-rest (default 1
            when there are two columns).
        num_classes: If given, multi-column predictions are scored one-vs-rest for every class
            (argmax prediction) and the result is the macro average over classes.
        from_logits: Whether predictions are logits (sigmoid / softmax applied first).
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(
        self,
        threshold: float | None = None,
        positive_class: int | None = None,
        num_classes: int | None = None,
        from_logits: bool = False,
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1]. Received: threshold={threshold!r}")
        if num_classes is not None and (num_classes < 2 or positive_class is not None):
            raise ValueError(
                "`num_classes` (>= 2) selects the macro average over classes and excludes "
                f"`positive_class`. Received: num_classes={num_classes!r}, "
                f"positive_class={positive_class!r}"
            )
        self.threshold = None if threshold is None else float(threshold)
        self.positive_class = positive_class
        self.num_classes = num_classes
        self.from_logits = bool(from_logits)
        size = num_classes or 1
        self.true_positives = self.add_variable((size,), initializer="zeros", name="tp")
        self.false_positives = self.add_variable((size,), initializer="zeros", name="fp")
        self.true_negatives = self.add_variable((size,), initializer="zeros", name="tn")
        self.false_negatives = self.add_variable((size,), initializer="zeros", name="fn")

    def _decisions(self, y_true, y_pred):
        """Returns (predicted positive, actually positive), float 0/1 of shape (batch, K)."""
        probs = _probabilities(y_pred, self.from_logits)
        if _is_binary(probs):
            if self.num_classes is not None:
                raise ValueError(
                    f"{self.name}: num_classes={self.num_classes} needs one prediction column "
                    f"per class. Received: y_pred.shape={probs.shape}"
                )
            threshold = 0.5 if self.threshold is None else self.threshold
            predicted = ops.reshape(probs, (-1, 1)) >= threshold
            actual = ops.reshape(ops.cast(y_true, "float32"), (-1, 1)) >= 0.5
            return predicted, actual
        num_columns = probs.shape[-1]
        labels = _class_ids(y_true, num_columns)
        if self.num_classes is not None:
            if num_columns != self.num_classes:
                raise ValueError(
                    f"{self.name}: expected {self.num_classes} prediction columns. Received: "
                    f"y_pred.shape={probs.shape}"
                )
            predicted = ops.one_hot(ops.argmax(probs, axis=-1), num_columns) > 0.5
            actual = ops.one_hot(labels, num_columns) > 0.5
            return predicted, actual
        positive = _default_positive_class(num_columns, self.positive_class, self.name)
        if self.threshold is None:
            predicted = ops.argmax(probs, axis=-1) == positive
        else:
            predicted = probs[:, positive] >= self.threshold
        return ops.expand_dims(predicted, -1), ops.expand_dims(labels == positive, -1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted, actual = self._decisions(y_true, y_pred)
        predicted = ops.cast(predicted, self.dtype)
        actual = ops.cast(actual, self.dtype)
        if sample_weight is None:
            weight = ops.ones_like(predicted[:, :1])
        else:
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
        self.true_positives.assign_add(ops.sum(weight * predicted * actual, axis=0))
        self.false_positives.assign_add(ops.sum(weight * predicted * (1 - actual), axis=0))
        self.true_negatives.assign_add(ops.sum(weight * (1 - predicted) * (1 - actual), axis=0))
        self.false_negatives.assign_add(ops.sum(weight * (1 - predicted) * actual, axis=0))

    def _ratio(self, numerator, denominator):
        return ops.mean(ops.divide_no_nan(numerator, denominator))

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "threshold": self.threshold,
                "positive_class": self.positive_class,
                "num_classes": self.num_classes,
                "from_logits": self.from_logits,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_mia")
class Sensitivity(_ConfusionMetric):
    """Sensitivity (recall, true-positive rate): TP / (TP + FN). See ``_ConfusionMetric``."""

    def __init__(self, threshold=None, positive_class=None, num_classes=None, from_logits=False,
                 name="sensitivity", dtype=None):
        super().__init__(threshold, positive_class, num_classes, from_logits, name, dtype)

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_mia")
class Specificity(_ConfusionMetric):
    """Specificity (true-negative rate): TN / (TN + FP). See ``_ConfusionMetric``."""

    def __init__(self, threshold=None, positive_class=None, num_classes=None, from_logits=False,
                 name="specificity", dtype=None):
        super().__init__(threshold, positive_class, num_classes, from_logits, name, dtype)

    def result(self):
        return self._ratio(self.true_negatives, self.true_negatives + self.false_positives)


@keras.saving.register_keras_serializable(package="keras_mia")
class Precision(_ConfusionMetric):
    """Precision (positive predictive value): TP / (TP + FP). See ``_ConfusionMetric``."""

    def __init__(self, threshold=None, positive_class=None, num_classes=None, from_logits=False,
                 name="precision", dtype=None):
        super().__init__(threshold, positive_class, num_classes, from_logits, name, dtype)

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_positives)


@keras.saving.register_keras_serializable(package="keras_mia")
class BinaryAUC(keras.metrics.AUC):
    """ROC (or PR) AUC of one class: binary scores, or a column of a softmax output.

    Args:
        positive_class: For multi-column predictions, the column scored (default 1 when there
            are two columns); labels equal to it are positives.
        from_logits: Whether predictions are logits (sigmoid / softmax applied first).
        num_thresholds: Thresholds of Keras' interpolated AUC (more: closer to the exact AUC).
        curve: ``"ROC"`` or ``"PR"``.
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(self, positive_class=None, from_logits=False, num_thresholds=200, curve="ROC",
                 name="auc", dtype=None):
        super().__init__(num_thresholds=num_thresholds, curve=curve, name=name, dtype=dtype)
        self.positive_class = positive_class
        self.score_from_logits = bool(from_logits)

    def update_state(self, y_true, y_pred, sample_weight=None):
        probs = _probabilities(y_pred, self.score_from_logits)
        if _is_binary(probs):
            scores = ops.reshape(probs, (-1,))
            labels = ops.cast(ops.reshape(ops.cast(y_true, "float32"), (-1,)) >= 0.5, "float32")
        else:
            positive = _default_positive_class(probs.shape[-1], self.positive_class, self.name)
            scores = probs[:, positive]
            labels = ops.cast(_class_ids(y_true, probs.shape[-1]) == positive, "float32")
        return super().update_state(labels, scores, sample_weight=sample_weight)

    def get_config(self):
        return {
            "positive_class": self.positive_class,
            "from_logits": self.score_from_logits,
            "num_thresholds": self.num_thresholds,
            "curve": self.curve.value,
            "name": self.name,
            "dtype": self.dtype,
        }


@keras.saving.register_keras_serializable(package="keras_mia")
class MulticlassAUC(keras.metrics.AUC):
    """Macro-averaged one-vs-rest ROC AUC over ``num_classes`` softmax columns.

    Equals ``sklearn.metrics.roc_auc_score(labels, probs, multi_class="ovr", average="macro")``
    up to Keras' threshold interpolation.

    Args:
        num_classes: Number of prediction columns (>= 2).
        from_logits: Whether predictions are logits (softmax applied first).
        num_thresholds: Thresholds of Keras' interpolated AUC.
        curve: ``"ROC"`` or ``"PR"``.
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(self, num_classes, from_logits=False, num_thresholds=200, curve="ROC",
                 name="multiclass_auc", dtype=None):
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}"
            )
        super().__init__(num_thresholds=num_thresholds, curve=curve, multi_label=True,
                         num_labels=num_classes, name=name, dtype=dtype)
        self.num_classes = num_classes
        self.score_from_logits = bool(from_logits)

    def update_state(self, y_true, y_pred, sample_weight=None):
        probs = _probabilities(y_pred, self.score_from_logits)
        if _is_binary(probs) or probs.shape[-1] != self.num_classes:
            raise ValueError(
                f"{self.name}: expected {self.num_classes} prediction columns. Received: "
                f"y_pred.shape={probs.shape}"
            )
        labels = ops.one_hot(_class_ids(y_true, self.num_classes), self.num_classes)
        return super().update_state(labels, probs, sample_weight=sample_weight)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "from_logits": self.score_from_logits,
            "num_thresholds": self.num_thresholds,
            "curve": self.curve.value,
            "name": self.name,
            "dtype": self.dtype,
        }
