"""The preparation record: how a data set's mammograms were prepared, from ``prepare`` to serving.

``keras-mia prepare cbis-ddsm`` writes ``preparation.json`` beside its manifest (and beside
each patch manifest). ``keras-mia train`` copies the record of the manifest it trains on into
the run folder, ``keras-mia export`` puts it into the SavedModel's metadata, and
``keras-mia predict`` / ``keras_mia.inference`` read it back to prepare a raw file exactly as
the training images were prepared, with ``prepare_mammogram``. The record holds the
parameters of that one function and nothing else, so there is one home for them.

A manifest without a record (a synthetic set from ``keras-mia synth``, a folder prepared by
hand) says nothing about how its images were made; the deployed path then applies nothing
and says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from keras_mia.preprocessing.mammogram import (
    _OVERFLOW_MODES,
    SHEN_IMAGE_SIZE,
    PreparedMammogram,
    parse_image_size,
    parse_scale,
    prepare_mammogram,
)

__all__ = [
    "PREPARATION_FILE",
    "MammogramPreparation",
    "write_preparation",
    "read_preparation",
    "find_preparation",
    "carry_preparation",
    "SOURCE_PIXEL_MM",
    "PIXEL_SIZE_TOLERANCE",
    "pixel_size_mismatch",
]

# Source pixel size (mm) of the data sets ``prepare`` knows: mini-MIAS films were digitised at
# 50 microns and reduced to 200; the CBIS-DDSM film scanners sampled at 42-50 microns.
SOURCE_PIXEL_MM: dict[str, float] = {"mias": 0.2, "cbis_ddsm": 0.046}
# Pixel sizes further apart than this ratio put lesions at another size than in training.
PIXEL_SIZE_TOLERANCE = 1.5

PREPARATION_FILE = "preparation.json"
_FORMAT_VERSION = 1
_FUNCTION = "keras_mia.preprocessing.prepare_mammogram"
# The only intensity rule prepare_mammogram knows; recorded so that a reader can check it.
_INTENSITY = "bit_depth_to_uint16"


@dataclasses.dataclass(frozen=True)
class MammogramPreparation:
    """The parameters of ``prepare_mammogram`` a data set was prepared with.

    Attributes:
        image_size: ``(height, width)`` of the prepared whole mammograms; ``None`` when
            they were scaled by ``scale`` instead (and keep differing sizes).
        overflow: ``"crop"`` or ``"fit"`` (see ``resize_with_padding``).
        segment: the breast was segmented and everything else zeroed.
        dataset: the adapter that prepared it (``"cbis_ddsm"``), for the record.
        patch_set: for a patch manifest, the patch set (``"s"``, ``"s10"``) cut from the
            prepared mammograms; ``None`` for whole images.
        patch_size: the patch side in pixels, with ``patch_set``.
        scale: relative scale in (0, 1] each source was resized by (Scuccimarra: 0.66),
            instead of ``image_size``.
    """

    image_size: tuple[int, int] | None = SHEN_IMAGE_SIZE
    overflow: str = "crop"
    segment: bool = True
    dataset: str | None = None
    patch_set: str | None = None
    patch_size: int | None = None
    scale: float | None = None

    def __post_init__(self):
        if self.scale is not None:
            if self.image_size is not None:
                raise ValueError(
                    "image_size and scale exclude each other (a fixed canvas or a relative "
                    f"scale). Received: image_size={self.image_size!r}, scale={self.scale!r}"
                )
            object.__setattr__(self, "scale", parse_scale(self.scale))
        else:
            object.__setattr__(self, "image_size", parse_image_size(self.image_size))
        if self.overflow not in _OVERFLOW_MODES:
            raise ValueError(
                f"overflow must be one of {_OVERFLOW_MODES}. Received: overflow={self.overflow!r}"
            )
        if not isinstance(self.segment, (bool, np.bool_)):
            raise ValueError(f"segment must be true or false. Received: segment={self.segment!r}")
        object.__setattr__(self, "segment", bool(self.segment))
        if (self.patch_set is None) != (self.patch_size is None):
            raise ValueError(
                "patch_set and patch_size go together. Received: "
                f"patch_set={self.patch_set!r}, patch_size={self.patch_size!r}"
            )
        if self.patch_size is not None and (
            isinstance(self.patch_size, bool) or int(self.patch_size) < 1
        ):
            raise ValueError(f"patch_size must be >= 1. Received: patch_size={self.patch_size!r}")

    @property
    def kind(self) -> str:
        """``"patches"`` for a patch manifest, ``"mammogram"`` for whole images."""
        return "mammogram" if self.patch_set is None else "patches"

    def apply(self, image: np.ndarray, source_top: float) -> PreparedMammogram:
        """Prepares one raw whole mammogram as the data set's images were prepared.

        Args:
            image: 2-D array in original units (``keras_mia.io.read_image``).
            source_top: the file's bit-depth top (``source_range``).

        Returns:
            The ``PreparedMammogram`` of ``prepare_mammogram``.
        """
        return prepare_mammogram(
            image, source_top, image_size=self.image_size, overflow=self.overflow,
            segment=self.segment, scale=self.scale,
        )

    def pixel_mm(self) -> float | None:
        """The prepared images' pixel size in mm, where the record makes it known.

        Known for a relative ``scale`` of a data set in :data:`SOURCE_PIXEL_MM` (its source
        pixel over the scale); ``None`` for a fixed canvas (the pixel then depends on each
        source's size) or an unknown data set.
        """
        if self.scale is None or self.dataset not in SOURCE_PIXEL_MM:
            return None
        return SOURCE_PIXEL_MM[self.dataset] / self.scale

    def describe(self) -> str:
        """One line: what was done to the images."""
        if self.scale is not None:
            geometry = f"resized to {self.scale:g} of the source's height and width (no padding)"
        else:
            height, width = self.image_size
            geometry = (f"resized keeping the aspect ratio to {height}x{width} "
                        f"(overflow={self.overflow})")
        text = (
            f"bit depth scaled to 16 bits, {geometry}, "
            + ("breast segmented (everything else zeroed)" if self.segment
               else "not segmented")
        )
        if self.patch_set is not None:
            text += f"; {self.patch_size}x{self.patch_size} patches (set {self.patch_set}) cut " \
                    "from those images"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (``preparation.json``, the SavedModel's metadata)."""
        return {
            "format_version": _FORMAT_VERSION,
            "function": _FUNCTION,
            "kind": self.kind,
            "dataset": self.dataset,
            "image_size": None if self.image_size is None else list(self.image_size),
            "scale": self.scale,
            "overflow": self.overflow,
            "segment": self.segment,
            "intensity": _INTENSITY,
            "patch_set": self.patch_set,
            "patch_size": self.patch_size,
            "description": self.describe(),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "preparation record") -> MammogramPreparation:
        """Reads a record written by ``to_dict``.

        Args:
            data: the decoded JSON.
            source: where it came from, for messages.

        Raises:
            ValueError: not a record this version can apply (named key and value).
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object. Received: {type(data).__name__}")
        for key, expected in (("format_version", _FORMAT_VERSION), ("function", _FUNCTION),
                              ("intensity", _INTENSITY)):
            if data.get(key) != expected:
                raise ValueError(
                    f"{source}: {key} must be {expected!r} (this keras_mia version applies no "
                    f"other preparation). Received: {key}={data.get(key)!r}"
                )
        try:
            return cls(
                image_size=data.get("image_size"),
                overflow=data.get("overflow"),
                segment=data.get("segment"),
                dataset=data.get("dataset"),
                patch_set=data.get("patch_set"),
                patch_size=data.get("patch_size"),
                scale=data.get("scale"),
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None


def write_preparation(folder: str | os.PathLike, record: MammogramPreparation) -> Path:
    """Writes ``folder/preparation.json``; returns its path."""
    from keras_mia.utils.atomic import write_text_atomic

    path = Path(folder) / PREPARATION_FILE
    return write_text_atomic(path, json.dumps(record.to_dict(), indent=2) + "\n")


def read_preparation(path: str | os.PathLike) -> MammogramPreparation:
    """Reads a ``preparation.json`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid JSON, or not a record this version can apply.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    return MammogramPreparation.from_dict(data, str(path))


def find_preparation(
    manifest: str | os.PathLike | None,
) -> tuple[MammogramPreparation, Path] | None:
    """The record beside a manifest (or in a folder), if there is one.

    Args:
        manifest: a manifest CSV (its folder is searched) or a folder; ``None``: none.

    Returns:
        ``(record, path)`` or ``None``.

    Raises:
        ValueError: a record exists but cannot be read.
    """
    if not manifest:
        return None
    folder = Path(manifest)
    if not folder.is_dir():
        folder = folder.parent
    path = folder / PREPARATION_FILE
    if not path.is_file():
        return None
    return read_preparation(path), path


def carry_preparation(
    manifest: str | os.PathLike | None, run_dir: str | os.PathLike
) -> MammogramPreparation | None:
    """Copies the record of the manifest a run trains on into the run folder.

    ``RUN/preparation.json`` then always tells the truth: it is written when the manifest
    has a record and removed (a stale one from an earlier attempt) when it has none.

    Args:
        manifest: the manifest the run trains on.
        run_dir: the run folder.

    Returns:
        The record, or ``None`` when the manifest has none.

    Raises:
        ValueError: the manifest's record cannot be read.
    """
    found = find_preparation(manifest)
    target = Path(run_dir) / PREPARATION_FILE
    if found is None:
        target.unlink(missing_ok=True)
        return None
    write_preparation(run_dir, found[0])
    return found[0]


def pixel_size_mismatch(
    trained: MammogramPreparation | None, given: MammogramPreparation | None
) -> str | None:
    """Why images prepared as ``given`` show lesions at another size than ``trained``'s.

    Args:
        trained: the record of a model's training images (``RUN/preparation.json``).
        given: the record of the images it is given (e.g. another manifest's).

    Returns:
        One sentence when both pixel sizes are known and differ by more than
        :data:`PIXEL_SIZE_TOLERANCE`; ``None`` otherwise.
    """
    if trained is None or given is None:
        return None
    trained_mm, given_mm = trained.pixel_mm(), given.pixel_mm()
    if trained_mm is None or given_mm is None:
        return None
    ratio = given_mm / trained_mm
    if 1 / PIXEL_SIZE_TOLERANCE <= ratio <= PIXEL_SIZE_TOLERANCE:
        return None
    return (
        f"the model learned {trained.dataset} images of about {trained_mm * 1000:.0f} micron "
        f"pixels ('{trained.describe()}'), these are {given.dataset} images of about "
        f"{given_mm * 1000:.0f} micron pixels ('{given.describe()}'): lesions reach the model "
        f"{ratio:.1f}x {'smaller' if ratio > 1 else 'larger'} than it learned them"
    )
