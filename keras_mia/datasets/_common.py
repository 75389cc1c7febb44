"""Plumbing shared by the dataset adapters: output folders, file discovery, intensity scaling."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# Bit-depth scaling lives with the preprocessing the deployed path shares; re-exported here
# for the adapters.
from keras_mia.preprocessing.intensity import source_range, to_uint16

__all__ = [
    "MANIFEST_NAME",
    "prepare_out_dir",
    "check_src",
    "iter_files",
    "find_one",
    "source_range",
    "to_uint16",
    "to_uint8_minmax",
    "safe_name",
    "write_gray_png",
]

MANIFEST_NAME = "manifest.csv"


def check_src(src: str | Path) -> Path:
    """The source folder as an absolute path; raises ``FileNotFoundError`` when missing."""
    path = Path(src).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"Source folder not found. Received: src={str(src)!r}")
    return path.absolute()


def prepare_out_dir(out: str | Path, src: Path, overwrite: bool) -> Path:
    """Creates the output folder; refuses a non-empty one unless ``overwrite``.

    Args:
        out: the output folder.
        src: the source folder (``out`` may not be it or lie inside it, or the next run
            would read its own output).
        overwrite: allow writing into a non-empty folder (files are replaced, nothing is
            deleted).

    Returns:
        The absolute output folder.

    Raises:
        ValueError: ``out`` is ``src`` or inside it, or is not empty and ``overwrite`` is
            false.
    """
    out = Path(out).expanduser().absolute()
    resolved_out, resolved_src = out.resolve(), src.resolve()
    if resolved_out == resolved_src or resolved_src in resolved_out.parents:
        raise ValueError(
            f"The output folder must lie outside the source folder. Received: out={str(out)!r},"
            f" src={str(src)!r}"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"The output path exists and is not a folder. Received: out={str(out)!r}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(
            f"The output folder is not empty; pass overwrite=True (--overwrite) to write into it "
            f"anyway. Received: out={str(out)!r}"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def iter_files(folder: Path) -> Iterator[Path]:
    """Every file below ``folder`` (following no symlinked folders), in sorted order."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


def find_one(src: Path, names: tuple[str, ...], description: str, explicit=None) -> Path:
    """Finds a metadata file: ``explicit`` when given, else the one file under ``src`` whose
    name matches one of ``names`` (case-insensitive).

    Raises:
        FileNotFoundError: no such file (or ``explicit`` does not exist).
        ValueError: several files match.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{description} not found. Received: {str(explicit)!r}")
        return path
    wanted = {n.lower() for n in names}
    hits = [p for p in iter_files(src) if p.name.lower() in wanted]
    if not hits:
        raise FileNotFoundError(
            f"No {description} ({' or '.join(names)}) found under {src}; give its path "
            "explicitly."
        )
    if len(hits) > 1:
        raise ValueError(
            f"Several {description} files found under {src}: {[str(p) for p in hits]}; give the "
            "one to use explicitly."
        )
    return hits[0]


def to_uint8_minmax(image: np.ndarray) -> np.ndarray:
    """Min-max normalises one image to [0, 255] (a constant image becomes all 0)."""
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    if not high > low:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.rint((image - low) * (255.0 / (high - low))).astype(np.uint8)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-name-safe version of ``text`` (runs of other characters become ``_``)."""
    return _UNSAFE.sub("_", str(text)).strip("_") or "item"


def write_gray_png(path: str | Path, pixels: np.ndarray) -> Path:
    """Writes a uint8 (8-bit) or uint16 (16-bit) single-channel array as PNG."""
    from keras_mia.io.writers import write_png

    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"Expected an (H, W) uint8 or uint16 array. Received: shape={pixels.shape}, "
            f"dtype={pixels.dtype}"
        )
    return write_png(path, pixels, bit_depth=16 if pixels.dtype == np.uint16 else 8)
