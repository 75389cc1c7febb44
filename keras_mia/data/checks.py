"""Checks that a recipe can train on its manifest, before TensorFlow starts.

A training run should not import TensorFlow, build a model and create its run folder only
to fail on the manifest's first batch (or, worse, train a one-class "classifier" to
completion). :func:`check_training_manifest` reads the manifest the way training will and
raises one :class:`~keras_mia.data.manifest.ManifestError` with a one-line message naming
the file, the lines and what to do. It reads the CSV, checks that the listed files exist,
and reads every train/val file's header with ``keras_mia.data.validate.check_files`` (a
small set is decoded in full): a truncated PNG is named here, not deep in TensorFlow.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

from keras_mia.data.manifest import Manifest, ManifestError, parse_manifest
from keras_mia.data.validate import check_files

__all__ = ["check_training_manifest"]

# Examples quoted in one message; the rest are counted.
_EXAMPLES = 3


def check_training_manifest(config: Any) -> Manifest:
    """Checks that ``config`` can train on ``config.manifest``.

    Checked, in this order: the manifest is given and exists; it parses (required columns,
    row lengths, known splits); it has a ``split`` column and training rows; its labels,
    after ``config.label_map``, are all among the classes (``config.data.classes``, else the
    manifest's own) in the train and val splits; a classifier's training split holds at least
    two classes (``label_mode="binary"`` exactly two in all); a segmentation task has a mask
    for every train/val row unless ``data.allow_empty_masks``; every train/val image and mask
    file exists.

    Args:
        config: a resolved ``RecipeConfig`` (``keras_mia.recipes.load_recipe``) whose
            ``manifest`` is set.

    Returns:
        The manifest with ``config.label_map`` applied to its labels. Non-fatal findings
        (a class absent from training, a validation split with one class) are appended to
        its ``warnings``.

    Raises:
        ManifestError: the manifest cannot be trained on; the one-line message names the
            file, the line(s) and what to do.
    """
    path = config.manifest
    if not path:
        raise ManifestError(
            "No manifest to train on. Pass --manifest PATH (a manifest.csv written by "
            "`keras-mia synth` or `keras-mia prepare`)"
        )
    path = os.fspath(path)
    if not os.path.isfile(path):
        kind = "a folder" if os.path.isdir(path) else "not found"
        raise ManifestError(
            f"Manifest {path} is {kind}. Pass --manifest with the path of a manifest CSV "
            "file (written by `keras-mia synth` or `keras-mia prepare`)"
        )
    manifest, problems = parse_manifest(path)
    if problems:
        named = str(manifest.path)
        problems = [p.removeprefix(named + ": ").removeprefix(named + " ") for p in problems]
        raise ManifestError(
            f"{len(problems)} problem(s) in manifest {path}: {_examples(problems)}. Fix the "
            f"file; `keras-mia validate {path}` lists every problem"
        )
    validate_hint = f"`keras-mia validate {path}` lists every problem"
    if "split" not in manifest.columns:
        raise ManifestError(
            f"Manifest {path} has no 'split' column, so it has no training rows. Add a "
            "'split' column (train/val/test, by patient: keras_mia.data.split_by_patient) or "
            "use a manifest written by `keras-mia synth` / `keras-mia prepare`"
        )
    label_map = dict(getattr(config, "label_map", None) or {})
    if label_map:
        for row in manifest.rows:
            row["label"] = str(label_map.get(row["label"], row["label"]))
    index_of = {id(row): i for i, row in enumerate(manifest.rows)}
    splits = {name: manifest.select(name) for name in ("train", "val")}
    if not splits["train"]:
        found = collections.Counter(row.get("split", "") or "(empty)" for row in manifest.rows)
        raise ManifestError(
            f"Manifest {path} has no rows with split 'train' (splits found: "
            f"{dict(sorted(found.items()))}). Assign some patients to 'train' in its split "
            "column"
        )
    used = splits["train"] + splits["val"]
    data = config.data

    if data.task == "classification" or getattr(data, "balance", False):
        classes = list(data.classes) if data.classes is not None else manifest.classes
        source = "the recipe's data.classes" if data.classes is not None else "the manifest"
        if not classes:
            raise ManifestError(f"Manifest {path} has no labels: its 'label' column is empty")
        known = set(classes)
        unknown = [
            f"line {manifest.line_numbers[index_of[id(row)]]} label {row['label']!r}"
            for row in used
            if row["label"] not in known
        ]
        if unknown:
            raise ManifestError(
                f"{len(unknown)} train/val row(s) of {path} have a label that is not one of "
                f"the classes {classes} (from {source}): {_examples(unknown)}. Correct the "
                "labels, or give the classes (--set data.classes=[...]) or map the labels "
                "(--set label_map.OLD=NEW)"
            )
        if data.task == "classification":
            _check_classes(manifest, path, data, classes, splits)

    if data.task == "segmentation" and not getattr(data, "allow_empty_masks", False):
        no_mask = [
            f"line {manifest.line_numbers[index_of[id(row)]]}"
            for row in used
            if not row.get("mask_path", "")
        ]
        if no_mask:
            raise ManifestError(
                f"{len(no_mask)} train/val row(s) of {path} have no mask_path for a "
                f"segmentation task: {_examples(no_mask)}. Add their masks, or treat them as "
                "all-background with --set data.allow_empty_masks=true"
            )

    missing = []
    for row in used:
        line = manifest.line_numbers[index_of[id(row)]]
        for column in ("image_path", "mask_path"):
            cell = row.get(column, "")
            if cell and not os.path.isfile(manifest.resolve(cell)):
                missing.append(f"line {line} {column} {str(manifest.resolve(cell))!r}")
    if missing:
        raise ManifestError(
            f"{len(missing)} file(s) listed in the train/val rows of {path} do not exist: "
            f"{_examples(missing)}. Relative paths are relative to the manifest's folder; "
            f"{validate_hint}"
        )
    # Every train/val file readable (header, pixel cap, truncation; small sets decoded in
    # full), so a bad file stops the run here by name, not inside TensorFlow's decoder.
    check_files(manifest, used)
    mix = getattr(data, "mix", None)
    if mix:
        _check_mix_files(Path(path), mix["manifest"])
    return manifest


def _check_mix_files(path: Path, mix_manifest: str) -> None:
    """The training rows of ``data.mix``'s second manifest exist and can be read."""
    other = Path(mix_manifest).expanduser()
    if not other.is_absolute():
        other = path.parent / other
    if not other.is_file():
        raise ManifestError(
            f"data.mix.manifest: {other} not found (a relative path is taken from the training "
            f"manifest's folder). Received: {mix_manifest!r}"
        )
    mixed, problems = parse_manifest(other)
    if problems:
        raise ManifestError(
            f"{len(problems)} problem(s) in manifest {other} (data.mix): "
            f"{_examples(problems)}; `keras-mia validate {other}` lists every problem"
        )
    if not mixed.select("train"):
        raise ManifestError(f"data.mix.manifest {other} has no rows with split 'train'")
    check_files(mixed, mixed.select("train"))


def _check_classes(manifest: Manifest, path: str, data: Any, classes: list[str],
                   splits: dict[str, list[dict[str, str]]]) -> None:
    """A classifier's class-count checks (one class in training is an error)."""
    if data.label_mode == "binary" and len(classes) != 2:
        raise ManifestError(
            f"label_mode 'binary' needs exactly two classes; {path} gives {len(classes)}: "
            f"{classes}. Give two classes (--set data.classes=[NEG,POS]) or use "
            "--set data.label_mode=int"
        )
    counts = collections.Counter(row["label"] for row in splits["train"])
    if len(counts) < 2:
        (only, n), = counts.items()
        raise ManifestError(
            f"The training split of {path} holds only one class, {only!r} ({n} row(s)); a "
            f"classifier needs training images of at least two of the classes {classes}. Add "
            "images of the other class(es) to 'train', or check the label and split columns"
        )
    absent = [name for name in classes if name not in counts]
    if absent:
        manifest.warnings.append(
            f"{path}: class(es) {absent} have no training images; the model cannot learn them"
        )
    val_classes = {row["label"] for row in splits["val"]}
    if len(val_classes) == 1:
        manifest.warnings.append(
            f"{path}: the validation split holds only class {val_classes.pop()!r}; "
            "metrics such as val_auc are undefined and the best epoch cannot be chosen well"
        )


def _examples(items: list[str], limit: int = _EXAMPLES) -> str:
    """The first ``limit`` items joined with ``"; "``, the rest counted."""
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
