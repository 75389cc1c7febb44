"""Reads one frame of a DICOM file as a gray image in the file's own intensity units.

Decoding goes through pydicom 3 and its pixel-data plugins (pylibjpeg with libjpeg, openjpeg
and rle), so every transfer syntax they support works: uncompressed implicit/explicit VR little
and big endian, deflated, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 and RLE. The
intensity pipeline is the one the DICOM standard prescribes for grayscale display:

1. Modality LUT (``RescaleSlope``/``RescaleIntercept`` or a Modality LUT Sequence, including the
   per-frame / shared functional groups of enhanced multi-frame objects), so values come back
   in original units (e.g. Hounsfield units);
2. optionally a VOI LUT or window (``window`` argument);
3. MONOCHROME1 inversion, so that high values are always bright.

Colour images (RGB, YBR_*, PALETTE COLOR) become gray by luminance.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_mia.io.arguments import (
    frame_index,
    normalize_frame,
    normalize_window,
    warn_first_frame,
)
from keras_mia.io.errors import ImageReadError
from keras_mia.io.intensity import apply_linear_window, blockwise, invert_in_range, luminance
from keras_mia.io.limits import check_pixel_count, max_pixels

__all__ = ["dicom_header", "read_dicom"]

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_UNDEFINED_LENGTH = 0xFFFFFFFF
# Inflated bytes parsed for the image size of a deflated file before the rest is inflated.
_DEFLATED_HEAD = 1 << 20
# Inflated bytes allowed beyond the pixel data (other elements, overlays, private tags).
_DEFLATED_ALLOWANCE = 64 << 20
# Most bytes a pixel can take (3 samples of 64-bit floats) when the header gives no size.
_MAX_PIXEL_BYTES = 24
# Without these pydicom cannot lay out the pixel data.
_REQUIRED_KEYWORDS = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel")
# Attributes the grayscale pipeline reads; copied into a per-frame view of the data set.
_LUT_KEYWORDS = (
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "ModalityLUTSequence",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "VOILUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
)
# Enhanced multi-frame objects keep the Modality and VOI LUTs in functional groups.
_FUNCTIONAL_GROUP_MACROS = (
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept", "RescaleType")),
    ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction")),
)


def read_dicom(
    path: str | os.PathLike,
    *,
    frame: int | None = None,
    window: None | bool | str | tuple[float, float] = None,
) -> np.ndarray:
    """Reads one frame of a DICOM file as a float32 (H, W) image in original units.

    Args:
        path: the DICOM file (with or without the 128-byte preamble).
        frame: 0-based frame of a multi-frame file; ``None`` means frame 0 (also for
            single-frame files, where only ``0`` is valid).
        window: ``None`` for no windowing; ``"auto"`` or ``True`` to apply the file's VOI LUT
            Sequence or its first Window Center/Width with pydicom's ``apply_voi_lut``
            (unchanged when the file has neither); or a ``(center, width)`` pair in original
            units, applied with DICOM's ``LINEAR_EXACT`` function. A windowed image spans the
            range the encoding can represent after the Modality LUT (see below), or
            ``0..2**n - 1`` for an n-bit VOI LUT. Colour images have no VOI LUT, so ``"auto"``
            leaves them unchanged.

    Returns:
        float32 array (Rows, Columns). Grayscale: stored values after the Modality LUT. Colour:
        0.299 R + 0.587 G + 0.114 B of the RGB samples (YBR converted to RGB first; palette
        colour through its lookup table). MONOCHROME1 images are inverted as ``lo + hi - x``,
        where ``[lo, hi]`` is the range the encoding can represent after the Modality LUT (the
        ``BitsStored``/``PixelRepresentation`` range mapped through the rescale, or a Modality
        LUT's nominal ``0..2**n - 1``): equivalently the stored values are flipped within
        their bit range and then rescaled. Using the representable rather than the observed
        range keeps the mapping identical for every image of a series and keeps original
        units (e.g. HU) meaningful.

    Raises:
        ImageReadError: the file is missing, truncated, not DICOM, has no pixel data, uses an
            unsupported transfer syntax, cannot be decoded, or ``frame`` is out of range;
            it holds more than ``keras_mia.io.max_pixels()`` pixels (``Rows x Columns x
            NumberOfFrames``, checked before anything is decoded or, for a deflated file,
            inflated); or its uncompressed pixel data does not have the size that ``Rows``,
            ``Columns``, ``SamplesPerPixel``, ``BitsAllocated`` and ``NumberOfFrames`` give.

    Warns:
        MultiFrameWarning: ``frame=None`` on a multi-frame file (frame 0 is used).
    """
    path = Path(path)
    frame = normalize_frame(frame)
    window = normalize_window(window)
    _guard_deflated(path)
    ds = _read_dataset(path)
    _check_truncation(ds, path)
    _require_pixel_data(ds, path)
    _require_image_attributes(ds, path)
    _ensure_transfer_syntax(ds, path)
    n_frames = _number_of_frames(ds, path)
    # Before decoding: compressed pixel data can expand far beyond the file's size.
    check_pixel_count(path, _int(ds.Rows), _int(ds.Columns), n_frames)
    _check_pixel_length(ds, path, n_frames)
    index = frame_index(frame, n_frames, path)
    if frame is None and n_frames > 1:
        warn_first_frame(path, n_frames)
    pixels, photometric = _decode_frame(ds, index, path)
    try:
        image = _to_gray(pixels, photometric, ds, index, window)
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(
            path,
            f"cannot apply the {photometric} intensity transforms ({_describe(exc)})",
        ) from exc
    return np.ascontiguousarray(image, dtype=np.float32)


def dicom_header(path: str | os.PathLike) -> tuple[int, int, int]:
    """Every check ``read_dicom`` makes before decoding, without reading the pixel data.

    Args:
        path: the DICOM file.

    Returns:
        ``(rows, columns, frames)``.

    Raises:
        ImageReadError: as ``read_dicom`` would before decoding (missing, truncated, no pixel
            data, unsupported transfer syntax, over the pixel cap, pixel data of the wrong
            size for uncompressed syntaxes).
    """
    path = Path(path)
    _guard_deflated(path)
    # Large values (the pixel data) are left on disk: only their lengths are needed.
    ds = _read_dataset(path, defer_size=4096)
    _check_truncation(ds, path)
    _require_pixel_data(ds, path)
    _require_image_attributes(ds, path)
    _ensure_transfer_syntax(ds, path)
    n_frames = _number_of_frames(ds, path)
    rows, columns = _int(ds.Rows), _int(ds.Columns)
    check_pixel_count(path, rows, columns, n_frames)
    _check_pixel_length(ds, path, n_frames)
    return rows, columns, n_frames


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _guard_deflated(path: Path) -> None:
    """Refuses a deflated DICOM that would inflate beyond the pixel cap, before pydicom
    inflates it whole in memory.

    The first ``_DEFLATED_HEAD`` inflated bytes give ``Rows``, ``Columns`` and
    ``NumberOfFrames``; the whole stream is then inflated chunk by chunk (nothing kept) to
    check that it holds no more than its pixel data needs plus ``_DEFLATED_ALLOWANCE``.
    Files that are not deflated, or whose meta information cannot be read, are left to
    ``_read_dataset``.
    """
    import zlib

    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    try:
        with open(path, "rb") as f:
            read_preamble(f, force=True)
            meta = _read_file_meta_info(f)
            if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
                return
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            head = bytearray()
            limit = None
            total = 0
            while not inflater.eof:
                data = inflater.unconsumed_tail or f.read(1 << 16)
                if not data:
                    break
                chunk = inflater.decompress(data, 1 << 20)
                total += len(chunk)
                if limit is None:
                    head += chunk
                    if len(head) >= _DEFLATED_HEAD:
                        limit = _deflated_limit(bytes(head), path)
                        head = bytearray()
                if limit is not None and total > limit:
                    raise ImageReadError(
                        path,
                        f"deflated data set inflates to more than {limit:,} bytes, more than "
                        "its image size needs (a decompression bomb?)",
                    )
            if limit is None:
                _deflated_limit(bytes(head), path)
    except ImageReadError:
        raise
    except Exception:  # noqa: BLE001 - _read_dataset reports unreadable files
        return


def _deflated_limit(head: bytes, path: Path) -> int:
    """The inflated size a deflated data set may reach, from the image size in ``head``;
    refuses an image beyond the pixel cap."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset

    try:
        ds = read_dataset(
            DicomBytesIO(head), is_implicit_VR=False, is_little_endian=True,
            stop_when=lambda tag, vr, length: tag.group > 0x0028,
        )
        rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
        frames = max(_int(ds.get("NumberOfFrames")), 1)
        samples = max(_int(ds.get("SamplesPerPixel")), 1)
        bits = _int(ds.get("BitsAllocated")) or 64
    except Exception:  # noqa: BLE001 - a head cut inside an element: sizes unknown
        rows = columns = 0
    if not (rows and columns):
        return max_pixels() * _MAX_PIXEL_BYTES + _DEFLATED_ALLOWANCE
    check_pixel_count(path, rows, columns, frames)
    return rows * columns * frames * samples * -(-bits // 8) + _DEFLATED_ALLOWANCE


def _check_pixel_length(ds, path: Path, n_frames: int) -> None:
    """Uncompressed pixel data must have the size the Image Pixel attributes declare.

    A mismatch (e.g. ``BitsAllocated`` 8 over 16-bit samples) would otherwise decode as
    garbage. Up to one frame's worth of trailing padding is tolerated, as pydicom does.
    """
    from pydicom.pixels.utils import get_expected_length

    uid = ds.file_meta.TransferSyntaxUID
    if uid.is_encapsulated:
        return
    keyword = next(k for k in _PIXEL_KEYWORDS if k in ds)
    try:
        expected = int(get_expected_length(ds, unit="bytes"))
        element = ds.get_item(keyword)
        # A deferred (not yet read) value only has its declared length.
        value = getattr(element, "value", None)
        actual = int(element.length) if value is None else len(value)
    except Exception:  # noqa: BLE001 - pydicom's decoder reports unusable attributes
        return
    per_frame = max(expected // n_frames, 1)
    if actual < expected or actual - expected >= per_frame:
        declared = (
            f"Rows {ds.Rows} x Columns {ds.Columns} x SamplesPerPixel {ds.SamplesPerPixel} "
            f"x BitsAllocated {ds.BitsAllocated} x {n_frames} frame(s)"
        )
        raise ImageReadError(
            path,
            f"pixel data size mismatch: {keyword} holds {actual:,} bytes but {declared} "
            f"need {expected:,} (the header does not describe the pixel data)",
        )


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _read_dataset(path: Path, defer_size: int | None = None):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, force=True, defer_size=defer_size)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not a file") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except InvalidDicomError as exc:
        raise ImageReadError(path, f"not a DICOM file ({_describe(exc)})") from exc
    except EOFError as exc:
        raise ImageReadError(path, f"truncated DICOM file ({_describe(exc)})") from exc
    except Exception as exc:
        raise ImageReadError(path, f"corrupt DICOM header ({_describe(exc)})") from exc


def _check_truncation(ds, path: Path) -> None:
    """Detects files cut short; pydicom silently keeps whatever it could read."""
    uid = getattr(ds, "file_meta", {}).get("TransferSyntaxUID")
    if uid is not None and getattr(uid, "is_deflated", False):
        # Offsets point into the inflated stream, not the file; zlib reports truncation.
        return
    size = path.stat().st_size
    tags = list(ds.keys())
    if not tags:
        if len(getattr(ds, "file_meta", ())):
            # pydicom drops the whole data set when the file ends inside an undefined-length
            # element (e.g. encapsulated pixel data), leaving only the file meta information.
            raise ImageReadError(
                path,
                "truncated or empty: no data set follows the file meta information "
                "(no pixel data)",
            )
        return
    last = ds.get_item(tags[-1])
    tell = getattr(last, "value_tell", None)
    length = getattr(last, "length", None)
    if tell is not None and length not in (None, _UNDEFINED_LENGTH) and tell + length > size:
        raise ImageReadError(
            path,
            f"truncated: element {last.tag} declares {length} bytes but the file ends "
            f"{size - tell} bytes into it",
        )


def _require_pixel_data(ds, path: Path) -> None:
    if any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        return
    sop_class = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get(
        "MediaStorageSOPClassUID"
    )
    sop_name = getattr(sop_class, "name", None) or "unknown SOP class"
    if "Rows" in ds and "Columns" in ds:
        raise ImageReadError(
            path,
            f"no pixel data although the header declares a {ds.Rows}x{ds.Columns} image "
            "(truncated or incomplete file)",
        )
    if "Image Storage" in sop_name:
        raise ImageReadError(
            path, f"no pixel data in a {sop_name} object (truncated or incomplete file)"
        )
    raise ImageReadError(path, f"no pixel data: not an image ({sop_name})")


def _require_image_attributes(ds, path: Path) -> None:
    missing = [keyword for keyword in _REQUIRED_KEYWORDS if ds.get(keyword) in (None, "")]
    if missing:
        raise ImageReadError(
            path,
            "not an image: pixel data without a complete Image Pixel description "
            f"(missing {', '.join(missing)})",
        )


def _ensure_transfer_syntax(ds, path: Path) -> None:
    from pydicom.dataset import FileMetaDataset
    from pydicom.pixels import get_decoder
    from pydicom.uid import (
        UID,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    uid = ds.file_meta.get("TransferSyntaxUID")
    if not uid:
        # Files without (complete) file meta information: pydicom has already worked out the
        # encoding it read the data set with, which is also how native pixel data is stored.
        keyword = next(k for k in _PIXEL_KEYWORDS if k in ds)
        if ds[keyword].is_undefined_length:
            raise ImageReadError(
                path,
                "unsupported transfer syntax: the file has no Transfer Syntax UID and its "
                "pixel data is compressed (encapsulated), so the codec is unknown",
            )
        implicit, little = ds.original_encoding
        guessed = {
            (True, True): ImplicitVRLittleEndian,
            (False, True): ExplicitVRLittleEndian,
            (False, False): ExplicitVRBigEndian,
        }.get((implicit, little))
        if guessed is None:
            raise ImageReadError(
                path, "unsupported transfer syntax: missing and not inferable from the file"
            )
        ds.file_meta.TransferSyntaxUID = guessed
        return
    uid = UID(uid)
    if not uid.is_transfer_syntax:
        raise ImageReadError(
            path, f"unsupported transfer syntax {uid} (not a transfer syntax UID pydicom knows)"
        )
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise ImageReadError(
            path, f"unsupported transfer syntax {uid.name} ({uid}): pydicom has no decoder"
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin"
        raise ImageReadError(
            path,
            f"unsupported transfer syntax {uid.name} ({uid}): no decoding plugin is "
            f"installed ({missing})",
        )


def _number_of_frames(ds, path: Path) -> int:
    value = ds.get("NumberOfFrames")
    if value is None or value == "":
        return 1
    try:
        n_frames = int(value)
    except (TypeError, ValueError):
        raise ImageReadError(
            path, f"invalid Number of Frames (0028,0008) value {value!r}"
        ) from None
    # pydicom (and the standard's readers) treat 0 as a single frame.
    return max(n_frames, 1)


def _decode_frame(ds, index: int, path: Path) -> tuple[np.ndarray, str]:
    from pydicom.pixels import as_pixel_options, get_decoder

    uid = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(uid)
        pixels, meta = decoder.as_array(
            ds, index=index, validate=True, raw=False, **as_pixel_options(ds)
        )
    except Exception as exc:
        raise ImageReadError(path, _decode_failure(exc, uid)) from exc
    # The decoder reports the photometric interpretation of what it returns, which differs
    # from the file's when it has already converted YBR to RGB.
    photometric = str(meta.get("photometric_interpretation") or ds.get("PhotometricInterpretation"))
    return pixels, photometric.strip().upper()


def _decode_failure(exc: Exception, uid) -> str:
    text = str(exc).lower()
    if isinstance(exc, EOFError) or any(
        marker in text for marker in ("less than expected", "truncat", "end of file")
    ):
        return f"truncated: the {uid.name} pixel data is incomplete ({_describe(exc)})"
    if isinstance(exc, NotImplementedError):
        return f"unsupported transfer syntax {uid.name} ({uid}): {_describe(exc)}"
    return f"cannot decode the {uid.name} pixel data ({_describe(exc)})"


def _frame_view(ds, index: int):
    """A small data set holding the LUT attributes that apply to frame ``index``.

    Per-frame functional groups take precedence over shared ones, which take precedence over
    the top level; the file's own data set is never modified.
    """
    from pydicom.dataset import Dataset

    view = Dataset()
    for keyword in _LUT_KEYWORDS:
        if keyword in ds:
            view[keyword] = ds[keyword]
    groups = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and index < len(per_frame):
        groups.append(per_frame[index])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    for macro, keywords in _FUNCTIONAL_GROUP_MACROS:
        item = next((g[macro][0] for g in groups if g.get(macro)), None)
        if item is not None:
            for keyword in keywords:
                if keyword in item:
                    view[keyword] = item[keyword]
    # LUT data stored as OW needs the byte order of the file to be unpacked.
    view.file_meta = ds.file_meta
    view.set_original_encoding(*ds.original_encoding)
    return view


def _to_gray(pixels: np.ndarray, photometric: str, ds, index: int, window) -> np.ndarray:
    """float32 gray image; every pointwise step runs in float64 on blocks of rows, so no
    full-size float64 (or palette RGB) copy of the image is ever made."""
    if pixels.ndim == 3:
        return _colour_to_gray(pixels, photometric, ds, window)
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        depth = int(ds.RedPaletteColorLookupTableDescriptor[2])

        def palette(block):
            image = luminance(apply_color_lut(block, ds), np.float64)
            if isinstance(window, tuple):
                image = apply_linear_window(image, *window, (0, 2**depth - 1))
            return image

        return blockwise(palette, pixels)
    return _grayscale(pixels, photometric, _frame_view(ds, index), window)


def _colour_to_gray(pixels: np.ndarray, photometric: str, ds, window) -> np.ndarray:
    from pydicom.pixels import convert_color_space

    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        pixels = convert_color_space(pixels, photometric, "RGB")
    elif photometric != "RGB":
        raise ValueError(
            f"unsupported colour photometric interpretation {photometric!r} "
            "(expected RGB, YBR_FULL or YBR_FULL_422 after decoding)"
        )
    if not isinstance(window, tuple):
        return luminance(pixels)
    bits = int(ds.get("BitsStored") or pixels.dtype.itemsize * 8)
    return blockwise(
        lambda block: apply_linear_window(
            luminance(block, np.float64), *window, (0, 2**bits - 1)
        ),
        pixels,
    )


def _grayscale(pixels: np.ndarray, photometric: str, view, window) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    modality_range = _modality_range(view, pixels)

    def transform(block):
        image = apply_modality_lut(block, view)
        value_range = modality_range
        if window == "auto":
            image, value_range = _apply_file_voi(image, view, value_range)
        elif window is not None:
            image = apply_linear_window(image, *window, value_range)
        if photometric == "MONOCHROME1":
            image = invert_in_range(image, value_range)
        return image

    return blockwise(transform, pixels)


def _modality_range(view, pixels: np.ndarray) -> tuple[float, float]:
    """The range of values the encoding can represent after the Modality LUT."""
    if view.get("ModalityLUTSequence"):
        depth = int(view.ModalityLUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**depth - 1)
    if pixels.dtype.kind == "f":
        # Float Pixel Data has no bit range; the observed one is all there is.
        finite = np.isfinite(pixels)
        if not finite.any():
            return 0.0, 0.0
        return (float(np.min(pixels, where=finite, initial=np.inf)),
                float(np.max(pixels, where=finite, initial=-np.inf)))
    bits = int(view.get("BitsStored") or pixels.dtype.itemsize * 8)
    if int(view.get("PixelRepresentation") or 0) == 1:
        lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    else:
        lo, hi = 0.0, 2.0**bits - 1
    # pydicom's apply_modality_lut rescales only when both attributes are present.
    if "RescaleSlope" in view and "RescaleIntercept" in view:
        slope, intercept = float(view.RescaleSlope), float(view.RescaleIntercept)
        lo, hi = sorted((lo * slope + intercept, hi * slope + intercept))
    return lo, hi


def _apply_file_voi(image: np.ndarray, view, value_range: tuple[float, float]):
    """Applies the file's VOI LUT (preferred) or window, returning the new value range."""
    from pydicom.pixels import apply_voi_lut

    voi_items = view.get("VOILUTSequence")
    has_voi_lut = bool(voi_items) and all(
        keyword in voi_items[0] for keyword in ("LUTDescriptor", "LUTData")
    )
    has_window = view.get("WindowCenter") is not None and view.get("WindowWidth") is not None
    if has_voi_lut:
        # A LUT is indexed by integers; rescaled values are floats.
        if image.dtype.kind == "f":
            image = np.rint(image).astype(np.int64)
        depth = int(voi_items[0].LUTDescriptor[2])
        return apply_voi_lut(image, view, index=0, prefer_lut=True), (0.0, float(2**depth - 1))
    if has_window:
        return apply_voi_lut(image, view, index=0, prefer_lut=True), value_range
    return image, value_range
