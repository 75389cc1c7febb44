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

Every decoder refuses a file holding more pixels than ``keras_mia.io.max_pixels()`` (read
when the graph is built) before it decodes: the TensorFlow decoders from the PNG/JPEG/BMP
header, in the graph, with an error that names the file; ``read_image`` from the file's own
header. Errors from ``read_image`` name the file too. A file that is corrupt inside its
compressed data can still fail in TensorFlow's own decoder without its name: run
``keras_mia.data.validate.check_files`` before training (the training engine does) to find
such files and list them by manifest row.

A PNG or JPEG that does not end as a complete file does (IEND chunk, end-of-image marker) is
decoded by ``read_image`` instead, which names the file when it is cut short.

The decoder is chosen from the file name's extension (see :func:`image_format`), once per
file in Python; a ``.png``/``.jpg``/``.bmp`` file whose bytes lack that format's signature
falls back to ``read_image``, which detects the format from the content (and raises an
error naming the file if it is no image at all).
"""

from __future__ import annotations

import os
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
# How a complete file ends: PNG's IEND chunk (type and CRC), JPEG's end-of-image marker.
_END = {"png": b"IEND\xaeB`\x82", "jpeg": b"\xff\xd9"}
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
    from keras_mia.io import ImageReadError, read_image

    if isinstance(path, np.ndarray):  # eager tf.numpy_function passes a 0-d object array
        path = path.item()
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        image = np.asarray(read_image(path), dtype=np.float32)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - TensorFlow would drop everything but the text
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc
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
    if fmt in _END:
        # TensorFlow's decoders fail on a file cut short without naming it; read_image
        # names it (and still decodes a complete file with trailing bytes after its end).
        native = tf.logical_and(native, tf.equal(_tail(contents, len(_END[fmt])), _END[fmt]))

    def decode_native():
        with tf.control_dependencies([_check_size(contents, path, fmt)]):
            return decode_contents(tf.identity(contents), path, reduce_channels)

    return tf.cond(native, decode_native, lambda: _decode_other(path, reduce_channels))


def _tail(contents, n):
    """The last ``n`` bytes, zero-padded in front when the file is shorter."""
    length = tf.strings.length(contents)
    last = tf.strings.substr(contents, tf.maximum(length - n, 0), n)
    joined = tf.strings.join([b"\0" * n, last])
    return tf.strings.substr(joined, tf.strings.length(joined) - n, n)


def _head(contents):
    """The first 32 bytes, zero-padded: a file cut inside its header must not make the
    header reads fail (the decoder then reports it)."""
    return tf.strings.substr(
        tf.strings.join([tf.strings.substr(contents, 0, 32), b"\0" * 32]), 0, 32
    )


def _header_size(contents, fmt):
    """(height, width) as int64 from a PNG/JPEG/BMP header, without decoding pixels."""
    head = _head(contents)
    if fmt == "png":
        # IHDR: width and height, big-endian uint32, at bytes 16 and 20.
        raw = tf.cast(tf.io.decode_raw(tf.strings.substr(head, 16, 8), tf.uint8), tf.int64)
        width = raw[0] * 2**24 + raw[1] * 2**16 + raw[2] * 2**8 + raw[3]
        height = raw[4] * 2**24 + raw[5] * 2**16 + raw[6] * 2**8 + raw[7]
        return height, width
    if fmt == "jpeg":
        shape = tf.cast(tf.io.extract_jpeg_shape(contents), tf.int64)
        return shape[0], shape[1]
    # BMP with a BITMAPINFOHEADER or later: int32 width and height (negative: top-down).
    raw = tf.io.decode_raw(tf.strings.substr(head, 18, 8), tf.int32, little_endian=True)
    return tf.abs(tf.cast(raw[1], tf.int64)), tf.abs(tf.cast(raw[0], tf.int64))


def _check_size(contents, path, fmt):
    """An assertion that the header's pixel count is within the cap; names the file."""
    from keras_mia.io.limits import ENV_VAR, max_pixels

    cap = max_pixels()
    height, width = _header_size(contents, fmt)
    return tf.debugging.Assert(
        height * width <= cap,
        ["Cannot read image", path, f"image too large: {fmt.upper()} header says height x width",
         height, width, f"which exceeds the cap of {cap} pixels (raise it with {ENV_VAR} if "
         "the file is genuine)"],
    )


def _png_contents(contents, path, reduce_channels):
    # IHDR's bit-depth byte is at offset 24 (8-byte signature, chunk length, "IHDR", width,
    # height). decode_png(dtype=uint16) would scale an 8-bit file by 257, so pick the dtype
    # from the header to keep the file's own values.
    bit_depth = tf.io.decode_raw(tf.strings.substr(_head(contents), 24, 1), tf.uint8)[0]
    return tf.switch_case(
        tf.cast(bit_depth >= 8, tf.int32) + tf.cast(bit_depth >= 16, tf.int32),
        [
            # 1/2/4-bit grey: libpng stretches these to 0..255, read_image keeps bilevel
            # images as 0/1; use read_image so both paths agree.
            lambda: _decode_other(path, reduce_channels),
            lambda: reduce_channels(tf.io.decode_png(contents, channels=0, dtype=tf.uint8)),
            lambda: reduce_channels(tf.io.decode_png(contents, channels=0, dtype=tf.uint16)),
        ],
    )


def _jpeg_contents(contents, path, reduce_channels):
    # TensorFlow's default IDCT is libjpeg's fast integer one (off by up to ~4 grey levels);
    # the accurate one matches Pillow, i.e. keras_mia.io.read_image.
    image = tf.io.decode_jpeg(contents, channels=0, dct_method="INTEGER_ACCURATE")
    return reduce_channels(image)


def _bmp_contents(contents, path, reduce_channels):
    return reduce_channels(tf.io.decode_bmp(contents, channels=0))


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
    # Channel by channel from the decoded integers: no float32 copy of all three channels.
    _, is_rgb = _colour(image)

    def luma():
        terms = [tf.cast(image[..., i], tf.float32) * weight for i, weight in enumerate(_LUMA)]
        return terms[0] + terms[1] + terms[2]

    return tf.cond(is_rgb, luma, lambda: tf.cast(image[..., 0], tf.float32))


def _max_channel(image):
    colour, _ = _colour(image)
    return tf.cast(tf.reduce_max(colour, axis=-1), tf.float32)
