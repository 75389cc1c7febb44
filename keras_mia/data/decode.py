"""Decoding image files inside tf.data, in original intensity units.

PNG (8 and 16 bit), JPEG and BMP are decoded by TensorFlow's own kernels, so they run in
parallel without Python. Everything else (DICOM, PGM, TIFF, ...) goes through
``keras_mia.io.read_image`` wrapped in ``tf.numpy_function`` (which holds the GIL, so it
parallelises less well: convert large DICOM sets to PNG with ``keras-mia prepare``).

Images come out as float32 ``[H, W]`` grey levels in the file's own units: an 8-bit PNG
gives 0..255, a 16-bit PNG 0..65535. Colour images are converted to grey with the ITU-R
601 luma weights (as Pillow's ``convert("L")``); an alpha channel is dropped. Masks come
out as float32 ``[H, W]`` of 0 and 1: any non-zero value in any colour channel is 1 (CBIS-DDSM
masks are 0/255, sometimes stored as RGB).

The decoder is chosen from the file name's extension (see :func:`image_format`), once per
file in Python; a ``.png``/``.jpg``/``.bmp`` file whose bytes lack that format's signature
falls back to ``read_image``, which detects the format from the content (and raises an
error naming the file if it is no image at all).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

__all__ = [
    "FORMATS",
    "image_format",
    "format_code",
    "decode_image",
    "decode_mask",
    "read_image_numpy",
]

# Index = the integer code used inside tf.data (tf.switch_case branch index).
FORMATS: tuple[str, ...] = ("png", "jpeg", "bmp", "other")
_EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp"}
_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "bmp": b"BM"}
# ITU-R 601-2 luma, the weights Pillow's convert("L") and tf.image.rgb_to_grayscale use.
_LUMA = (0.299, 0.587, 0.114)


def image_format(path: str | Path) -> str:
    """The decoder a file gets, from its extension.

    Args:
        path: an image file name.

    Returns:
        One of ``FORMATS``: ``"png"``, ``"jpeg"``, ``"bmp"`` (decoded by TensorFlow) or
        ``"other"`` (decoded by ``keras_mia.io.read_image``: DICOM, PGM, ...).
    """
    return _EXTENSIONS.get(Path(str(path)).suffix.lower(), "other")


def format_code(path: str | Path) -> int:
    """The index of ``image_format(path)`` in ``FORMATS`` (what the tf.data graph switches on)."""
    return FORMATS.index(image_format(path))


def read_image_numpy(path: bytes | str) -> np.ndarray:
    """``keras_mia.io.read_image`` for ``tf.numpy_function``: float32 ``[H, W]``.

    Args:
        path: the file (bytes, as tf.numpy_function passes strings).

    Returns:
        The image in original units.

    Raises:
        keras_mia.io.ImageReadError: the file cannot be read (the message names it).
        ValueError: the reader returned something that is not a 2-D image.
    """
    from keras_mia.io import read_image

    if isinstance(path, np.ndarray):  # eager tf.numpy_function passes a 0-d object array
        path = path.item()
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    image = np.asarray(read_image(path), dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(
            f"{path}: expected a single-channel (H, W) image from read_image. "
            f"Received: shape={image.shape}"
        )
    return image


def decode_image(path: tf.Tensor, fmt: str | tf.Tensor) -> tf.Tensor:
    """Decodes one image file to grey levels in original units.

    Args:
        path: scalar string tensor, the file.
        fmt: one of ``FORMATS`` (a Python string: only that decoder is put in the graph), or
            a scalar int tensor of ``format_code`` values (a switch over all decoders).

    Returns:
        float32 ``[H, W]`` tensor.
    """
    return _decode(path, fmt, _to_grey)


def decode_mask(path: tf.Tensor, fmt: str | tf.Tensor) -> tf.Tensor:
    """Decodes one mask file to 0/1.

    Args:
        path: scalar string tensor, the file.
        fmt: as for :func:`decode_image`.

    Returns:
        float32 ``[H, W]`` tensor, 1 where any channel of the file is non-zero, else 0.
    """
    mask = _decode(path, fmt, _max_channel)
    return tf.cast(mask > 0, tf.float32)


def _decode(path, fmt, reduce_channels):
    if isinstance(fmt, str):
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}. Received: fmt={fmt!r}")
        image = _DECODERS[fmt](path, reduce_channels)
    else:
        branches = [
            (lambda name=name: _DECODERS[name](path, reduce_channels)) for name in FORMATS
        ]
        image = tf.switch_case(tf.cast(fmt, tf.int32), branches)
    image = tf.ensure_shape(image, [None, None])
    return image


def _native_or_other(path, fmt, decode_contents, reduce_channels):
    """Decodes with TensorFlow when the bytes carry ``fmt``'s signature, else with
    ``read_image`` (which detects the format from the content, as the rest of keras_mia
    does, and raises an error naming the file when it is not an image at all)."""
    contents = tf.io.read_file(path)
    magic = _MAGIC[fmt]
    native = tf.equal(tf.strings.substr(contents, 0, len(magic)), magic)
    return tf.cond(
        native,
        lambda: decode_contents(contents, path, reduce_channels),
        lambda: _decode_other(path, reduce_channels),
    )


def _png_contents(contents, path, reduce_channels):
    # IHDR's bit-depth byte is at offset 24 (8-byte signature, chunk length, "IHDR", width,
    # height). decode_png(dtype=uint16) would scale an 8-bit file by 257, so pick the dtype
    # from the header to keep the file's own values.
    bit_depth = tf.io.decode_raw(tf.strings.substr(contents, 24, 1), tf.uint8)[0]
    return tf.switch_case(
        tf.cast(bit_depth >= 8, tf.int32) + tf.cast(bit_depth >= 16, tf.int32),
        [
            # 1/2/4-bit grey: libpng stretches these to 0..255, read_image keeps bilevel
            # images as 0/1; use read_image so both paths agree.
            lambda: _decode_other(path, reduce_channels),
            lambda: reduce_channels(
                tf.cast(tf.io.decode_png(contents, channels=0, dtype=tf.uint8), tf.float32)
            ),
            lambda: reduce_channels(
                tf.cast(tf.io.decode_png(contents, channels=0, dtype=tf.uint16), tf.float32)
            ),
        ],
    )


def _jpeg_contents(contents, path, reduce_channels):
    # TensorFlow's default IDCT is libjpeg's fast integer one (off by up to ~4 grey levels);
    # the accurate one matches Pillow, i.e. keras_mia.io.read_image.
    image = tf.io.decode_jpeg(contents, channels=0, dct_method="INTEGER_ACCURATE")
    return reduce_channels(tf.cast(image, tf.float32))


def _bmp_contents(contents, path, reduce_channels):
    return reduce_channels(tf.cast(tf.io.decode_bmp(contents, channels=0), tf.float32))


def _decode_png(path, reduce_channels):
    return _native_or_other(path, "png", _png_contents, reduce_channels)


def _decode_jpeg(path, reduce_channels):
    return _native_or_other(path, "jpeg", _jpeg_contents, reduce_channels)


def _decode_bmp(path, reduce_channels):
    return _native_or_other(path, "bmp", _bmp_contents, reduce_channels)


def _decode_other(path, reduce_channels):
    # read_image already returns one grey channel (DICOM RGB -> grey, MONOCHROME1 inverted);
    # a mask read this way is non-zero wherever any of its channels was.
    image = tf.numpy_function(read_image_numpy, [path], tf.float32, stateful=False)
    image.set_shape([None, None])
    return image


_DECODERS = {
    "png": _decode_png,
    "jpeg": _decode_jpeg,
    "bmp": _decode_bmp,
    "other": _decode_other,
}


def _colour(image):
    """The colour channels of a decoded ``[H, W, C]`` image: drops alpha (C = 2 or 4)."""
    channels = tf.shape(image)[-1]
    keep = tf.where(channels >= 3, 3, 1)
    return image[..., :keep], channels >= 3


def _to_grey(image):
    colour, is_rgb = _colour(image)
    return tf.cond(
        is_rgb,
        lambda: tf.tensordot(colour, tf.constant(_LUMA, tf.float32), axes=[[-1], [0]]),
        lambda: colour[..., 0],
    )


def _max_channel(image):
    colour, _ = _colour(image)
    return tf.reduce_max(colour, axis=-1)
