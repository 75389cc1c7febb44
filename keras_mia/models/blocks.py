"""Building blocks shared by the model families (functional API, ``keras`` only).

Every function takes a symbolic tensor and a ``name`` prefix and returns a tensor; each layer it
creates is named ``f"{name}_<part>"`` so that checkpoints, fine-tuning stages and Grad-CAM can
address layers by name.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

__all__ = ["conv_bn_relu", "bottleneck_block", "basic_block"]


def conv_bn_relu(
    x,
    filters: int,
    kernel_size: int = 3,
    *,
    name: str,
    strides: int = 1,
    dilation_rate: int = 1,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
    bn_epsilon: float = 1e-3,
    bn_momentum: float = 0.99,
    activation: bool = True,
):
    """Conv2D ("same" padding, no bias) -> BatchNormalization -> optional ReLU.

    Args:
        x: Input tensor, channels last.
        filters: Number of output channels.
        kernel_size: Square kernel size.
        name: Prefix of the layer names (``_conv``, ``_bn``, ``_relu``).
        strides: Convolution stride.
        dilation_rate: Convolution dilation.
        kernel_regularizer: Optional regularizer of the convolution kernel.
        bn_epsilon: BatchNormalization epsilon.
        bn_momentum: BatchNormalization momentum (Keras convention: weight of the old value).
        activation: Whether to end with a ReLU.

    Returns:
        The output tensor.
    """
    # The bias would be cancelled by the BatchNormalization's mean subtraction.
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        dilation_rate=dilation_rate,
        use_bias=False,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_bn")(x)
    if activation:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def bottleneck_block(
    x,
    filters: Sequence[int],
    *,
    name: str,
    strides: int = 1,
    projection: bool | None = None,
    bn_epsilon: float = 1.001e-5,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
):
    """ResNet v1 bottleneck block (1x1, 3x3, 1x1 convs), as in ``keras.applications.ResNet50``.

    The stride sits on the first 1x1 convolution, like Keras' ResNet50 (and the original Caffe
    model), so that the new blocks of the whole-image classifier match the patch backbone.

    Args:
        x: Input tensor, channels last.
        filters: The three convolution depths, e.g. ``(512, 512, 1024)``.
        name: Prefix of the layer names.
        strides: Stride of the block (on the first 1x1 convolution and the shortcut).
        projection: Whether the shortcut is a 1x1 convolution + BN. ``None`` uses one whenever
            the stride is not 1 or the channel count changes, as an identity could not be added.
        bn_epsilon: BatchNormalization epsilon.
        kernel_regularizer: Optional regularizer of every convolution kernel.

    Returns:
        The output tensor, with ``filters[2]`` channels.
    """
    if len(filters) != 3:
        raise ValueError(
            f"A bottleneck block needs three filter depths. Received: filters={filters}"
        )
    f1, f2, f3 = (int(f) for f in filters)
    if projection is None:
        projection = strides != 1 or x.shape[-1] != f3

    def conv(tensor, depth, kernel, stride, part):
        tensor = layers.Conv2D(
            depth,
            kernel,
            strides=stride,
            padding="same",
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_{part}_conv",
        )(tensor)
        return layers.BatchNormalization(epsilon=bn_epsilon, name=f"{name}_{part}_bn")(tensor)

    if projection:
        shortcut = conv(x, f3, 1, strides, "0")
    else:
        shortcut = x
    y = conv(x, f1, 1, strides, "1")
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = conv(y, f2, 3, 1, "2")
    y = layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = conv(y, f3, 1, 1, "3")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def basic_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    bn_epsilon: float = 1e-5,
    bn_momentum: float = 0.9,
):
    """torchvision's ResNet ``BasicBlock`` (two 3x3 convs without bias), channels last.

    Padding follows PyTorch exactly: a strided 3x3 convolution pads one pixel on every side
    (Keras' "same" would pad only bottom/right), so weights ported from torchvision give the same
    outputs.

    Args:
        x: Input tensor, channels last.
        filters: Output channels of both convolutions.
        name: Prefix of the layer names (torchvision's ``layer1.0`` becomes ``layer1_0``).
        strides: Stride of the first convolution; a 1x1 projection shortcut ("downsample") is
            added whenever the stride is not 1 or the channel count changes.
        bn_epsilon: BatchNormalization epsilon (PyTorch default 1e-5).
        bn_momentum: BatchNormalization momentum (PyTorch's 0.1 in Keras' convention).

    Returns:
        The output tensor.
    """

    def bn(tensor, part):
        return layers.BatchNormalization(
            epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_{part}"
        )(tensor)

    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=strides, use_bias=False, name=f"{name}_downsample_conv"
        )(x)
        shortcut = bn(shortcut, "downsample_bn")
    if strides == 1:
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    else:
        y = layers.ZeroPadding2D(1, name=f"{name}_pad1")(x)
        y = layers.Conv2D(filters, 3, strides=strides, use_bias=False, name=f"{name}_conv1")(y)
    y = bn(y, "bn1")
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = bn(y, "bn2")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)
