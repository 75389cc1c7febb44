"""Recognises an image file's format from its content (magic bytes), not its extension.

Files arrive renamed, without extensions, or with the wrong one (``.dcm`` PNGs, DICOM files
called ``000000``), so the extension is never trusted. DICOM files without the 128-byte
preamble and ``DICM`` prefix are recognised by parsing them with pydicom.
"""

from __future__ import annotations

import os
from pathlib import Path

from keras_mia.io.errors import ImageReadError

__all__ = ["FORMATS", "detect_format"]

FORMATS = ("dicom", "png", "jpeg", "pgm", "bmp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# Netpbm: P2/P5 are PGM; PBM (P1/P4) and PPM (P3/P6) share the reader and are accepted too.
_NETPBM_MAGICS = (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")
# Sizes of the BMP info headers (BITMAPCOREHEADER ... BITMAPV5HEADER); checking them keeps a text
# file that happens to start with "BM" from being taken for a bitmap.
_BMP_INFO_HEADER_SIZES = (12, 16, 40, 52, 56, 64, 108, 124)
# Formats recognised only to say clearly why they are refused.
_KNOWN_UNSUPPORTED = (
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a zip archive (extract it first)"),
    (b"II*\x00", "TIFF, which is not a supported format"),
    (b"MM\x00*", "TIFF, which is not a supported format"),
    (b"GIF8", "GIF, which is not a supported format"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file, which is supported only inside DICOM"),
)
_HEAD_SIZE = 512
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
# Attributes at least one of which any real DICOM object has; a random file that pydicom parses
# with force=True yields garbage tags instead.
_DICOM_EVIDENCE = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "PatientID",
    "Rows",
    "PixelData",
)


def detect_format(path: str | os.PathLike) -> str:
    """Returns the format of an image file, judged by its content.

    Args:
        path: the file.

    Returns:
        One of ``"dicom"``, ``"png"``, ``"jpeg"``, ``"pgm"`` (any Netpbm file) or ``"bmp"``.

    Raises:
        ImageReadError: the file is missing, unreadable, empty, or not in a supported format.
    """
    path = Path(path)
    head = _read_head(path)
    if not head:
        raise ImageReadError(path, "empty file (0 bytes)")
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head.startswith(_JPEG_SIGNATURE):
        return "jpeg"
    if head[:2] in _NETPBM_MAGICS and head[2:3].isspace():
        return "pgm"
    if _looks_like_bmp(head):
        return "bmp"
    for magic, description in _KNOWN_UNSUPPORTED:
        if head.startswith(magic):
            raise ImageReadError(path, f"not a supported image: the file is {description}")
    if _parses_as_dicom(path):
        return "dicom"
    if path.suffix.lower() in _DICOM_SUFFIXES:
        raise ImageReadError(
            path,
            "not a valid DICOM file: no 'DICM' prefix at byte 128 and pydicom finds no DICOM "
            f"data set in it (first bytes: {head[:8]!r})",
        )
    kind = "a text file" if _is_text(head) else f"unrecognised content (first bytes: {head[:8]!r})"
    raise ImageReadError(
        path, f"not an image: {kind}; supported formats are {', '.join(FORMATS)}"
    )


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_SIZE)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not a file") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open the file ({exc})") from exc


def _looks_like_bmp(head: bytes) -> bool:
    if not head.startswith(b"BM") or len(head) < 18:
        return False
    return int.from_bytes(head[14:18], "little") in _BMP_INFO_HEADER_SIZES


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the head.
        try:
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(c.isprintable() or c.isspace() for c in text)


def _parses_as_dicom(path: Path) -> bool:
    """True when pydicom, forced, finds a plausible DICOM data set (files without preamble)."""
    import pydicom

    try:
        # Large values are skipped rather than read: this is only a sniff.
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=False, defer_size=1024)
        return any(keyword in ds for keyword in _DICOM_EVIDENCE)
    except Exception:
        # Anything pydicom cannot parse is simply not DICOM; the caller reports it.
        return False
