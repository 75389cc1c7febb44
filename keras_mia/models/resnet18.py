"""``resnet18``: the breast-MRI slice classifier of Konz's tutorial (torchvision's ResNet-18)."""

from __future__ import annotations

import os
from typing import Sequence

import keras
from keras import layers

from keras_mia.models.blocks import basic_block
from keras_mia.models.common import (
    check_dropout,
    classifier_head,
    resolve_classifier_activation,
    resolve_input_shape,
)
from keras_mia.models.registry import register_model
from keras_mia.models.stages import register_stages
from keras_mia.models.weights import IMAGENET, check_weights_option, load_weights_file

__all__ = ["resnet18"]

NAME = "resnet18"
STAGE_FILTERS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2

register_stages(NAME, [("head", ("head_",)), ("top_block", ("layer4_1_",))])


@register_model(NAME)
def resnet18(
    input_shape: Sequence[int | None] | None = None,
    num_classes: int = 2,
    weights: str | os.PathLike | None = None,
    input_channels: int | None = None,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
) -> keras.Model:
    """ResNet-18 with a 1-channel stem and a 2-class head, as in Konz's DBC MRI tutorial.

    Reference: N. Konz, "Train a Neural Network to Detect Breast MRI Tumors with PyTorch",
    Towards Data Science, on the Duke Breast Cancer MRI dataset (Saha et al., TCIA),
    using torchvision's ``resnet18``; architecture from He et al., "Deep Residual Learning for
    Image Recognition", CVPR 2016.

    Architecture (torchvision's, channels last, same padding arithmetic): 7x7/2 stem conv
    without bias -> BN -> ReLU -> 3x3/2 max-pool -> four stages of two ``BasicBlock``s
    (64, 128, 256, 512 filters; stride 2 from the second stage, 1x1 projection shortcuts) ->
    global average pooling -> [Dropout] -> Dense(num_classes). Layer names follow torchvision
    (``layer3_1_conv2`` is ``layer3[1].conv2``). 11,171,266 trainable parameters with 1 input
    channel and 2 classes, exactly torchvision's resnet18 with those two changes.

    The head outputs softmax probabilities by default: Konz trains with ``CrossEntropyLoss``
    (softmax + NLL on logits), which is sparse categorical cross-entropy on these probabilities
    (or on logits with ``classifier_activation=None`` and ``from_logits=True``).

    Fine-tuning stages: ``head`` (the final dense layer), ``top_block`` (adds ``layer4[1]``),
    ``all``.

    Args:
        input_shape: ``(height, width[, channels])``; default ``(224, 224, 1)``. ``None``
            height/width accept any size of at least 32.
        num_classes: Number of output classes (2: negative/positive slice).
        weights: ``None`` (random, as in the tutorial) or a ``.keras`` / ``.weights.h5`` file of
            this architecture; a file of the 3-channel variant is adapted to 1 channel.
            ``"imagenet"`` is not available (``keras.applications`` has no ResNet-18).
        input_channels: 1 (default, MRI slice) or 3.
        dropout: Optional dropout before the dense layer (0 in torchvision).
        classifier_activation: ``"softmax"`` (default), another activation, or ``None`` for
            logits.

    Input:
        Float images ``(batch, height, width, channels)``; Konz normalises every slice to
        [0, 255].

    Returns:
        An uncompiled ``keras.Model`` named ``"resnet18"`` giving ``(batch, num_classes)``
        class probabilities (logits with ``classifier_activation=None``).

    Raises:
        ValueError: For an invalid option, ``weights="imagenet"``, or a weights file that does
            not fit the architecture.
        FileNotFoundError: If ``weights`` names a file that does not exist.
    """
    height, width, channels = resolve_input_shape(
        input_shape, input_channels, default_size=(224, 224), default_channels=1
    )
    weights = check_weights_option(weights)
    if weights == IMAGENET:
        raise ValueError(
            "keras.applications has no ResNet-18, so ImageNet weights are not available: pass "
            f"None or a weights file. Received: weights={weights!r}"
        )
    activation = resolve_classifier_activation(num_classes, classifier_activation)
    dropout = check_dropout(dropout)

    inputs = keras.Input((height, width, channels), name="image")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn1")(x)
    x = layers.ReLU(name="relu")(x)
    # Zero padding before the max-pool is exact here: its input is post-ReLU (>= 0).
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for stage, filters in enumerate(STAGE_FILTERS, start=1):
        for block in range(BLOCKS_PER_STAGE):
            strides = 2 if stage > 1 and block == 0 else 1
            x = basic_block(x, filters, strides=strides, name=f"layer{stage}_{block}")
    outputs = classifier_head(x, num_classes, activation=activation, dropout=dropout)
    model = keras.Model(inputs, outputs, name=NAME)
    if weights is not None:
        load_weights_file(
            model,
            weights,
            rgb_builder=lambda: resnet18(
                (height, width, 3), num_classes, None, 3, dropout, classifier_activation
            ),
        )
    return model
