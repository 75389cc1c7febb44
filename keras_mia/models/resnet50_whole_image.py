"""``resnet50_whole_image``: Shen et al.'s whole-mammogram classifier built on the patch model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence

import keras

from keras_mia.models.blocks import bottleneck_block
from keras_mia.models.common import (
    check_dropout,
    classifier_head,
    resolve_classifier_activation,
    resolve_input_shape,
)
from keras_mia.models.registry import register_model
from keras_mia.models.resnet50_patch import BACKBONE_OUTPUT
from keras_mia.models.stages import register_stages
from keras_mia.models.weights import (
    IMAGENET,
    applications_backbone,
    check_weights_option,
    copy_layer_weights,
    load_weights_file,
)

__all__ = ["resnet50_whole_image"]

NAME = "resnet50_whole_image"
EXTRA_BLOCK_PREFIX = "extra_block"
STEM_CONV = "conv1_conv"
BACKBONES = ("patch", "imagenet", "random")

# Shen's two stages are "new_layers" (the two bottleneck blocks + classifier) then "all"; "head"
# (the classifier alone) comes first so that every classifier of the zoo has a "head" stage.
register_stages(NAME, [("head", ("head_",)), ("new_layers", (EXTRA_BLOCK_PREFIX,))])


def _load_patch_model(patch_model: keras.Model | str | os.PathLike) -> keras.Model:
    if isinstance(patch_model, keras.Model):
        model = patch_model
    elif isinstance(patch_model, (str, os.PathLike)):
        path = Path(patch_model)
        if not path.is_file():
            raise FileNotFoundError(f"Patch model file not found: {path}")
        model = keras.saving.load_model(path, compile=False)
    else:
        raise ValueError(
            "`patch_model` must be a keras.Model or the path of a saved resnet50_patch model. "
            f"Received: patch_model={patch_model!r}"
        )
    names = {layer.name for layer in model.layers}
    if BACKBONE_OUTPUT not in names or STEM_CONV not in names:
        raise ValueError(
            f"`patch_model` must be a resnet50_patch model (a Keras ResNet50 with layers "
            f"'{STEM_CONV}' ... '{BACKBONE_OUTPUT}'). Received: patch_model named "
            f"{model.name!r}"
        )
    return model


@register_model(NAME)
def resnet50_whole_image(
    patch_model: keras.Model | str | os.PathLike | None = None,
    input_shape: Sequence[int | None] | None = None,
    num_classes: int = 2,
    weights: str | os.PathLike | None = None,
    input_channels: int | None = None,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    block_filters: Sequence[int] = (512, 512, 1024),
    backbone: Literal["patch", "imagenet", "random"] | None = None,
) -> keras.Model:
    """Shen et al.'s whole-image classifier: patch ResNet50 backbone + two ResNet blocks.

    Reference: L. Shen et al., "Deep Learning to Improve Breast Cancer Detection on Screening
    Mammography", Scientific Reports 9:12495 (2019), best single model "ResNet50 + 2 ResNet
    blocks [512-512-1024]" (AUC 0.86 on CBIS-DDSM).

    Architecture: the ResNet50 convolutional backbone of a trained ``resnet50_patch`` model
    (without its pooling and dense layers; every backbone weight copied, the patch model is not
    modified) applied to the whole image -> bottleneck block [512-512-1024] with stride 2 and a
    projection shortcut -> identity bottleneck block [512-512-1024] -> global average pooling
    -> [Dropout] -> Dense(2, softmax). Being fully convolutional up to the pooling, it accepts
    any input size (``input_shape=(None, None, c)``).

    Fine-tuning stages: ``head`` (the dense classifier only), ``new_layers`` (Shen's stage 1:
    the two new blocks and the classifier), ``all`` (Shen's stage 2).

    Args:
        patch_model: A ``resnet50_patch`` model or the path of its saved ``.keras`` file, whose
            backbone initialises this one. ``None`` starts from ``weights`` instead.
        input_shape: ``(height, width[, channels])``; default ``(1152, 896, channels)``.
        num_classes: Output classes (2: benign/normal vs malignant).
        weights: Without ``patch_model``: ``None`` (random), ``"imagenet"`` (ImageNet
            backbone), or a ``.keras`` / ``.weights.h5`` file of this architecture. Must be
            ``None`` when ``patch_model`` is given.
        input_channels: 1 or 3; default: the patch model's (else 3). A 3-channel patch
            backbone can initialise a 1-channel model (stem summed over RGB).
        dropout: Optional dropout before the dense layer.
        classifier_activation: ``"softmax"`` (default), another activation, or ``None``.
        block_filters: Depths of the new bottleneck blocks' three convolutions.
        backbone: What the ResNet50 body starts from, stated explicitly: ``"patch"`` (a
            trained patch classifier; ``patch_model`` required), ``"imagenet"`` (ImageNet
            weights) or ``"random"``. ``None``: ``patch_model`` if given, else
            ``weights``. The recipe ``mammo_whole_image`` always states it (see
            ``keras_mia.training.backbone``): its first stage trains only the new blocks over
            the frozen body, which is meaningful on a trained patch classifier only.

    Input:
        Whole mammograms ``(batch, 1152, 896, channels)`` preprocessed like the patches
        (pixels in [0, 255] minus the patch run's training mean, not a whole-image mean).

    Returns:
        An uncompiled ``keras.Model`` named ``"resnet50_whole_image"`` giving
        ``(batch, num_classes)`` class probabilities.

    Raises:
        ValueError: For an invalid option, both ``patch_model`` and ``weights``, a
            ``patch_model`` that is not a ``resnet50_patch`` model, or weights that do not fit.
        FileNotFoundError: If ``patch_model`` or ``weights`` names a missing file.
    """
    if backbone is not None and backbone not in BACKBONES:
        raise ValueError(
            f"`backbone` must be one of {BACKBONES} or None. Received: backbone={backbone!r}"
        )
    if backbone == "patch" and patch_model is None:
        raise ValueError(
            "backbone='patch' needs `patch_model`, a trained resnet50_patch model or its "
            "saved .keras file. Received: patch_model=None"
        )
    if backbone in ("imagenet", "random"):
        if patch_model is not None:
            raise ValueError(
                f"backbone={backbone!r} does not take a `patch_model`. "
                f"Received: patch_model={patch_model!r}"
            )
        wanted = IMAGENET if backbone == "imagenet" else None
        if weights not in (None, wanted):
            raise ValueError(
                f"backbone={backbone!r} sets the weights itself. Received: weights={weights!r}"
            )
        weights = wanted
    source = None
    if patch_model is not None:
        if weights is not None:
            raise ValueError(
                "Give either `patch_model` (initialise from a patch classifier) or `weights`, "
                f"not both. Received: weights={weights!r}"
            )
        source = _load_patch_model(patch_model)
        if input_channels is None and (input_shape is None or len(input_shape) == 2):
            input_channels = int(source.input_shape[-1])
    height, width, channels = resolve_input_shape(
        input_shape, input_channels, default_size=(1152, 896), default_channels=3
    )
    weights = check_weights_option(weights)
    activation = resolve_classifier_activation(num_classes, classifier_activation)
    dropout = check_dropout(dropout)

    inputs = keras.Input((height, width, channels), name="image")
    backbone = applications_backbone("ResNet50", inputs, weights=weights, input_channels=channels)
    x = bottleneck_block(
        backbone.output, block_filters, strides=2, projection=True, name=f"{EXTRA_BLOCK_PREFIX}1"
    )
    x = bottleneck_block(x, block_filters, name=f"{EXTRA_BLOCK_PREFIX}2")
    outputs = classifier_head(x, num_classes, activation=activation, dropout=dropout)
    model = keras.Model(inputs, outputs, name=NAME)

    if source is not None:
        for layer in backbone.layers:
            if layer.weights:
                copy_layer_weights(
                    source.get_layer(layer.name), layer, adapt_stem=layer.name == STEM_CONV
                )
    elif weights is not None and weights != IMAGENET:
        load_weights_file(
            model,
            weights,
            rgb_builder=lambda: resnet50_whole_image(
                None, (height, width, 3), num_classes, None, 3, dropout, classifier_activation,
                block_filters,
            ),
        )
    return model
