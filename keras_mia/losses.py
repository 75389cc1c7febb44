"""Losses (``keras.ops`` only, so they run on every Keras backend)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["WeightedSigmoidCrossEntropy", "weighted_sigmoid_cross_entropy"]


def weighted_sigmoid_cross_entropy(
    y_true, y_pred, pos_weight: float = 15.0, from_logits: bool = True
):
    """Element-wise weighted sigmoid cross-entropy.

    ``-[w * y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))]``, computed from logits in the
    overflow-free form ``(1 - y) * z + (1 + (w - 1) * y) * softplus(-z)`` with
    ``softplus(-z) = log1p(exp(-|z|)) + max(-z, 0)`` (as TensorFlow's
    ``weighted_cross_entropy_with_logits``).

    Args:
        y_true: Targets in [0, 1], same shape as ``y_pred`` (or without its last axis of 1).
        y_pred: Logits (``from_logits=True``) or probabilities.
        pos_weight: Weight ``w`` of the positive term.
        from_logits: Whether ``y_pred`` holds logits.

    Returns:
        The per-element loss, shaped like ``y_pred``.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape) - 1 and y_pred.shape[-1] == 1:
        y_true = ops.expand_dims(y_true, -1)
    pos_weight = ops.cast(pos_weight, y_pred.dtype)
    if from_logits:
        softplus_neg = ops.log1p(ops.exp(-ops.abs(y_pred))) + ops.maximum(-y_pred, 0.0)
        return (1.0 - y_true) * y_pred + (1.0 + (pos_weight - 1.0) * y_true) * softplus_neg
    epsilon = keras.config.epsilon()
    probs = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    return -(pos_weight * y_true * ops.log(probs) + (1.0 - y_true) * ops.log(1.0 - probs))


@keras.saving.register_keras_serializable(package="keras_mia")
class WeightedSigmoidCrossEntropy(keras.losses.Loss):
    """Pixel-weighted sigmoid cross-entropy for binary segmentation (Scuccimarra 2018).

    Positive pixels are weighted ``pos_weight`` (the paper: 15, searched in 14-16) and negative
    pixels 1, to counter the rarity of abnormal tissue. The loss of a sample is the mean over
    its pixels of ``-[w * y * log s(z) + (1 - y) * log(1 - s(z))]``; the batch loss averages the
    samples (``sample_weight`` weights whole samples), i.e. the mean over every pixel of the
    batch when samples are unweighted.

    Args:
        pos_weight: Weight of the positive pixels.
        from_logits: Whether predictions are logits (the default: ``dense_prediction_28``
            outputs logits) or probabilities (clipped to ``[eps, 1 - eps]``).
        reduction: Keras reduction over samples.
        name: Loss name.
    """

    def __init__(
        self,
        pos_weight: float = 15.0,
        from_logits: bool = True,
        reduction: str = "sum_over_batch_size",
        name: str = "weighted_sigmoid_cross_entropy",
        **kwargs,
    ):
        if not float(pos_weight) > 0:
            raise ValueError(f"`pos_weight` must be positive. Received: pos_weight={pos_weight!r}")
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.pos_weight = float(pos_weight)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        loss = weighted_sigmoid_cross_entropy(
            y_true, y_pred, pos_weight=self.pos_weight, from_logits=self.from_logits
        )
        if len(loss.shape) <= 1:
            return loss
        return ops.mean(loss, axis=tuple(range(1, len(loss.shape))))

    def get_config(self):
        config = super().get_config()
        config.update({"pos_weight": self.pos_weight, "from_logits": self.from_logits})
        return config
