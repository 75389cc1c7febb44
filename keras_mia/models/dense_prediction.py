"""``dense_prediction_28``: Scuccimarra's 28-layer dilated dense-prediction network."""

from __future__ import annotations

import os
from typing import Sequence

import keras
from keras import layers

from keras_mia.models.blocks import conv_bn_relu
from keras_mia.models.common import resolve_input_shape
from keras_mia.models.layers import ResizeToMatch
from keras_mia.models.registry import register_model
from keras_mia.models.stages import register_stages
from keras_mia.models.weights import IMAGENET, check_weights_option, load_weights_file

__all__ = ["dense_prediction_28", "L2_WEIGHT"]

NAME = "dense_prediction_28"
L2_WEIGHT = 2.5e-3

register_stages(NAME, [("head", ("head_",)), ("decoder", ("decoder_", "bottleneck_"))])


def _residual_stage(x, filters: int, convs: int, *, name: str, dilation_rate: int = 1, strides=1):
    """``convs`` conv-BN-ReLU layers; the last one's output plus the first one's."""
    first = conv_bn_relu(
        x, filters, strides=strides, dilation_rate=dilation_rate, name=f"{name}_conv1"
    )
    y = first
    for index in range(2, convs + 1):
        y = conv_bn_relu(y, filters, dilation_rate=dilation_rate, name=f"{name}_conv{index}")
    return layers.Add(name=f"{name}_add")([y, first])


@register_model(NAME)
def dense_prediction_28(
    input_shape: Sequence[int | None] | None = None,
    num_classes: int = 1,
    weights: str | os.PathLike | None = None,
    input_channels: int | None = None,
) -> keras.Model:
    """Scuccimarra's dilated fully convolutional network for mammogram abnormality masks.

    Reference: E. Scuccimarra, dense prediction of abnormalities in CBIS-DDSM mammograms
    (2018 report; the 28-layer model 1.0.0.35b.98 of its Table 1). Dilated convolutions: Yu &
    Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016;
    resize-convolutions against checkerboard artifacts: Odena et al., "Deconvolution and
    Checkerboard Artifacts", Distill 2016.

    Architecture (sizes for a 640 input; every 3x3 conv is conv-BN-ReLU; residual adds sum the
    last and the first conv output of a stage): conv0.1/2 + conv0.2-0.3 (32) -> strided conv
    "pool0" (48) -> conv1.1-1.3 (48), max-pool 3x3/2 -> conv2.1-2.3 (64), max-pool 2x2/2 ->
    conv3.1-3.3 (128), max-pool 2x2/2 -> conv4, 4.1-4.3 (256) -> conv5, 5.1-5.3 (512,
    dilation 2) at 1/32 of the input -> 1x1 bottleneck (256, L2 2.5e-3) -> nearest x4, conv
    (128) -> nearest x2, conv (64) -> Conv2DTranspose 4/2 (64, ReLU) -> Conv2DTranspose 4/1
    (32, ReLU) -> conv (16) -> 1x1 logits (L2 2.5e-3) at half the input size -> nearest resize
    to the input size. 28 weight layers (26 Conv2D + 2 Conv2DTranspose).

    The output is logits: apply the sigmoid only in the loss
    (:class:`keras_mia.losses.WeightedSigmoidCrossEntropy`) or at inference. (The original
    code applied it twice.)

    Fine-tuning stages: ``head`` (the logits layer), ``decoder`` (adds the bottleneck and
    the upsampling path), ``all``.

    Args:
        input_shape: ``(height, width[, channels])``; default ``(None, None, 1)``: any size
            (training crops grow 320 -> 480 -> 640 -> 840). Sizes divisible by 32 keep every
            stage aligned; other sizes work too (the final resize restores the input size).
        num_classes: Logit channels (1: abnormal-tissue mask).
        weights: ``None`` (random, as in the paper) or a ``.keras`` / ``.weights.h5`` file of
            this architecture.
        input_channels: 1 (default, gray mammogram) or 3.

    Input:
        Float crops ``(batch, height, width, channels)`` normalised as ``(x - 127) / 255``.

    Returns:
        An uncompiled ``keras.Model`` named ``"dense_prediction_28"`` giving per-pixel logits
        ``(batch, height, width, num_classes)``.

    Raises:
        ValueError: For an invalid option, ``weights="imagenet"``, or a weights file that does
            not fit the architecture.
        FileNotFoundError: If ``weights`` names a file that does not exist.
    """
    height, width, channels = resolve_input_shape(
        input_shape, input_channels, default_size=(None, None), default_channels=1
    )
    weights = check_weights_option(weights)
    if weights == IMAGENET:
        raise ValueError(
            f"{NAME} has no ImageNet weights: pass None or a weights file. "
            f"Received: weights={weights!r}"
        )
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(
            f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}"
        )

    inputs = keras.Input((height, width, channels), name="image")
    x = _residual_stage(inputs, 32, 3, strides=2, name="block0")
    x = conv_bn_relu(x, 48, strides=2, name="pool0")
    x = _residual_stage(x, 48, 3, name="block1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block1_pool")(x)
    x = _residual_stage(x, 64, 3, name="block2")
    x = layers.MaxPooling2D(2, strides=2, padding="same", name="block2_pool")(x)
    x = _residual_stage(x, 128, 3, name="block3")
    x = layers.MaxPooling2D(2, strides=2, padding="same", name="block3_pool")(x)
    # The last two pools were removed in favour of dilation, keeping 1/32 resolution.
    x = _residual_stage(x, 256, 4, name="block4")
    x = _residual_stage(x, 512, 4, dilation_rate=2, name="block5")
    x = conv_bn_relu(
        x, 256, 1, kernel_regularizer=keras.regularizers.L2(L2_WEIGHT), name="bottleneck"
    )

    # Resize-convolutions instead of transposed convolutions avoid checkerboard artifacts.
    x = layers.UpSampling2D(4, interpolation="nearest", name="decoder_up1")(x)
    x = conv_bn_relu(x, 128, name="decoder_conv1")
    x = layers.UpSampling2D(2, interpolation="nearest", name="decoder_up2")(x)
    x = conv_bn_relu(x, 64, name="decoder_conv2")
    x = layers.Conv2DTranspose(
        64, 4, strides=2, padding="same", activation="relu", name="decoder_deconv1"
    )(x)
    x = layers.Conv2DTranspose(
        32, 4, strides=1, padding="same", activation="relu", name="decoder_deconv2"
    )(x)
    x = conv_bn_relu(x, 16, name="decoder_conv3")
    # Logits at half resolution: the paper found full-resolution logits cost far more memory
    # for no better masks.
    logits = layers.Conv2D(
        num_classes, 1, kernel_regularizer=keras.regularizers.L2(L2_WEIGHT), name="head_logits"
    )(x)
    outputs = ResizeToMatch(name="head_resize")([logits, inputs])
    model = keras.Model(inputs, outputs, name=NAME)
    if weights is not None:
        load_weights_file(
            model,
            weights,
            rgb_builder=lambda: dense_prediction_28((height, width, 3), num_classes, None, 3),
        )
    return model
