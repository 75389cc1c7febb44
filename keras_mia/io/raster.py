"""Reads PNG, JPEG, Netpbm (PGM) and BMP files with Pillow as gray images in their own units.

16-bit grayscale (PNG ``I;16``, PGM with maxval > 255) keeps its 16 bits, and so do 16-bit
colour PNGs (such as CBIS-DDSM's RGB ROI masks), which Pillow on its own cuts to their high
bytes; colour becomes gray by luminance. Every Pillow failure (truncated data, corrupt
headers, decompression bombs) becomes an ``ImageReadError`` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_mia.io.arguments import frame_index, normalize_frame, normalize_window, warn_first_frame
from keras_mia.io.errors import ImageReadError
from keras_mia.io.formats import detect_format
from keras_mia.io.intensity import apply_linear_window, luminance
from keras_mia.io.limits import ENV_VAR, check_pixel_count, max_pixels, sync_pillow

__all__ = ["RASTER_FORMATS", "raster_header", "read_raster"]

# keras_mia format name -> the Pillow plugin allowed to decode it, so that a file is decoded
# by the plugin its content was recognised as.
RASTER_FORMATS = {"png": "PNG", "jpeg": "JPEG", "pgm": "PPM", "bmp": "BMP"}
_COLOUR_MODES = ("RGB", "RGBA", "RGBX", "RGBa")
_CONVERTED_COLOUR_MODES = ("CMYK", "YCbCr", "LAB", "HSV", "P", "PA")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Bytes at the end of a file searched for its closing marker (PNG IEND, JPEG EOI); a little
# trailing data after it is tolerated, as decoders do.
_TAIL = 1024
# Bits per pixel of the raw (uncompressed) BMP/PGM layouts, for the file-length check.
_MODE_BITS = {"1": 1, "L": 8, "P": 8, "I;16B": 16, "I": 16, "I;16": 16, "RGB": 24, "BGR;24": 24,
              "RGBA": 32, "RGBX": 32, "BGRX": 32}
# PNG colour type of 16-bit multi-sample pixels -> Pillow's rawmodes for the high bytes (what
# Pillow uses) and the low bytes of each sample.
_PNG_16_BIT_RAWMODES = {2: ("RGB;16B", "RGB;16L"), 4: ("LA;16B", None), 6: ("RGBA;16B", "RGBA;16L")}


def read_raster(
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    frame: int | None = None,
    window: None | bool | str | tuple[float, float] = None,
) -> np.ndarray:
    """Reads a PNG, JPEG, PGM or BMP file as a float32 (H, W) image in its own units.

    Args:
        path: the file.
        fmt: ``"png"``, ``"jpeg"``, ``"pgm"`` or ``"bmp"``; ``None`` detects it from the content.
        frame: frame of a multi-frame file (e.g. animated PNG); ``None`` means frame 0.
        window: ``None``/``"auto"``/``True`` leave values unchanged (these formats carry no
            window); a ``(center, width)`` pair maps ``[center - width/2, center + width/2]``
            linearly onto the type's range (0..255, 0..65535, or 0..1 for bilevel images).

    Returns:
        float32 array (H, W): the stored samples for gray images (0/1 for bilevel, 0..255 for
        8-bit, 0..65535 for 16-bit), 0.299 R + 0.587 G + 0.114 B for colour and palette
        images (16-bit colour PNGs keep their 16 bits, although Pillow alone would reduce them
        to 8). Alpha is ignored; EXIF orientation is not applied (pixels are returned in
        stored order, as for DICOM).

    Raises:
        ImageReadError: missing, unrecognised, truncated or corrupt file, or ``frame`` out of
            range.
    """
    from PIL import Image

    path = Path(path)
    frame = normalize_frame(frame)
    window = normalize_window(window)
    if fmt is None:
        fmt = detect_format(path)
    if fmt not in RASTER_FORMATS:
        raise ValueError(
            f"fmt must be one of {sorted(RASTER_FORMATS)} or None. Received: fmt={fmt!r}"
        )
    sync_pillow(max_pixels())
    try:
        with Image.open(path, formats=[RASTER_FORMATS[fmt]]) as img:
            # The header's size, before a single pixel is decoded.
            check_pixel_count(path, img.size[1], img.size[0])
            n_frames = getattr(img, "n_frames", 1)
            index = frame_index(frame, n_frames, path)
            if frame is None and n_frames > 1:
                warn_first_frame(path, n_frames)
            colour_type = _png_16_bit_colour_type(path) if fmt == "png" else None
            if colour_type is None:
                if index:
                    img.seek(index)
                img.load()
                image, value_range = _to_gray(img, path)
        if colour_type is not None:
            image, value_range = _read_16_bit_colour_png(path, colour_type, index), (0, 65535)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not a file") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            path,
            f"image too large (Pillow: {exc}); the cap is {max_pixels():,} pixels "
            f"({ENV_VAR} raises it)",
        ) from exc
    except Exception as exc:
        # Pillow signals truncation and corruption with OSError, SyntaxError, EOFError,
        # ValueError or zlib errors depending on the plugin; all mean the same to a caller.
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(
            path, f"truncated or corrupt {fmt.upper()} data (Pillow: {message})"
        ) from exc
    if isinstance(window, tuple):
        image = apply_linear_window(image, *window, value_range)
    return np.ascontiguousarray(image, dtype=np.float32)


def raster_header(path: str | os.PathLike, fmt: str | None = None) -> tuple[int, int, int]:
    """Cheap checks of a PNG/JPEG/PGM/BMP file without decoding its pixels.

    Reads the header (Pillow's ``size``: the pixel cap) and the end of the file: a PNG must
    end with its ``IEND`` chunk and a JPEG with its end-of-image marker (a file cut short
    lacks them), an uncompressed BMP or PGM must be as long as its rows need.

    Args:
        path: the file.
        fmt: its format; ``None`` detects it from the content.

    Returns:
        ``(height, width, frames)``.

    Raises:
        ImageReadError: missing, unrecognised, corrupt header, over the pixel cap, or cut
            short.
    """
    from PIL import Image

    path = Path(path)
    if fmt is None:
        fmt = detect_format(path)
    sync_pillow(max_pixels())
    try:
        with Image.open(path, formats=[RASTER_FORMATS[fmt]]) as img:
            width, height = img.size
            check_pixel_count(path, height, width)
            frames = int(getattr(img, "n_frames", 1))
            tile = img.tile[0] if len(img.tile) == 1 else None
            mode = img.mode
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            path, f"image too large (Pillow: {exc}); the cap is {max_pixels():,} pixels"
        ) from exc
    except Exception as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(path, f"corrupt {fmt.upper()} header (Pillow: {message})") from exc
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    if fmt == "png" and b"IEND" not in tail:
        raise ImageReadError(path, "truncated PNG: the file does not end with an IEND chunk")
    if fmt == "jpeg" and b"\xff\xd9" not in tail:
        raise ImageReadError(
            path, "truncated JPEG: no end-of-image marker (FFD9) at the end of the file"
        )
    if fmt in ("bmp", "pgm") and tile is not None and tile[0] == "raw":
        bits = _MODE_BITS.get(mode)
        if bits is not None:
            # BMP rows are padded to 4 bytes; PGM rows are not.
            row = (width * bits + 31) // 32 * 4 if fmt == "bmp" else -(-width * bits // 8)
            needed = int(tile[2]) + row * height
            if size < needed:
                raise ImageReadError(
                    path,
                    f"truncated {fmt.upper()}: {size:,} bytes, but its {height} x {width} "
                    f"pixels need {needed:,}",
                )
    return height, width, frames


def _png_16_bit_colour_type(path: Path) -> int | None:
    """The PNG colour type when the file holds 16-bit multi-sample pixels, else ``None``."""
    with path.open("rb") as f:
        header = f.read(26)
    # IHDR is the first chunk: 8-byte signature, length, type, width, height, depth, colour.
    if len(header) < 26 or header[12:16] != b"IHDR":
        return None  # Pillow reports the corrupt header.
    depth, colour_type = header[24], header[25]
    return colour_type if depth == 16 and colour_type in _PNG_16_BIT_RAWMODES else None


def _with_rawmode(tile, rawmode: str):
    if hasattr(tile, "_replace"):
        return tile._replace(args=rawmode)
    codec, extents, offset, _ = tile
    return (codec, extents, offset, rawmode)


def _decode_png_with_rawmode(path: Path, index: int, expected: str, rawmode: str) -> np.ndarray:
    """Decodes one PNG frame, telling Pillow's unpacker which bytes of each pixel to keep.

    The zip decoder undoes the PNG filters with the file's own bytes per pixel; the rawmode
    only chooses how the unpacker maps those bytes to channels, so swapping it is safe as long
    as Pillow planned the rawmode ``expected`` for this file.
    """
    from PIL import Image

    with Image.open(path, formats=["PNG"]) as img:
        if index:
            img.seek(index)
        tiles = img.tile
        planned = tiles[0][3] if len(tiles) == 1 else None
        if planned != expected:
            raise ImageReadError(
                path,
                f"unsupported 16-bit colour PNG layout (Pillow plans rawmode {planned!r}, "
                f"expected {expected!r})",
            )
        img.tile = [_with_rawmode(tiles[0], rawmode)]
        img.load()
        return np.asarray(img)


def _read_16_bit_colour_png(path: Path, colour_type: int, index: int) -> np.ndarray:
    """Full 16-bit samples of an RGB, RGBA or gray+alpha PNG, which Pillow cuts to 8 bits.

    Pillow keeps only the high byte of each 16-bit sample; decoding a second time with the
    little-endian rawmode yields the low bytes, and the two make the original samples.
    """
    high_rawmode, low_rawmode = _PNG_16_BIT_RAWMODES[colour_type]
    if low_rawmode is None:
        # No 16-bit gray+alpha unpacker exists, but its 4 bytes per pixel unpack as RGBA:
        # (gray high, gray low, alpha high, alpha low).
        raw = _decode_png_with_rawmode(path, index, high_rawmode, "RGBA")
        gray = raw[..., 0].astype(np.uint16)
        gray <<= 8
        gray |= raw[..., 1]
        return gray
    # In place, colour channels only: one uint16 image beside the two 8-bit decodes.
    samples = _decode_png_with_rawmode(path, index, high_rawmode, high_rawmode)[..., :3]
    samples = samples.astype(np.uint16)
    samples <<= 8
    samples |= _decode_png_with_rawmode(path, index, high_rawmode, low_rawmode)[..., :3]
    return luminance(samples)


def _to_gray(img, path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """Returns the gray image and the range its type can represent."""
    mode = img.mode
    if mode == "1":
        return np.asarray(img, dtype=np.uint8), (0.0, 1.0)
    if mode == "L":
        return np.asarray(img), (0.0, 255.0)
    if mode in ("LA", "La"):
        return np.asarray(img.getchannel("L")), (0.0, 255.0)
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(img).astype(np.uint16), (0.0, 65535.0)
    if mode in ("I", "F"):
        # PGM with maxval > 255 opens as 32-bit "I"; its samples fit 16 bits.
        pixels = np.asarray(img)
        top = 65535.0 if mode == "I" and pixels.max(initial=0) <= 65535 else pixels.max()
        return pixels, (0.0, float(top))
    if mode in _COLOUR_MODES:
        return luminance(np.asarray(img)), (0.0, 255.0)
    if mode in _CONVERTED_COLOUR_MODES:
        # Palette images may be transparent; RGBA keeps Pillow from warning about it.
        target = "RGBA" if mode in ("P", "PA") else "RGB"
        return luminance(np.asarray(img.convert(target))), (0.0, 255.0)
    raise ImageReadError(path, f"unsupported pixel mode {mode!r}")
