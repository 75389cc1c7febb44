"""``resnet50_patch``: Shen et al.'s 5-class mammogram patch classifier."""

from __future__ import annotations

import os
from typing import Sequence

import keras

from keras_mia.models.common import applications_classifier
from keras_mia.models.registry import register_model
from keras_mia.models.stages import register_stages

__all__ = ["resnet50_patch", "BACKBONE_OUTPUT"]

NAME = "resnet50_patch"
# Last layer of keras.applications.ResNet50(include_top=False): the whole-image model's cut.
BACKBONE_OUTPUT = "conv5_block3_out"

# Shen et al.'s three stages; conv5_block3 is PyTorch's layer4[2], the last bottleneck block.
register_stages(NAME, [("head", ("head_",)), ("top_block", ("conv5_block3_",))])


@register_model(NAME)
def resnet50_patch(
    input_shape: Sequence[int | None] | None = None,
    num_classes: int = 5,
    weights: str | os.PathLike | None = None,
    input_channels: int | None = None,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
) -> keras.Model:
    """ResNet50 patch classifier of Shen et al. (background + 4 lesion classes).

    Reference: L. Shen, L. R. Margolies, J. H. Rothstein, E. Fluder, R. McBride, W. Sieh,
    "Deep Learning to Improve Breast Cancer Detection on Screening Mammography", Scientific
    Reports 9:12495 (2019). Backbone: He et al., CVPR 2016.

    Architecture: ``keras.applications.ResNet50(include_top=False)`` -> global average pooling
    -> [Dropout] -> Dense(5, softmax). Classes: 0 background, 1 malignant calcification,
    2 benign calcification, 3 malignant mass, 4 benign mass.

    Fine-tuning stages (Shen's schedule): ``head`` (stage 1: the dense layer), ``top_block``
    (stage 2: adds ``conv5_block3``, PyTorch's ``layer4[2]``), ``all`` (stage 3).

    Args:
        input_shape: ``(height, width[, channels])``; default ``(224, 224, 3)``. ``None``
            height/width accept any size of at least 32 (e.g. for a fully convolutional heatmap).
        num_classes: Output classes (5).
        weights: ``None`` (random), ``"imagenet"`` (the paper's initialisation, through
            ``keras.applications``), or a ``.keras`` / ``.weights.h5`` file of this architecture.
        input_channels: 3 (default; gray patches replicated, as ImageNet weights expect) or 1
            (ImageNet stem summed over RGB).
        dropout: Optional dropout before the dense layer (none in the paper).
        classifier_activation: ``"softmax"`` (default), another activation, or ``None`` for
            logits.

    Input:
        Float patches ``(batch, 224, 224, channels)``: pixels rescaled to [0, 255] with the
        training-set mean subtracted (Shen's preprocessing).

    Returns:
        An uncompiled ``keras.Model`` named ``"resnet50_patch"`` giving ``(batch, num_classes)``
        class probabilities.

    Raises:
        ValueError: For an invalid option (shape, channels, classes, dropout, activation) or a
            weights file that does not fit the architecture.
        FileNotFoundError: If ``weights`` names a file that does not exist.
    """
    return applications_classifier(
        NAME, "ResNet50", input_shape=input_shape, default_size=(224, 224),
        num_classes=num_classes, weights=weights, input_channels=input_channels,
        dropout=dropout, classifier_activation=classifier_activation,
    )
