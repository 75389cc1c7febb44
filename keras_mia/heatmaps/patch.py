"""Class heatmaps of a patch classifier (``resnet50_patch``) over a whole preprocessed image.

Two ways to get a per-class probability map, cell ``(r, c)`` being the window whose top-left
corner is ``(r * stride, c * stride)``:

- :func:`sliding_window_heatmap`: the patch classifier applied to every ``P x P`` window at
  a chosen stride, in batches. This *is* Shen et al.'s heatmap: every cell is exactly what the
  patch classifier says about that window, cut out on its own.
- :func:`fcn_heatmap`: one pass of a fully convolutional rewrite (:func:`fcn_model`): the
  backbone runs once over the whole image, the global average pooling becomes an ``f x f``
  average pooling with stride 1 over the feature map (``f``: the feature-map size of one
  window), and the head (``Dense`` ...) is applied at every position with the same weights.
  It costs about one forward pass over the image instead of one per window
  (``benchmarks/heatmap.py`` measures the ratio).

Constraints of the one-pass map:

- Its cells are ``s`` pixels apart, ``s`` being the backbone's total stride (the product of
  the strides of its convolutions and poolings, :func:`network_stride`; 32 for ResNet50), so
  it gives the sliding-window map at any stride that is a multiple of ``s`` (every
  ``stride / s``-th cell), never at a finer one.
- It equals the sliding-window map (up to float rounding, far below 1e-4) when the backbone
  does not pad (:func:`fcn_exact`: only ``valid`` convolutions and poolings, no
  ``ZeroPadding2D``): then the network is translation-equivariant in steps of ``s`` and a
  window's feature map is exactly a block of the whole image's. A padding backbone such as
  ResNet50 pads each *window* with zeros at its border when the window is classified on its
  own, whereas in the one pass those pixels see the neighbouring tissue; its receptive field
  (over 400 pixels) exceeds a 224-pixel window, so every cell differs somewhat, and the two
  maps agree exactly only on an image of a single window. For such a model the one-pass map
  is a fast approximation of the sliding-window one; the exported SavedModel's ``heatmap``
  signature computes the sliding-window map.

Everything here uses ``keras`` and NumPy only, so it runs on any Keras backend.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = [
    "window_starts",
    "sliding_window_heatmap",
    "network_stride",
    "fcn_exact",
    "fcn_model",
    "fcn_heatmap",
    "preprocess_whole_image",
]

# Layers that act on the last axis only, so they mean the same per position of a map.
_POINTWISE = (
    keras.layers.Dense,
    keras.layers.Dropout,
    keras.layers.Activation,
    keras.layers.Softmax,
    keras.layers.BatchNormalization,
)
# Layers that change the spatial size by other than a stride, or mix positions globally.
_NOT_CONVOLUTIONAL = (
    keras.layers.UpSampling2D,
    keras.layers.Conv2DTranspose,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Resizing,
    keras.layers.Cropping2D,
)


def window_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Start offsets of the windows along one axis: ``0, stride, ...`` while the window fits.

    Args:
        length: image height or width.
        patch: window height or width.
        stride: step between windows (>= 1).

    Returns:
        int array of start offsets (``(length - patch) // stride + 1`` of them).

    Raises:
        ValueError: the window does not fit or ``stride < 1``.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1. Received: stride={stride}")
    if length < patch:
        raise ValueError(
            f"The image ({length} pixels) is smaller than the window ({patch} pixels) along "
            f"one axis. Received: length={length}, patch={patch}"
        )
    return np.arange(0, length - patch + 1, stride)


def sliding_window_heatmap(
    model: keras.Model,
    image: np.ndarray,
    stride: int | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """The patch classifier applied to every window of a whole image, in batches.

    Args:
        model: a patch classifier with a fixed input size ``(P_h, P_w, C)``.
        image: the preprocessed whole image, ``[H, W, C]`` (or ``[H, W]`` for ``C = 1``),
            in the units the model was trained on (see :func:`preprocess_whole_image`).
        stride: pixels between windows; ``None``: a quarter of the window height.
        batch_size: windows per model call.

    Returns:
        float32 ``[rows, cols, n_outputs]``: cell ``(r, c)`` is the model's output for the
        window whose top-left corner is ``(r * stride, c * stride)``.

    Raises:
        ValueError: the model has no fixed input size, the image is smaller than a window,
            or ``stride``/``batch_size`` is below 1.
    """
    patch_h, patch_w, channels = _patch_shape(model)
    image = _as_image(image, channels)
    stride = int(stride) if stride is not None else max(1, patch_h // 4)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    rows = window_starts(image.shape[0], patch_h, stride)
    cols = window_starts(image.shape[1], patch_w, stride)
    corners = [(r, c) for r in rows for c in cols]
    batch_size = min(batch_size, len(corners))
    outputs = []
    for start in range(0, len(corners), batch_size):
        chunk = corners[start : start + batch_size]
        # A short last batch is padded with its first window so every call has one shape
        # (a new shape would re-trace the predict function); the padding is dropped.
        chunk = chunk + [chunk[0]] * (batch_size - len(chunk))
        batch = np.stack([image[r : r + patch_h, c : c + patch_w] for r, c in chunk])
        outputs.append(keras.ops.convert_to_numpy(model.predict_on_batch(batch)))
    flat = np.concatenate(outputs)[: len(corners)].reshape(len(corners), -1)
    return flat.reshape(len(rows), len(cols), -1).astype(np.float32)


def network_stride(model: keras.Model) -> int:
    """The backbone's total stride ``s``: one-pass heatmap cells are ``s`` pixels apart.

    The product of the strides of the convolutions and poolings on the path from the input
    to the global average pooling (any path: the branches of a residual block share their
    stride), checked against the feature-map sizes the backbone gives for larger inputs.

    Args:
        model: a "backbone -> GlobalAveragePooling2D -> head" patch classifier.

    Returns:
        ``s`` (32 for ResNet50).

    Raises:
        ValueError: no single global average pooling, a layer that is not a strided
            convolution/pooling (e.g. upsampling), different strides along the two axes, or
            feature-map sizes that do not grow by one per ``s`` pixels.
    """
    _patch_shape(model)
    pooling = _pooling_layer(model)
    stride_h, stride_w = _path_stride(pooling.input, model.inputs[0], model.name)
    if stride_h != stride_w:
        raise ValueError(
            f"Model '{model.name}': its backbone strides differ along the two axes, so its "
            f"one-pass map has no square grid. Received: strides {stride_h}x{stride_w}"
        )
    return int(stride_h)


def fcn_exact(model: keras.Model) -> bool:
    """Whether the one-pass map equals the sliding-window map everywhere (no padding).

    Args:
        model: the patch classifier.

    Returns:
        ``True`` when no layer before the global average pooling pads: no ``ZeroPadding2D``
        and every convolution or pooling with a window larger than one pixel is ``valid``.
        ``False`` for ResNet50 (``resnet50_patch``): see the module docstring.
    """
    pooling = _pooling_layer(model)
    for layer in _layers_before(model, pooling):
        if isinstance(layer, keras.layers.ZeroPadding2D):
            return False
        padding = getattr(layer, "padding", "valid")
        size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None) or (1,)
        if padding != "valid" and any(int(k) > 1 for k in size):
            return False
    return True


def fcn_model(model: keras.Model) -> keras.Model:
    """The one-pass, fully convolutional rewrite of a "backbone -> GAP -> head" classifier.

    The rewrite takes images of any size ``[B, H, W, C]`` (at least one window) and returns
    ``[B, rows, cols, n_outputs]``; its weights are copies of ``model``'s.

    Args:
        model: the patch classifier: a functional model whose only
            ``GlobalAveragePooling2D`` is followed by position-wise layers (``Dense``,
            ``Dropout``, ``Activation``, ``Softmax``, ``BatchNormalization``) up to the
            output.

    Returns:
        A new ``keras.Model`` named ``f"{model.name}_fcn"``.

    Raises:
        ValueError: the model does not have that structure (see :func:`network_stride`).
    """
    _, _, channels = _patch_shape(model)
    stride = network_stride(model)
    pooling = _pooling_layer(model)
    window = tuple(int(d) for d in pooling.input.shape[1:3])
    flexible = keras.models.clone_model(
        model, input_tensors=keras.Input((None, None, channels), name="whole_image")
    )
    flexible.set_weights(model.get_weights())
    pooling = flexible.get_layer(pooling.name)
    _check_growth(flexible, pooling, model, window, stride)
    x = keras.layers.AveragePooling2D(
        pool_size=window, strides=1, padding="valid", name="fcn_window_average"
    )(pooling.input)
    for layer in _head_chain(flexible, pooling):
        x = layer(x)
    return keras.Model(flexible.input, x, name=f"{model.name}_fcn")


def fcn_heatmap(
    model: keras.Model,
    image: np.ndarray,
    stride: int | None = None,
    fcn: keras.Model | None = None,
) -> np.ndarray:
    """The one-pass heatmap, on the same windows as :func:`sliding_window_heatmap`.

    Args:
        model: the patch classifier.
        image: the preprocessed whole image ``[H, W, C]`` (or ``[H, W]`` for ``C = 1``).
        stride: pixels between windows, a multiple of :func:`network_stride` (the network
            computes its map on that grid only); ``None``: the network stride.
        fcn: a model from :func:`fcn_model` (built once and reused across images);
            ``None`` builds it.

    Returns:
        float32 ``[rows, cols, n_outputs]``, the cells of
        ``sliding_window_heatmap(model, image, stride)`` (equal to it when
        :func:`fcn_exact` is true).

    Raises:
        ValueError: ``stride`` is not a multiple of the network stride, or the image is
            smaller than a window.
    """
    patch_h, patch_w, channels = _patch_shape(model)
    image = _as_image(image, channels)
    base = network_stride(model)
    stride = base if stride is None else int(stride)
    if stride < 1 or stride % base:
        raise ValueError(
            f"The one-pass heatmap of '{model.name}' has cells {base} pixels apart (the "
            f"network stride), so stride must be a multiple of {base}. Received: "
            f"stride={stride}"
        )
    rows = len(window_starts(image.shape[0], patch_h, stride))
    cols = len(window_starts(image.shape[1], patch_w, stride))
    fcn = fcn if fcn is not None else fcn_model(model)
    out = keras.ops.convert_to_numpy(fcn.predict_on_batch(image[None]))[0]
    step = stride // base
    # Past the last whole window the map can have a cell of a window that sticks out of the
    # image (partly padded, or partly missing): cut at the windows that fit.
    out = out[: (rows - 1) * step + 1 : step, : (cols - 1) * step + 1 : step]
    if out.shape[:2] != (rows, cols):
        raise ValueError(
            f"The one-pass map of '{model.name}' has {out.shape[:2]} cells at stride {stride}, "
            f"expected {(rows, cols)} windows. Received: image shape={image.shape}"
        )
    return out.astype(np.float32)


def preprocess_whole_image(image: np.ndarray, config: Any) -> np.ndarray:
    """A whole image in original units -> the intensity scale the patches were trained on.

    Applies the recipe's intensity normalisation (``minmax``, ``rescale``, ``mean``,
    ``std``) and channel replication, but not its resize: the windows must be cut at the
    scale the training patches were cut at (the whole image as ``keras-mia prepare`` wrote
    it). Note that ``minmax`` is then per whole image, not per window.

    Args:
        image: ``[H, W]`` in original units (``keras_mia.io.read_image``).
        config: the recipe's ``PipelineConfig``.

    Returns:
        float32 ``[H, W, config.channels]``.
    """
    from keras_mia.data.normalize import normalize

    x = np.asarray(
        normalize(np.asarray(image, np.float32)[..., None], config.minmax, config.rescale,
                  config.mean, config.std)
    )
    return np.repeat(x, config.channels, axis=-1).astype(np.float32)


def _patch_shape(model: keras.Model) -> tuple[int, int, int]:
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError(f"Expected a single-input patch classifier. Received: {model.name}")
    height, width, channels = shape[1:4]
    if height is None or width is None:
        raise ValueError(
            f"Model '{model.name}' has no fixed input size, so it has no window size. "
            f"Received: input_shape={shape}"
        )
    return int(height), int(width), int(channels)


def _as_image(image: np.ndarray, channels: int) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] != channels:
        raise ValueError(
            f"Expected a whole image [H, W, {channels}]. Received: shape={image.shape}"
        )
    return image


def _pooling_layer(model: keras.Model):
    found = [layer for layer in model.layers
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    if len(found) != 1:
        raise ValueError(
            f"Model '{model.name}' must have exactly one GlobalAveragePooling2D layer to be "
            f"rewritten fully convolutionally. Received: {len(found)}"
        )
    return found[0]


def _producer(tensor):
    """The layer that produced a symbolic tensor, and that call's input tensors."""
    history = tensor._keras_history
    node = history.operation._inbound_nodes[history.node_index]
    return history.operation, list(node.input_tensors)


def _path_stride(tensor, model_input, name: str) -> tuple[int, int]:
    """Product of the strides of the layers from ``model_input`` to ``tensor`` (first inputs)."""
    stride_h = stride_w = 1
    while tensor is not model_input:
        layer, inputs = _producer(tensor)
        if isinstance(layer, _NOT_CONVOLUTIONAL):
            raise ValueError(
                f"Model '{name}': layer '{layer.name}' ({type(layer).__name__}) before the "
                "global average pooling has no one-pass equivalent. Received: that layer"
            )
        if isinstance(layer, keras.Model):
            inner_h, inner_w = _path_stride(layer.outputs[0], layer.inputs[0], name)
            stride_h, stride_w = stride_h * inner_h, stride_w * inner_w
        else:
            strides = getattr(layer, "strides", None) or (1, 1)
            stride_h, stride_w = stride_h * int(strides[0]), stride_w * int(strides[-1])
        if not inputs:
            raise ValueError(f"Model '{name}': layer '{layer.name}' is not fed by the input.")
        tensor = inputs[0]
    return stride_h, stride_w


def _layers_before(model: keras.Model, pooling) -> list:
    """Every layer that feeds the pooling (the backbone), found by walking the graph back."""
    seen: dict[int, Any] = {}
    pending = [pooling.input]
    while pending:
        tensor = pending.pop()
        if any(tensor is t for t in model.inputs):
            continue
        layer, inputs = _producer(tensor)
        if id(layer) in seen:
            continue
        seen[id(layer)] = layer
        if isinstance(layer, keras.Model):
            seen.update({id(inner): inner for inner in layer.layers})
        pending.extend(inputs)
    return list(seen.values())


def _check_growth(flexible: keras.Model, pooling, model: keras.Model, window, stride: int):
    """The feature map must gain one cell per ``stride`` extra pixels (else no fixed grid)."""
    extractor = keras.Model(flexible.input, pooling.input)
    patch_h, patch_w, channels = _patch_shape(model)
    for k in (1, 2):
        shape = extractor.compute_output_shape(
            (1, patch_h + k * stride, patch_w + k * stride, channels))
        got = (int(shape[1]), int(shape[2]))
        if got != (window[0] + k, window[1] + k):
            raise ValueError(
                f"Model '{model.name}': a window of {patch_h}x{patch_w} gives a "
                f"{window[0]}x{window[1]} feature map but {k * stride} more pixels give "
                f"{got[0]}x{got[1]}, not {k} more cell(s), so the one-pass map has no grid of "
                f"stride {stride}. Received: input {patch_h}x{patch_w}x{channels}"
            )


def _head_chain(model: keras.Model, pooling) -> list:
    """The layers from the pooling to the output, checked to form a position-wise chain."""
    chain = []
    current = pooling.output
    by_input = {}
    for layer in model.layers:
        try:
            by_input.setdefault(id(layer.input), []).append(layer)
        except (AttributeError, ValueError):
            continue
    while current is not model.output:
        followers = by_input.get(id(current), [])
        if len(followers) != 1 or not isinstance(followers[0], _POINTWISE):
            names = [type(f).__name__ for f in followers]
            last = chain[-1].name if chain else pooling.name
            raise ValueError(
                f"Model '{model.name}': after its global average pooling only a chain of "
                f"position-wise layers ({', '.join(t.__name__ for t in _POINTWISE)}) can be "
                f"rewritten. Received: {names or 'a branch'} after {last}"
            )
        chain.append(followers[0])
        current = followers[0].output
    return chain
