"""``inception_v3_gap``: the Hello World radiograph classifier (Lakhani et al. 2018)."""

from __future__ import annotations

import os
from typing import Sequence

import keras

from keras_mia.models.common import applications_classifier
from keras_mia.models.registry import register_model
from keras_mia.models.stages import register_stages

__all__ = ["inception_v3_gap"]

NAME = "inception_v3_gap"

# Lakhani et al. fine-tune the whole network at a low learning rate; "head" allows the usual
# warm-up of the new layers first.
register_stages(NAME, [("head", ("head_",))])


@register_model(NAME)
def inception_v3_gap(
    input_shape: Sequence[int | None] | None = None,
    num_classes: int = 1,
    weights: str | os.PathLike | None = None,
    input_channels: int | None = None,
    dropout: float = 0.5,
    dense_units: int = 256,
    classifier_activation: str | None = "default",
) -> keras.Model:
    """InceptionV3 with a small new head, as in "Hello World Deep Learning in Medical Imaging".

    Reference: Lakhani P, Gray DL, Pett CR, Nagy P, Shih G. Hello World Deep Learning in
    Medical Imaging. J Digit Imaging 31:283-289 (2018). Backbone: Szegedy et al., "Rethinking
    the Inception Architecture for Computer Vision", CVPR 2016.

    Architecture: ``keras.applications.InceptionV3(include_top=False)`` -> GlobalAveragePooling2D
    -> Dense(256, relu) -> Dropout(0.5) -> Dense(1, sigmoid). 22,327,585 parameters at
    299x299x3. Fine-tuning stages: ``head`` (the new layers), ``all``.

    Args:
        input_shape: ``(height, width[, channels])``; default ``(299, 299, 3)``. Height and
            width must be at least 75 (``None`` accepts any size).
        num_classes: Output units: 1 (sigmoid, binary chest-vs-abdomen) or more (softmax).
        weights: ``None`` (random), ``"imagenet"`` (through ``keras.applications``), or a
            ``.keras`` / ``.weights.h5`` file of this architecture.
        input_channels: 3 (default; gray radiographs are replicated to RGB) or 1.
        dropout: Dropout rate before the output layer.
        dense_units: Width of the hidden dense layer.
        classifier_activation: ``"default"`` (sigmoid for 1 unit, softmax otherwise), any Keras
            activation name, or ``None`` for logits.

    Input:
        Float images ``(batch, height, width, channels)``. The Hello World recipe rescales
        8-bit pixels by 1/255 (the original tutorial's choice); ImageNet's own InceptionV3
        preprocessing would map them to [-1, 1] instead.

    Returns:
        An uncompiled ``keras.Model`` named ``"inception_v3_gap"`` giving class probabilities
        ``(batch, num_classes)``.

    Raises:
        ValueError: For an invalid option (shape, channels, classes, dropout, activation) or a
            weights file that does not fit the architecture.
        FileNotFoundError: If ``weights`` names a file that does not exist.
    """
    return applications_classifier(
        NAME, "InceptionV3", input_shape=input_shape, default_size=(299, 299),
        num_classes=num_classes, weights=weights, input_channels=input_channels,
        dropout=dropout, classifier_activation=classifier_activation, hidden_units=dense_units,
    )
