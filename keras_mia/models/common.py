"""Option handling shared by the builders: input shapes, classifier heads, dropout, and the
one builder of the ``keras.applications`` classifiers."""

from __future__ import annotations

import os
from typing import Sequence

import keras
from keras import layers

from keras_mia.models.weights import (
    IMAGENET,
    applications_backbone,
    check_input_channels,
    check_weights_option,
    load_weights_file,
)

__all__ = [
    "resolve_input_shape",
    "resolve_classifier_activation",
    "check_dropout",
    "classifier_head",
    "applications_classifier",
]


def resolve_input_shape(
    input_shape: Sequence[int | None] | None,
    input_channels: int | None,
    *,
    default_size: tuple[int | None, int | None],
    default_channels: int,
) -> tuple[int | None, int | None, int]:
    """Combines ``input_shape`` and ``input_channels`` into ``(height, width, channels)``.

    Args:
        input_shape: ``None`` (native size), ``(height, width)`` or ``(height, width,
            channels)``; ``None`` height/width accept any size where the model allows it.
        input_channels: 1, 3 or ``None`` (from ``input_shape``, else ``default_channels``).
        default_size: The model's native ``(height, width)``.
        default_channels: The model's native channel count.

    Returns:
        The full input shape.

    Raises:
        ValueError: If the shape is malformed or disagrees with ``input_channels``.
    """
    if input_shape is None:
        height, width = default_size
        channels = None
    else:
        shape = tuple(input_shape)
        if len(shape) not in (2, 3) or any(d is not None and int(d) <= 0 for d in shape):
            raise ValueError(
                "`input_shape` must be (height, width) or (height, width, channels) with "
                f"positive sizes. Received: input_shape={input_shape}"
            )
        height, width = shape[0], shape[1]
        channels = shape[2] if len(shape) == 3 else None
    if channels is not None and input_channels is not None and channels != input_channels:
        raise ValueError(
            f"`input_shape` has {channels} channels but `input_channels` is {input_channels}. "
            f"Received: input_shape={input_shape}, input_channels={input_channels}"
        )
    channels = check_input_channels(
        input_channels if input_channels is not None else channels or default_channels
    )
    as_int = [None if d is None else int(d) for d in (height, width)]
    return as_int[0], as_int[1], channels


def resolve_classifier_activation(num_classes: int, activation: str | None) -> str:
    """Returns the head activation: ``"default"`` means sigmoid for 1 unit, softmax otherwise.

    ``None`` or ``"linear"`` gives logits.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(
            f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}"
        )
    if activation == "default":
        return "sigmoid" if num_classes == 1 else "softmax"
    if activation is None:
        return "linear"
    if activation == "softmax" and num_classes == 1:
        raise ValueError(
            "A softmax over a single unit is always 1: use classifier_activation='sigmoid' or "
            f"num_classes >= 2. Received: num_classes={num_classes}, "
            f"classifier_activation={activation!r}"
        )
    return activation


def check_dropout(dropout: float) -> float:
    """Validates a dropout rate in [0, 1)."""
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    return float(dropout)


def classifier_head(
    x,
    num_classes: int,
    *,
    activation: str,
    dropout: float = 0.0,
    name: str = "head",
    hidden_units: int | None = None,
    pool: bool = True,
):
    """GAP -> [Dense(hidden_units, relu)] -> [Dropout] -> Dense(num_classes, activation).

    Layers are named ``f"{name}_gap"``, ``f"{name}_dense"``, ``f"{name}_dropout"`` and
    ``f"{name}_predictions"``; the ``head`` fine-tuning stage selects them by that prefix.
    """
    if pool:
        x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name=f"{name}_dense")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, activation=activation, name=f"{name}_predictions")(x)


def applications_classifier(
    name: str,
    application: str,
    *,
    input_shape: Sequence[int | None] | None,
    default_size: tuple[int, int],
    num_classes: int,
    weights: str | os.PathLike | None,
    input_channels: int | None,
    dropout: float,
    classifier_activation: str | None,
    hidden_units: int | None = None,
) -> keras.Model:
    """A ``keras.applications`` backbone (``include_top=False``) with :func:`classifier_head`.

    The body of ``inception_v3_gap`` and ``resnet50_patch``: options are validated, the input
    is named ``"image"``, and a weights file saved from the 3-channel variant also loads into
    a 1-channel one (its stem summed over RGB).

    Args:
        name: the model's name.
        application: the ``keras.applications`` class name (``"ResNet50"``).
        input_shape, num_classes, weights, input_channels, dropout, classifier_activation:
            as the public builders document them.
        default_size: ``(height, width)`` when ``input_shape`` is ``None``.
        hidden_units: width of the head's hidden dense layer (``None``: no hidden layer).

    Returns:
        An uncompiled ``keras.Model``.
    """
    height, width, channels = resolve_input_shape(
        input_shape, input_channels, default_size=default_size, default_channels=3
    )
    weights = check_weights_option(weights)
    activation = resolve_classifier_activation(num_classes, classifier_activation)
    dropout = check_dropout(dropout)

    inputs = keras.Input((height, width, channels), name="image")
    backbone = applications_backbone(application, inputs, weights=weights, input_channels=channels)
    outputs = classifier_head(
        backbone.output, num_classes, activation=activation, dropout=dropout,
        hidden_units=hidden_units,
    )
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None and weights != IMAGENET:
        load_weights_file(
            model,
            weights,
            rgb_builder=lambda: applications_classifier(
                name, application, input_shape=(height, width, 3), default_size=default_size,
                num_classes=num_classes, weights=None, input_channels=3, dropout=dropout,
                classifier_activation=classifier_activation, hidden_units=hidden_units,
            ),
        )
    return model
