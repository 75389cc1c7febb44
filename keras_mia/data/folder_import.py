"""Builds a manifest from a class-folder tree, as Keras' ``image_dataset_from_directory`` reads.

Two layouts are recognised:

* split layout ``ROOT/<SPLIT>/<class>/...`` (the Hello World data: ``TRAIN/openI_CXR/*.png``,
  ``VAL/...``, ``TEST/...``). Split folder names are matched case-insensitively:
  ``train``/``training`` -> ``train``, ``val``/``valid``/``validation`` -> ``val``,
  ``test``/``testing`` -> ``test``.
* class layout ``ROOT/<class>/...`` (no split folders; the ``split`` column is left empty,
  to be filled by ``split_by_patient``).

Files below a class folder (at any depth) get that folder's name as label. Images lying
directly in a split folder (Hello World's ``TEST/abd2.png``, ``TEST/chest2.png``) have no
class folder and therefore no label; a manifest row needs a label, so they are *not* written
to the manifest but listed in ``ImportedRows.skipped`` with the reason "unlabelled" (they can
still be classified with ``keras-mia predict``). Non-image files are skipped the same way.
Every skip is counted, returned and logged; nothing is dropped silently.

``patient_id`` is the file's stem unless ``patient_pattern`` extracts it from the file name.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from keras_mia.data.manifest import write_manifest
from keras_mia.io.files import IMAGE_SUFFIXES, is_image_file

__all__ = ["import_folder", "ImportedRows", "IMAGE_SUFFIXES", "DEFAULT_SPLIT_NAMES"]

logger = logging.getLogger(__name__)


DEFAULT_SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


class ImportedRows(list):
    """The manifest rows found by ``import_folder`` (a ``list`` of dicts), plus what was skipped.

    Attributes:
        root: the folder imported.
        skipped: ``(path, reason)`` for every file or folder not turned into a row.
        manifest_path: the manifest written, or ``None``.
    """

    def __init__(self, rows, root: Path, skipped: list[tuple[Path, str]], manifest_path=None):
        super().__init__(rows)
        self.root = root
        self.skipped = skipped
        self.manifest_path = manifest_path

    def report(self) -> str:
        """A short human-readable account: rows per split and label, skips per reason."""
        counts = Counter((row["split"] or "(no split)", row["label"]) for row in self)
        lines = [f"Imported {len(self)} image(s) from {self.root}"]
        lines += [f"  {split}/{label}: {n}" for (split, label), n in sorted(counts.items())]
        if self.skipped:
            reasons = Counter(reason for _, reason in self.skipped)
            lines.append(f"Skipped {len(self.skipped)} item(s):")
            lines += [f"  {n} x {reason}" for reason, n in sorted(reasons.items())]
            lines += [f"    {path}" for path, _ in self.skipped]
        return "\n".join(lines)


def import_folder(
    root: str | Path,
    out_manifest: str | Path | None = None,
    splits: Mapping[str, str] | None = None,
    patient_pattern: str | None = None,
    dataset: str | None = None,
    log_skips: bool = True,
) -> ImportedRows:
    """Lists the images of a class-folder tree as manifest rows.

    Args:
        root: the top folder (see the module docstring for the layouts).
        out_manifest: when given, the rows are written there with ``write_manifest``
            (paths relative to the manifest's folder when the images lie inside it,
            otherwise absolute).
        splits: folder name -> split name, matched case-insensitively. ``None``: the
            ``DEFAULT_SPLIT_NAMES``. The split layout is used when at least one folder
            directly under ``root`` matches; then other top-level folders are skipped
            (and reported).
        patient_pattern: a regular expression searched in the file name (with suffix);
            the patient id is its named group ``patient``, else its first group that
            matched, else the whole match. E.g. ``r"^(\\d+)_IM-"`` maps Open-I's
            ``86_IM-2380-1001_invert.png`` and ``86_IM-2380-3001_invert.png`` to patient
            ``86``. ``None``: the file stem.
        dataset: when given, written to every row's ``dataset`` column.
        log_skips: log a warning listing the skipped items. A caller that handles
            ``skipped`` itself (e.g. the Open-I adapter, which labels TEST files by name)
            passes ``False`` so the user is not told of skips that did not happen.

    Returns:
        The rows (``image_path`` absolute, ``label``, ``patient_id``, ``split``, and
        ``dataset`` when given), sorted by split, label and path, as an ``ImportedRows``
        list that also carries ``skipped`` and ``report()``.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a bad ``patient_pattern``, a file name it does not match (the message
            names the file), or no image found at all.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Folder to import not found. Received: root={str(root)!r}")
    names = {k.lower(): v for k, v in (DEFAULT_SPLIT_NAMES if splits is None else splits).items()}
    try:
        pattern = re.compile(patient_pattern) if patient_pattern is not None else None
    except re.error as err:
        raise ValueError(
            f"patient_pattern is not a valid regular expression ({err}). "
            f"Received: patient_pattern={patient_pattern!r}"
        ) from None

    top = sorted(root.iterdir())
    split_dirs = [p for p in top if p.is_dir() and p.name.lower() in names]
    skipped: list[tuple[Path, str]] = []
    rows: list[dict[str, str]] = []

    if split_dirs:
        for path in top:
            if path in split_dirs:
                continue
            reason = "not a split folder" if path.is_dir() else "not inside a split/class folder"
            skipped.append((path, reason))
        for split_dir in split_dirs:
            _import_classes(split_dir, names[split_dir.name.lower()], pattern, rows, skipped)
    else:
        _import_classes(root, "", pattern, rows, skipped)

    if dataset is not None:
        for row in rows:
            row["dataset"] = dataset
    split_rank = {"train": 0, "val": 1, "test": 2, "": 3}
    rows.sort(
        key=lambda r: (split_rank.get(r["split"], 4), r["split"], r["label"], r["image_path"])
    )
    if not rows:
        raise ValueError(
            f"No labelled image found under {root} (expected ROOT/<SPLIT>/<class>/image or "
            f"ROOT/<class>/image). Skipped: {[f'{p} ({r})' for p, r in skipped]}"
        )
    result = ImportedRows(rows, root, skipped)
    if out_manifest is not None:
        result.manifest_path = write_manifest(out_manifest, rows)
    if skipped and log_skips:
        logger.warning(
            "import_folder(%s): skipped %d item(s): %s",
            root,
            len(skipped),
            "; ".join(f"{p} ({r})" for p, r in skipped),
        )
    return result


def _import_classes(
    folder: Path,
    split: str,
    pattern: re.Pattern | None,
    rows: list[dict[str, str]],
    skipped: list[tuple[Path, str]],
) -> None:
    """Adds a row per image under ``folder/<class>/``; records everything else as skipped."""
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            reason = "unlabelled (no class folder)" if is_image_file(entry) else "not an image"
            skipped.append((entry, reason))
            continue
        files = sorted(p for p in entry.rglob("*") if not p.is_dir())
        for path in files:
            if not is_image_file(path):
                skipped.append((path, "not an image"))
                continue
            rows.append(
                {
                    "image_path": str(path.absolute()),
                    "label": entry.name,
                    "patient_id": _patient_id(path, pattern),
                    "split": split,
                }
            )


def _patient_id(path: Path, pattern: re.Pattern | None) -> str:
    if pattern is None:
        return path.stem
    match = pattern.search(path.name)
    if match is None:
        raise ValueError(
            f"patient_pattern does not match file name {path.name!r} ({path}). "
            f"Received: patient_pattern={pattern.pattern!r}"
        )
    if "patient" in match.groupdict() and match.group("patient"):
        return match.group("patient")
    for group in match.groups():
        if group:
            return group
    return match.group(0)
