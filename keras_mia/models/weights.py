"""Weight initialisation for the builders: files, ImageNet, and 1-channel stem adaptation.

``weights`` options accepted by every builder:

- ``None``: random initialisation (the default; no download ever happens).
- ``"imagenet"``: ImageNet weights through ``keras.applications`` (downloaded by Keras on
  first use, then cached in ``~/.keras/models``). For a 1-channel model the 3-channel
  backbone is built and its stem kernel summed over RGB (:func:`adapt_input_conv`).
- a path to a ``.keras`` model file or a ``.weights.h5`` / ``.h5`` weights file saved from
  the same architecture. A file saved from the 3-channel variant may be loaded into the
  1-channel variant: its stem kernel is summed over RGB.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
import warnings
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from keras_mia.errors import WeightsDownloadError

__all__ = [
    "IMAGENET",
    "check_weights_option",
    "check_input_channels",
    "applications_backbone",
    "adapt_input_conv",
    "copy_layer_weights",
    "transfer_weights",
    "transfer_weights_by_name",
    "load_weights_file",
    "weighted_layers",
    "keras_cache_dir",
]

IMAGENET = "imagenet"


def check_weights_option(weights: str | os.PathLike | None) -> str | Path | None:
    """Validates a ``weights`` option.

    Returns:
        ``None``, ``"imagenet"``, or the ``Path`` of an existing weights file.

    Raises:
        FileNotFoundError: If a path is given that does not exist.
        ValueError: If the value is neither None, "imagenet" nor a path.
    """
    if weights is None or weights == IMAGENET:
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"`weights` must be None, '{IMAGENET}' or a path to a .keras / .weights.h5 file. "
            f"Received: weights={weights!r}"
        )
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"Weights file not found: {path}. `weights` must be None, '{IMAGENET}' or an "
            f"existing .keras / .weights.h5 file. Received: weights={weights!r}"
        )
    return path


def check_input_channels(input_channels: int) -> int:
    """Validates ``input_channels`` (1 for grayscale, 3 for RGB) and returns it."""
    if input_channels not in (1, 3):
        raise ValueError(
            f"`input_channels` must be 1 or 3. Received: input_channels={input_channels!r}"
        )
    return int(input_channels)


def adapt_input_conv(kernel: np.ndarray, in_channels: int) -> np.ndarray:
    """Adapts a stem convolution kernel to ``in_channels`` input channels.

    Follows timm's ``adapt_input_conv``: an RGB kernel becomes a grayscale kernel by summing
    its three input-channel slices, so a gray image ``g`` gives the same response as the RGB
    image ``(g, g, g)`` did.

    Args:
        kernel: Keras conv kernel, shape ``(kh, kw, source_in, out)``.
        in_channels: Wanted number of input channels.

    Returns:
        The kernel with shape ``(kh, kw, in_channels, out)``.

    Raises:
        ValueError: For any adaptation other than 3 -> 1 channels.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"Expected a 4-D conv kernel. Received: kernel.shape={kernel.shape}")
    source_in = kernel.shape[2]
    if source_in == in_channels:
        return kernel
    if source_in == 3 and in_channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    raise ValueError(
        "Only 3-channel -> 1-channel stem adaptation is supported. Received: kernel with "
        f"{source_in} input channels, in_channels={in_channels}"
    )


def weighted_layers(layers: Sequence[keras.layers.Layer]) -> list[keras.layers.Layer]:
    """Returns the layers that own weights, in order."""
    return [layer for layer in layers if layer.weights]


def copy_layer_weights(
    source: keras.layers.Layer, target: keras.layers.Layer, *, adapt_stem: bool = False
) -> None:
    """Copies every weight (trainable or not) of ``source`` into ``target``.

    Args:
        source: Layer to read.
        target: Layer to write; same class and weight shapes.
        adapt_stem: Allow a conv kernel whose input channels differ (3 -> 1), summed over RGB.

    Raises:
        ValueError: On a class, weight-count or shape mismatch.
    """
    if type(source) is not type(target):
        raise ValueError(
            f"Cannot copy weights between different layer types. Received: source "
            f"{source.name} ({type(source).__name__}), target {target.name} "
            f"({type(target).__name__})"
        )
    source_values = source.get_weights()
    target_vars = target.weights
    if len(source_values) != len(target_vars):
        raise ValueError(
            f"Layer {target.name} has {len(target_vars)} weights but source layer "
            f"{source.name} has {len(source_values)}."
        )
    values = []
    for value, variable in zip(source_values, target_vars):
        shape = tuple(variable.shape)
        if value.shape != shape and adapt_stem and value.ndim == 4:
            value = adapt_input_conv(value, shape[2])
        if value.shape != shape:
            raise ValueError(
                f"Weight shape mismatch for layer {target.name}: the model expects {shape}, "
                f"the source layer {source.name} has {value.shape}."
            )
        values.append(value)
    target.set_weights(values)


def transfer_weights(
    source_layers: Sequence[keras.layers.Layer],
    target_layers: Sequence[keras.layers.Layer],
    *,
    description: str = "source",
) -> int:
    """Copies weights between two same-architecture layer lists, pairing weighted layers by order.

    Order (not name) is used because ``keras.applications.InceptionV3`` names its convolutions
    from a global counter, so two builds of it in one process have different layer names. The
    first weighted layer (the stem) may be adapted from 3 to 1 input channels.

    Args:
        source_layers: Layers of the model to read (e.g. ``source_model.layers``).
        target_layers: Layers of the model to write.
        description: What the source is (a file name), used in error messages.

    Returns:
        The number of layers copied.

    Raises:
        ValueError: If the weighted layers do not pair up.
    """
    sources = weighted_layers(source_layers)
    targets = weighted_layers(target_layers)
    if len(sources) != len(targets):
        raise ValueError(
            f"Architecture mismatch: {description} has {len(sources)} layers with weights, the "
            f"model has {len(targets)}."
        )
    for index, (source, target) in enumerate(zip(sources, targets)):
        try:
            copy_layer_weights(source, target, adapt_stem=index == 0)
        except ValueError as error:
            raise ValueError(f"Cannot load weights from {description}: {error}") from None
    return len(targets)


def transfer_weights_by_name(
    source: keras.Model, target: keras.Model, layer_names: Sequence[str], *, description: str
) -> int:
    """Copies the weights of the named layers from ``source`` into ``target``.

    Raises:
        ValueError: If a named layer is missing from either model or does not match.
    """
    for layer_name in layer_names:
        try:
            source_layer = source.get_layer(layer_name)
        except ValueError:
            raise ValueError(
                f"{description} has no layer named '{layer_name}'. Received: model "
                f"{source.name!r}"
            ) from None
        copy_layer_weights(source_layer, target.get_layer(layer_name))
    return len(layer_names)


def load_weights_file(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    rgb_builder: Callable[[], keras.Model] | None = None,
) -> None:
    """Loads a ``.keras`` or ``.weights.h5`` file into ``model``, adapting a 3-channel stem.

    Args:
        model: The freshly built model to fill.
        path: A ``.keras`` model file or a ``.weights.h5`` / ``.h5`` weights file saved from the
            same architecture (with 1 or 3 input channels).
        rgb_builder: Builds the 3-channel variant of ``model``; needed to read a weights-only
            file saved from that variant into a 1-channel model.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file type is unsupported or its weights do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Weights file not found: {path}")
    name = path.name.lower()
    if name.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        transfer_weights(source.layers, model.layers, description=str(path))
        return
    if not name.endswith(".h5"):
        raise ValueError(
            f"Unsupported weights file type (expected .keras, .weights.h5 or .h5): {path}"
        )
    error = _try_load_weights(model, path)
    if error is None:
        return
    if rgb_builder is None or model.input_shape[-1] == 3:
        raise ValueError(
            f"Cannot load weights file {path} into model '{model.name}': {error}"
        ) from None
    source = rgb_builder()
    error = _try_load_weights(source, path)
    if error is not None:
        raise ValueError(
            f"Cannot load weights file {path} into model '{model.name}' (tried the 1-channel "
            f"and the 3-channel variant): {error}"
        ) from None
    transfer_weights(source.layers, model.layers, description=str(path))


def _try_load_weights(model: keras.Model, path: Path) -> ValueError | None:
    """``model.load_weights(path)``; returns the error instead of raising it.

    A failed attempt is expected (a 3-channel file tried on a 1-channel model) and is either
    retried or reported with context, so Keras' warnings about its partial load are dropped;
    the warnings of a load that works are re-issued.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as error:
            return error
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return None


def applications_backbone(
    constructor_name: str,
    inputs,
    *,
    weights: str | Path | None,
    input_channels: int,
) -> keras.Model:
    """Builds a ``keras.applications`` backbone (``include_top=False``) on ``inputs``.

    The backbone's layers are created on ``inputs`` itself, so the model built on top of its
    output is flat (layer names such as ``conv5_block3_out`` stay addressable).

    Args:
        constructor_name: Attribute of ``keras.applications``, e.g. ``"ResNet50"``.
        inputs: The ``keras.Input`` tensor of the model.
        weights: ``"imagenet"`` passes through to Keras (3 channels) or is loaded into a
            3-channel copy and adapted to 1 channel; anything else builds random weights (a
            file is loaded later by the builder, into the whole model).
        input_channels: 1 or 3.

    Returns:
        The ``keras.applications`` model object (its ``.output`` continues the graph).
    """
    constructor = getattr(keras.applications, constructor_name)
    direct = weights == IMAGENET and input_channels == 3
    with _imagenet_download(constructor_name):
        backbone = constructor(
            include_top=False, weights=IMAGENET if direct else None, input_tensor=inputs
        )
    if weights == IMAGENET and not direct:
        # Keras only ships 3-channel ImageNet kernels: load them into an RGB copy first.
        with _imagenet_download(constructor_name):
            source = constructor(
                include_top=False, weights=IMAGENET, input_shape=(None, None, 3)
            )
        transfer_weights(
            source.layers, backbone.layers, description=f"ImageNet {constructor_name}"
        )
    return backbone


def keras_cache_dir() -> Path:
    """The folder where Keras keeps downloaded weights: ``$KERAS_HOME/models``, by default
    ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


@contextlib.contextmanager
def _imagenet_download(constructor_name: str):
    """Turns Keras's failure to download ImageNet weights into a one-line user error."""
    try:
        yield
    except Exception as err:
        # keras.utils.get_file raises a bare Exception("URL fetch failure on URL: ...").
        text = " ".join(str(err).split())
        if not (
            text.startswith("URL fetch failure")
            or isinstance(err, (urllib.error.URLError, ConnectionError, TimeoutError))
        ):
            raise
        raise WeightsDownloadError(
            f"Could not download the ImageNet weights of {constructor_name} ({text}). Keras "
            f"keeps them in {keras_cache_dir()} (KERAS_HOME sets the folder): connect to the "
            "network once, or copy the weights file there, or train from random weights with "
            "--set model.options.weights=null"
        ) from err
