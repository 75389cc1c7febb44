"""Resizing and intensity normalisation of single images, as pure TensorFlow functions.

These are the deterministic per-image steps of the input pipeline; ``build_dataset`` uses
them inside tf.data and the exported SavedModel can use them in its serving graph, so
training and inference preprocess identically.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["resize", "normalize", "center_crop"]


def resize(
    image: tf.Tensor,
    size: tuple[int, int],
    mode: str = "stretch",
    method: str = "bilinear",
    antialias: bool = False,
) -> tf.Tensor:
    """Resizes an ``[H, W, C]`` image to ``size``.

    Args:
        image: float32 ``[H, W, C]``.
        size: ``(height, width)`` of the result.
        mode: ``"stretch"``: plain resize (the aspect ratio changes). ``"pad"``: scale by
            ``min(height / H, width / W)`` (aspect ratio kept), then pad with zeros, the
            same amount on both sides (the extra pixel of an odd total at the bottom/right).
        method: ``"bilinear"`` for images, ``"nearest"`` for masks.
        antialias: low-pass filter when downsampling (ignored for ``"nearest"``).

    Returns:
        float32 ``[height, width, C]`` with a static height and width.
    """
    height, width = int(size[0]), int(size[1])
    antialias = bool(antialias) and method != "nearest"
    channels = image.shape[-1]
    if mode == "stretch":
        out = tf.image.resize(image, [height, width], method=method, antialias=antialias)
    elif mode == "pad":
        shape = tf.cast(tf.shape(image)[:2], tf.float64)
        scale = tf.minimum(height / shape[0], width / shape[1])
        new_size = tf.cast(tf.round(shape * scale), tf.int32)
        new_size = tf.clip_by_value(new_size, 1, [height, width])
        out = tf.image.resize(image, new_size, method=method, antialias=antialias)
        top = (height - new_size[0]) // 2
        left = (width - new_size[1]) // 2
        out = tf.pad(
            out,
            [[top, height - new_size[0] - top], [left, width - new_size[1] - left], [0, 0]],
        )
    else:
        raise ValueError(f"mode must be 'stretch' or 'pad'. Received: mode={mode!r}")
    out = tf.cast(out, image.dtype)
    return tf.ensure_shape(out, [height, width, channels])


def normalize(
    image: tf.Tensor,
    minmax: tuple[float, float] | None = None,
    rescale: float = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
) -> tf.Tensor:
    """Intensity normalisation: optional per-image min-max, then ``(x * rescale - mean) / std``.

    Args:
        image: float32 tensor (any shape; the min-max is over all of it).
        minmax: ``(low, high)``: map the image's own minimum to ``low`` and maximum to
            ``high`` first; a constant image becomes ``low``. ``None``: skip.
        rescale: multiplier.
        mean: subtracted after ``rescale``.
        std: divisor after subtracting ``mean``.

    Returns:
        float32 tensor of ``image``'s shape.
    """
    x = tf.cast(image, tf.float32)
    if minmax is not None:
        low, high = float(minmax[0]), float(minmax[1])
        x_min = tf.reduce_min(x)
        x_range = tf.reduce_max(x) - x_min
        # A constant image has no range to stretch; dividing would give NaN.
        safe_range = tf.where(x_range > 0, x_range, 1.0)
        x = tf.where(x_range > 0, (x - x_min) / safe_range * (high - low) + low, low)
    if rescale != 1.0:
        x = x * rescale
    if mean != 0.0:
        x = x - mean
    if std != 1.0:
        x = x / std
    return x


def center_crop(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Crops the centre ``(height, width)`` of an ``[H, W, C]`` image (H >= height, W >= width).

    Args:
        image: ``[H, W, C]`` tensor with a static height and width.
        size: ``(height, width)`` to keep.

    Returns:
        ``[height, width, C]``; the extra pixel of an odd margin is cut at the bottom/right.
    """
    height, width = int(size[0]), int(size[1])
    in_height, in_width = image.shape[0], image.shape[1]
    if in_height is None or in_width is None or in_height < height or in_width < width:
        raise ValueError(
            f"center_crop needs a static image at least {size}. Received: shape={image.shape}"
        )
    top = (in_height - height) // 2
    left = (in_width - width) // 2
    return image[top : top + height, left : left + width, :]
