"""Which files in a folder walk are images to read: one rule for every walk in keras_mia."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "is_image_file"]

# Suffixes handed to ``read_image``. TIFF is listed although it is not decoded, so that reading
# it names the file as unsupported rather than a walk passing over it unnoticed.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".dcm", ".dicom", ".dic", ".png", ".pgm", ".pnm", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
)


def is_image_file(path: str | Path) -> bool:
    """Whether a folder walk should read ``path`` as an image.

    Hidden files never are; a file with a suffix in ``IMAGE_SUFFIXES`` always is; a file
    with no suffix or a numeric one (DICOM files are often called ``000000`` or
    ``1.2.840.113619.2.55.3``) is when it carries the DICOM ``DICM`` marker at byte 128.

    Args:
        path: the file.

    Returns:
        ``True`` for an image file.
    """
    path = Path(path)
    if path.name.startswith("."):
        return False
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    if suffix and not suffix[1:].isdigit():
        return False
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False
