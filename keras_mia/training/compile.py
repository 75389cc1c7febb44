"""Optimizers, losses and metrics from recipe names (what ``model.compile`` receives)."""

from __future__ import annotations

from typing import Any

import keras

from keras_mia.config.data import PipelineConfig
from keras_mia.config.recipe import StageConfig
from keras_mia.config.typed import ConfigError

__all__ = [
    "make_optimizer",
    "make_loss",
    "make_metrics",
    "METRIC_NAMES",
    "CoupledWeightDecayAdam",
    "CoupledWeightDecaySGD",
]

METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "auc",
    "pr_auc",
    "sensitivity",
    "specificity",
    "precision",
    "iou",
    "dice",
    "pixel_accuracy",
    "pixel_precision",
    "pixel_recall",
    "pixel_f1",
    "image_accuracy",
    "image_precision",
    "image_recall",
    "image_specificity",
)


class _CoupledWeightDecay:
    """Mixin: L2 weight decay added to each gradient before the optimizer's own update.

    ``grad <- grad + w * param`` and then the wrapped optimizer's step, so the decay term
    enters Adam's first and second moment estimates: PyTorch's
    ``torch.optim.Adam(weight_decay=w)`` / ``SGD(weight_decay=w)``, and equivalent to a loss
    term ``w / 2 * sum(param ** 2)``. Keras' own ``weight_decay`` argument is the decoupled
    (AdamW) form and stays ``None`` here. Every trainable variable is decayed, biases and
    batch-normalisation scales included, as PyTorch does with a plain parameter list. The
    hook is ``update_step``, the per-variable step every Keras 3 backend calls (TensorFlow's
    ``tf.distribute`` path included); it uses ``keras.ops`` only.
    """

    def __init__(self, *args: Any, coupled_weight_decay: float = 0.0, **kwargs: Any):
        if kwargs.get("weight_decay"):
            raise ValueError(
                "Give the coupled decay as `coupled_weight_decay`; `weight_decay` is Keras' "
                f"decoupled form. Received: weight_decay={kwargs['weight_decay']!r}"
            )
        if coupled_weight_decay < 0:
            raise ValueError(
                "coupled_weight_decay must be >= 0. "
                f"Received: coupled_weight_decay={coupled_weight_decay!r}"
            )
        super().__init__(*args, **kwargs)
        self.coupled_weight_decay = float(coupled_weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        if self.coupled_weight_decay:
            gradient = keras.ops.add(
                keras.ops.cast(gradient, variable.dtype),
                keras.ops.multiply(
                    keras.ops.cast(self.coupled_weight_decay, variable.dtype), variable
                ),
            )
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["coupled_weight_decay"] = self.coupled_weight_decay
        return config


@keras.saving.register_keras_serializable(package="keras_mia")
class CoupledWeightDecayAdam(_CoupledWeightDecay, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with coupled (L2) weight decay, as PyTorch's ``Adam``.

    Args:
        *args: positional arguments of ``keras.optimizers.Adam``.
        coupled_weight_decay: ``w`` of ``grad += w * param`` (0: none).
        **kwargs: keyword arguments of ``keras.optimizers.Adam`` (``weight_decay`` must be
            left unset).
    """


@keras.saving.register_keras_serializable(package="keras_mia")
class CoupledWeightDecaySGD(_CoupledWeightDecay, keras.optimizers.SGD):
    """``keras.optimizers.SGD`` with coupled (L2) weight decay, as PyTorch's ``SGD``.

    Args:
        *args: positional arguments of ``keras.optimizers.SGD``.
        coupled_weight_decay: ``w`` of ``grad += w * param`` (0: none).
        **kwargs: keyword arguments of ``keras.optimizers.SGD`` (``weight_decay`` must be
            left unset).
    """


def make_optimizer(stage: StageConfig) -> keras.optimizers.Optimizer:
    """The stage's optimizer at its initial learning rate (schedules run as a callback).

    Args:
        stage: the stage: ``optimizer``, ``learning_rate``, ``momentum``, ``weight_decay``
            and ``weight_decay_mode``.

    Returns:
        ``keras.optimizers.Adam`` / ``SGD`` with Keras' decoupled ``weight_decay``
        (``weight_decay_mode="decoupled"``), or :class:`CoupledWeightDecayAdam` /
        :class:`CoupledWeightDecaySGD` (``"coupled"``, the decay added to the gradient).
    """
    if stage.optimizer == "adam":
        cls, coupled_cls, kwargs = keras.optimizers.Adam, CoupledWeightDecayAdam, {}
    else:
        cls, coupled_cls = keras.optimizers.SGD, CoupledWeightDecaySGD
        kwargs = {"momentum": stage.momentum}
    if stage.weight_decay and stage.weight_decay_mode == "coupled":
        return coupled_cls(
            learning_rate=stage.learning_rate, coupled_weight_decay=stage.weight_decay, **kwargs
        )
    return cls(learning_rate=stage.learning_rate, weight_decay=stage.weight_decay or None,
               **kwargs)


def make_loss(name: str, options: dict[str, Any] | None = None) -> keras.losses.Loss:
    """A loss by recipe name (``TrainingConfig.loss``) with its keyword options."""
    options = dict(options or {})
    if name == "weighted_sigmoid_cross_entropy":
        from keras_mia.losses import WeightedSigmoidCrossEntropy

        return WeightedSigmoidCrossEntropy(**options)
    losses = {
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    }
    if name not in losses:
        raise ConfigError(f"training.loss: expected one of {sorted(losses)}. Received: {name!r}")
    try:
        return losses[name](**options)
    except TypeError as err:
        raise ConfigError(f"training.loss_options: {err}") from None


def make_metrics(
    names: list[str] | tuple[str, ...],
    data: PipelineConfig,
    num_classes: int,
    positive_class: int | None = None,
    area_divisor: float = 750.0,
) -> list[keras.metrics.Metric]:
    """Keras metrics by recipe name (``TrainingConfig.metrics``), matched to the model's head.

    The names become the ``history.csv`` columns (``auc``, ``val_auc``, ...), so
    ``training.monitor`` is ``val_<name>``.

    Args:
        names: metric names from :data:`METRIC_NAMES`.
        data: the pipeline configuration: ``task`` and ``label_mode`` decide the metric
            variant (one sigmoid column, softmax columns, or per-pixel logits).
        num_classes: number of classes (2 for binary; ignored for segmentation).
        positive_class: the class scored as positive for binary metrics on softmax heads
            (default 1, i.e. the second class name in sorted order).
        area_divisor: segmentation image-level metrics (``image_*``, Scuccimarra's): an
            image (a training crop) is positive when more than ``height * width /
            area_divisor`` of its pixels are (``evaluation.area_divisor``).

    Returns:
        The metric objects, in the order given.

    Raises:
        ConfigError: an unknown name, or a metric that does not fit the task.
    """
    from keras_mia import metrics as mia

    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown:
        raise ConfigError(
            f"training.metrics: unknown metric {unknown[0]!r}; expected one of "
            f"{list(METRIC_NAMES)}"
        )
    if data.task == "segmentation":
        segmentation = {
            "iou": mia.SegmentationIoU,
            "dice": mia.Dice,
            "pixel_accuracy": mia.PixelAccuracy,
            "pixel_precision": mia.PixelPrecision,
            "pixel_recall": mia.PixelRecall,
            "pixel_f1": mia.PixelF1,
        }
        image_level = {
            "image_accuracy": mia.ImageAccuracy,
            "image_precision": mia.ImagePrecision,
            "image_recall": mia.ImageRecall,
            "image_specificity": mia.ImageSpecificity,
        }
        wrong = [name for name in names if name not in segmentation and name not in image_level]
        if wrong:
            raise ConfigError(
                f"training.metrics: {wrong[0]!r} is a classification metric; a segmentation "
                f"recipe takes {sorted(segmentation) + sorted(image_level)}"
            )
        return [
            image_level[name](from_logits=True, area_divisor=area_divisor, name=name)
            if name in image_level else segmentation[name](from_logits=True, name=name)
            for name in names
        ]

    wrong = [name for name in names if name not in METRIC_NAMES[:6]]
    if wrong:
        raise ConfigError(
            f"training.metrics: {wrong[0]!r} is a segmentation metric; a classification "
            f"recipe takes {list(METRIC_NAMES[:6])}"
        )
    single_column = data.label_mode == "binary"
    multiclass = not single_column and num_classes > 2
    if multiclass and any(n in names for n in ("sensitivity", "specificity", "precision")):
        if positive_class is None:
            raise ConfigError(
                "training.metrics: sensitivity/specificity/precision on a "
                f"{num_classes}-class head need evaluation.positive_class"
            )
    if not single_column and not multiclass and positive_class is None:
        positive_class = 1

    def build(name: str) -> keras.metrics.Metric:
        if name == "accuracy":
            if single_column:
                return keras.metrics.BinaryAccuracy(name=name)
            if data.label_mode == "categorical":
                return keras.metrics.CategoricalAccuracy(name=name)
            return keras.metrics.SparseCategoricalAccuracy(name=name)
        if name in ("auc", "pr_auc"):
            curve = "ROC" if name == "auc" else "PR"
            if multiclass:
                return mia.MulticlassAUC(num_classes=num_classes, curve=curve, name=name)
            return mia.BinaryAUC(positive_class=positive_class, curve=curve, name=name)
        cls = {
            "sensitivity": mia.Sensitivity,
            "specificity": mia.Specificity,
            "precision": mia.Precision,
        }[name]
        # One class scored against the rest (binary heads, or a chosen positive class).
        return cls(positive_class=None if single_column else positive_class, name=name)

    return [build(name) for name in names]
