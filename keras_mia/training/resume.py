"""Crash-safe epoch ends: ``best.keras``, ``history.csv`` and the backup always agree.

At the end of every epoch :class:`EpochEndWriter` writes, in this order, each file through a
temporary name and a rename (``keras_mia.utils.atomic``):

1. a new best model, to ``checkpoints/best_pending.keras`` (its record inside it);
2. ``history.csv``, rewritten with the epoch's row;
3. the backup ``checkpoints/stage<i>_backup/epoch_<NNNN>/``: the weights with the optimizer
   state, ``state.json`` (epoch, best record, history rows) and a hard link to (or, where
   links are not possible, a copy of) the best model at that epoch. Its rename is the
   commit point of the epoch: the epoch counts as done once its backup folder exists;
4. the pending best renamed over ``best.keras``;
5. backups older than the previous one removed (the previous one stays as a fallback).

A kill at any instant leaves a state :func:`reconcile` puts right on the next run: rows of
``history.csv`` beyond the backup's epoch are dropped (those epochs run again), a pending
best whose epoch was committed is renamed into place and any other is deleted, a
``best.keras`` that is not the backup's best is put back from the backup's copy, and the
epoch ``best.keras`` records is checked against the best row of ``history.csv``; a
mismatch (a file deleted or restored by hand) is repaired where the files allow it and
reported by name otherwise, never ignored.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import keras

from keras_mia.errors import UserError
from keras_mia.training.checkpoint import (
    _number,
    best_epoch,
    best_record,
    describe_best_record,
    is_better,
    read_best_record,
    same_best,
    save_model_with_record,
)
from keras_mia.training.run_dir import RunDir
from keras_mia.utils.atomic import atomic_dir, atomic_path, fsync_dir, write_text_atomic

__all__ = [
    "Backup",
    "EpochEndWriter",
    "Reconciled",
    "clean_temporaries",
    "list_backups",
    "prune_backups",
    "read_history",
    "reconcile",
    "restore_backup",
    "save_weights_atomic",
    "write_backup",
    "write_history",
]

STATE_FILE = "state.json"
WEIGHTS_FILE = "model.weights.h5"
BEST_FILE = "best.keras"
_FORMAT_VERSION = 1
_BACKUP_NAME = re.compile(r"^epoch_(\d+)$")
# What Keras' BackupAndRestore (used before these backups) left: (weights, metadata) pairs.
_LEGACY = (
    ("latest.weights.h5", "training_metadata.json"),
    ("latest.weights.h5.bkp", "training_metadata.json.bkp"),
)
# Run-folder files written through ``atomic_path``; a kill leaves ".<stem>.<random>.tmp*".
_RUN_FILE_STEMS = ("best", "history", "config", "preparation")


def _warn(message: str) -> None:
    print(f"keras_mia: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------
# history.csv


def _epoch_of(row: dict[str, str], path: Path, line: int) -> int:
    try:
        return int(float(row["epoch"]))
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"{path}: row {line} has no valid 'epoch'. Received: {row.get('epoch')!r}; "
            "restore the file or remove the row"
        ) from None


def read_history(path: str | Path) -> list[dict[str, str]]:
    """Reads ``history.csv`` (one row per epoch, the last row of a repeated epoch kept).

    Args:
        path: the file; a missing file is an empty history.

    Returns:
        The rows, by epoch (0-based ``epoch`` column).

    Raises:
        ValueError: a row has no valid ``epoch`` (the message names the row).
    """
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_epoch: dict[int, dict[str, str]] = {}
    for line, row in enumerate(rows, start=2):
        # A last row cut short by a kill during an in-place write (CSVLogger, before these
        # atomic writes) lacks cells.
        if None in row.values() and line == len(rows) + 1:
            _warn(f"{path}: row {line} is incomplete (an interrupted write); dropped")
            continue
        by_epoch[_epoch_of(row, path, line)] = {
            k: ("" if v is None else v) for k, v in row.items() if k is not None
        }
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    rest = sorted(c for c in columns if c != "epoch")
    # The first row's order stays (CSVLogger's: epoch, then sorted names); new keys go last.
    first = [c for c in columns if c in rows[0]] if rows else []
    return first + [c for c in rest if c not in first]


def write_history(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Writes ``history.csv`` whole, through a temporary file and a rename."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def _history_row(epoch: int, logs: dict[str, Any]) -> dict[str, str]:
    row = {"epoch": str(epoch)}
    for key in sorted(logs):
        value = logs[key]
        number = _number(value)
        # repr(float) reads back as the same float: the record in best.keras and the row of
        # history.csv then compare equal exactly.
        row[key] = repr(number) if number is not None else (
            "nan" if _is_nan(value) else str(value)
        )
    return row


def _is_nan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------
# Backups


@dataclasses.dataclass(frozen=True)
class Backup:
    """A backup of a stage in progress.

    Attributes:
        epoch: the 1-based global epoch it was taken after.
        weights: the weights file (model and optimizer state).
        state: ``state.json``'s content (``{"epoch": ...}`` only for an older backup).
        label: the path to name in messages.
    """

    epoch: int
    weights: Path
    state: dict[str, Any]
    label: str


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            try:
                with open(path, "rb+") as f:
                    os.fsync(f.fileno())
            except OSError:
                pass


def save_weights_atomic(model: keras.Model, path: str | Path) -> Path:
    """``model.save_weights`` through a temporary file and a rename."""
    path = Path(path)
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return path


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def write_backup(
    folder: str | Path,
    model: keras.Model,
    state: dict[str, Any],
    best: str | Path | None = None,
) -> Path:
    """Writes one backup folder (weights, ``state.json``, best model) in one rename.

    Args:
        folder: ``RunDir.backup(stage, epoch)``; it must not hold a good backup (a stale
            one there is replaced).
        model: the model being trained (its optimizer state is saved with it).
        state: JSON-serialisable; must hold ``epoch``.
        best: the best model file at this epoch, hard-linked (else copied) into the backup.

    Returns:
        ``folder``.
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    with atomic_dir(folder) as tmp:
        model.save_weights(tmp / WEIGHTS_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        if best is not None:
            _link_or_copy(Path(best), tmp / BEST_FILE)
        _fsync_tree(tmp)
    return folder


def list_backups(stage_folder: str | Path) -> list[tuple[int | None, Path, Path, str]]:
    """The backups in a stage folder, newest first.

    Returns:
        ``(epoch, weights, state_file, label)`` tuples; ``epoch`` is ``None`` for an older
        Keras ``BackupAndRestore`` file whose metadata cannot be read.
    """
    stage_folder = Path(stage_folder)
    if not stage_folder.is_dir():
        return []
    found: list[tuple[int | None, Path, Path, str]] = []
    for entry in stage_folder.iterdir():
        match = _BACKUP_NAME.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry / WEIGHTS_FILE, entry / STATE_FILE,
                          str(entry)))
    for weights, metadata in _LEGACY:
        weights_path, metadata_path = stage_folder / weights, stage_folder / metadata
        if weights_path.is_file():
            epoch = None
            try:
                epoch = int(json.loads(metadata_path.read_text())["epoch"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
            found.append((epoch, weights_path, metadata_path, str(weights_path)))
    return sorted(found, key=lambda item: -1 if item[0] is None else item[0], reverse=True)


def _read_state(state_file: Path, epoch: int | None) -> dict[str, Any]:
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"its {state_file.name} cannot be read ({err})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise ValueError(f"its {state_file.name} has no 'epoch'")
    if epoch is not None and int(state["epoch"]) != epoch:
        raise ValueError(f"its {state_file.name} says epoch {state['epoch']}, its name {epoch}")
    return state


def restore_backup(
    stage_folder: str | Path, model: keras.Model, first_epoch: int, last_epoch: int
) -> Backup | None:
    """Loads the newest readable backup of a stage into a compiled model.

    A backup that cannot be read (which write-then-rename should make impossible, short of
    a damaged disk) is reported by name and removed, and the one before it is used.

    Args:
        stage_folder: ``RunDir.stage_backup(index)``.
        model: the compiled model of the stage (its optimizer is built here if needed).
        first_epoch, last_epoch: the stage's global epoch range (offset, offset + epochs);
            a backup outside it belongs to another configuration and is refused.

    Returns:
        The loaded :class:`Backup`, or ``None`` when the stage has no backup.

    Raises:
        UserError: backups exist but none can be read (the message names them).
    """
    candidates = list_backups(stage_folder)
    if not candidates:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        # The optimizer state is in the file: its variables must exist to be loaded.
        model.optimizer.build(model.trainable_variables)
    failures: list[tuple[str, str]] = []
    for epoch, weights, state_file, label in candidates:
        try:
            if epoch is None:
                raise ValueError(f"{state_file.name} cannot be read")
            if not first_epoch <= epoch <= last_epoch:
                raise ValueError(
                    f"epoch {epoch} is outside the stage's epochs {first_epoch + 1}-{last_epoch}"
                )
            state = _read_state(state_file, epoch)
            if not weights.is_file():
                raise ValueError(f"{weights.name} is missing")
            model.load_weights(weights)
        except Exception as err:  # noqa: BLE001 -- h5py raises many types; all mean "unreadable"
            failures.append((label, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
                             if str(err) else type(err).__name__))
            continue
        for bad, why in failures:
            _warn(f"backup {bad} cannot be read ({why}); removed, resuming from the one "
                  f"before it, {label} (epoch {epoch})")
            _remove(Path(bad))
        return Backup(epoch, weights, state, label)
    names = "; ".join(f"{bad} ({why})" for bad, why in failures)
    raise UserError(
        f"No backup of this stage can be read: {names}. Delete {stage_folder} to restart the "
        f"stage from epoch {first_epoch + 1}, or use a new --out"
    )


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prune_backups(stage_folder: str | Path, keep: int = 2) -> None:
    """Removes all but the ``keep`` newest backups (and any older Keras backup files)."""
    stage_folder = Path(stage_folder)
    backups = list_backups(stage_folder)
    current = [b for b in backups if _BACKUP_NAME.match(Path(b[3]).name)]
    for _, _, _, label in current[keep:]:
        _remove(Path(label))
    if current:
        for weights, metadata in _LEGACY:
            (stage_folder / weights).unlink(missing_ok=True)
            (stage_folder / metadata).unlink(missing_ok=True)


def clean_temporaries(run: RunDir) -> list[Path]:
    """Removes what a killed write-then-rename of this run left (hidden ``*.tmp*`` names).

    Returns:
        The removed paths.
    """
    removed = []
    folders = [(run.root, _RUN_FILE_STEMS), (run.checkpoints, None)]
    if run.checkpoints.is_dir():
        folders += [(path, None) for path in run.checkpoints.iterdir()
                    if path.is_dir() and path.name.endswith("_backup")]
    for folder, stems in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            name = entry.name
            temporary = name.startswith(".") and ".tmp" in name
            if stems is not None:
                temporary = temporary and name[1:].split(".", 1)[0] in stems
            elif folder != run.checkpoints and name.endswith(".old"):
                temporary = True  # atomic_dir's aside copy of a replaced backup
            if temporary:
                _remove(entry)
                removed.append(entry)
    return removed


# --------------------------------------------------------------------------------------
# Reconciling the files after a kill


@dataclasses.dataclass
class Reconciled:
    """The agreed state of a run folder at its resume point.

    Attributes:
        rows: ``history.csv``'s rows up to the resume point.
        best_value, best_tie: the bar a new best must beat.
        record: the record of ``best.keras`` (``None``: no file, or no record in it).
    """

    rows: list[dict[str, str]]
    best_value: float | None
    best_tie: float | None
    record: dict[str, Any] | None


def _say(message: str) -> None:
    print(f"keras_mia: {message}")


def reconcile(
    run: RunDir,
    resume_epoch: int,
    backup: Backup | None,
    monitor: str,
    mode: str,
    tie_break: str | None,
    has_val: bool,
) -> Reconciled:
    """Makes ``history.csv`` and ``best.keras`` agree with the resume point.

    Args:
        run: the run folder.
        resume_epoch: the number of epochs done (the backup's epoch, or the end of the last
            finished stage).
        backup: the backup resumed from, if any (its ``state.json`` holds the history).
        monitor, mode, tie_break: ``training.monitor``, ``monitor_mode``,
            ``monitor_tie_break``.
        has_val: the run has a validation split (else ``best.keras`` is the last model,
            written at the end).

    Returns:
        The :class:`Reconciled` state.
    """
    clean_temporaries(run)
    history = run.history
    rows = read_history(history)
    changed = False
    beyond = [int(float(r["epoch"])) + 1 for r in rows if int(float(r["epoch"])) >= resume_epoch]
    if beyond:
        rows = [r for r in rows if int(float(r["epoch"])) < resume_epoch]
        changed = True
        _say(f"{history}: dropped the row(s) of epoch(s) {', '.join(map(str, beyond))}, "
             f"logged after the last backup (epoch {resume_epoch}); they run again")
    have = {int(float(r["epoch"])) for r in rows}
    missing = [e for e in range(resume_epoch) if e not in have]
    if missing and backup is not None:
        saved = {int(float(r["epoch"])): r for r in backup.state.get("history", [])}
        restored = [saved[e] for e in missing if e in saved]
        if restored:
            rows = sorted(rows + restored, key=lambda r: int(float(r["epoch"])))
            changed = True
            _say(f"{history}: restored the row(s) of epoch(s) "
                 f"{', '.join(str(int(float(r['epoch'])) + 1) for r in restored)} "
                 f"from {backup.label}")
            missing = [e for e in missing if e not in saved]
    if missing:
        _warn(f"{history} has no row for epoch(s) {', '.join(str(e + 1) for e in missing)}, "
              "which have run; their results are lost (the best is chosen among the rest)")
    if changed and rows:
        write_history(history, rows)
    elif changed:
        history.unlink(missing_ok=True)

    expected_epoch, expected_value, expected_tie = best_epoch(rows, monitor, mode, tie_break)
    _settle_pending(run, resume_epoch, expected_epoch, expected_value)
    if not has_val:
        return Reconciled(rows, None, None, None)
    if backup is not None:
        _restore_best_from(backup, run)

    record = None
    if run.best_model.is_file():
        try:
            record = read_best_record(run.best_model)
        except ValueError as err:
            aside = run.best_model.with_name(run.best_model.name + ".unreadable")
            os.replace(run.best_model, aside)
            _warn(f"{err}; moved aside to {aside}")
            record = None
        else:
            if record is None:
                if expected_epoch is not None:
                    _warn(f"{run.best_model} carries no record of its epoch (written by an older "
                          f"keras_mia); taken to be {history}'s best, epoch {expected_epoch} "
                          f"({monitor} {expected_value:.4f})")
                return Reconciled(rows, expected_value, expected_tie, None)

    if record is None:
        if expected_epoch is not None:
            _warn(f"{run.best_model} is missing: the model of {history}'s best epoch "
                  f"{expected_epoch} ({monitor} {expected_value:.4f}) is lost; the next "
                  "epoch's model becomes best.keras")
        return Reconciled(rows, None, None, None)
    if same_best(record, expected_epoch, expected_value):
        return Reconciled(rows, expected_value, expected_tie, record)

    saved_value = _number(record.get("value"))
    saved_tie = _number(record.get("tie_value"))
    held = describe_best_record(record, str(run.best_model))
    if expected_epoch is None:
        claim = f"{history} has no {monitor} value up to epoch {resume_epoch}"
    else:
        claim = (f"{history}'s best is epoch {expected_epoch} "
                 f"({monitor} {expected_value:.4f})")
    if int(record["epoch"]) > resume_epoch:
        why = (f"it is later than the epoch resumed from ({resume_epoch}), whose backup it "
               "outlived; that epoch runs again")
    else:
        why = f"the model of epoch {expected_epoch} was not saved"
    _warn(f"{held}, but {claim}: {why}. best.keras is kept; an epoch must beat its "
          f"{monitor} to replace it")
    return Reconciled(rows, saved_value, saved_tie, record)


def _current_record(path: Path) -> dict[str, Any] | None:
    try:
        return read_best_record(path) if path.is_file() else None
    except ValueError:
        return None


def _restore_best_from(backup: Backup, run: RunDir) -> None:
    """Puts back the backup's best model when ``best.keras`` is not that one."""
    wanted = backup.state.get("best")
    snapshot = backup.weights.parent / BEST_FILE
    if not wanted or not snapshot.is_file():
        return
    wanted_value = _number(wanted.get("value"))
    if same_best(_current_record(run.best_model), wanted["epoch"], wanted_value):
        return
    if not same_best(_current_record(snapshot), wanted["epoch"], wanted_value):
        _warn(f"{snapshot} is not the best model its backup records "
              f"(epoch {wanted['epoch']}); not used")
        return
    with atomic_path(run.best_model, suffix=".keras") as tmp:
        tmp.unlink()
        _link_or_copy(snapshot, tmp)
    _say(f"{run.best_model}: put back from {snapshot} (epoch {wanted['epoch']}), the best "
         "model at the epoch resumed from")


def _settle_pending(run: RunDir, resume_epoch: int, expected_epoch, expected_value) -> None:
    """Finishes or drops a best model that waited for its epoch's backup."""
    pending = run.best_pending
    if not pending.is_file():
        return
    try:
        record = read_best_record(pending)
    except ValueError:
        record = None
    if (record is not None and int(record["epoch"]) <= resume_epoch
            and same_best(record, expected_epoch, expected_value)):
        os.replace(pending, run.best_model)
        fsync_dir(run.root)
        _say(f"{run.best_model}: finished its interrupted update to epoch {record['epoch']}")
    else:
        pending.unlink()


# --------------------------------------------------------------------------------------
# The epoch-end writer


class EpochEndWriter(keras.callbacks.Callback):
    """Writes an epoch's files in the crash-safe order (see the module docstring).

    Place it after every callback that adds to the epoch's logs (the stage column, the
    learning rate) and before the ones that only read them.

    Args:
        run: the run folder.
        state: the reconciled state (:func:`reconcile`).
        monitor, mode, tie_break: ``training.monitor``, ``monitor_mode``,
            ``monitor_tie_break``.
        has_val: whether to keep a best model (needs a validation split).
    """

    def __init__(
        self,
        run: RunDir,
        state: Reconciled,
        monitor: str,
        mode: str,
        tie_break: str | None,
        has_val: bool,
    ):
        super().__init__()
        self.run = run
        self.rows = list(state.rows)
        self.best_value, self.best_tie = state.best_value, state.best_tie
        self.record = state.record
        self.monitor, self.mode, self.tie_break = monitor, mode, tie_break
        self.has_val = has_val
        self.stage = 0
        self.epochs_written = 0

    def begin_stage(self, index: int) -> None:
        """The stage whose backup folder the next epochs go to."""
        self.stage = index

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        completed = epoch + 1
        new_best = self._new_best(completed, logs)
        if new_best is not None:
            self._write_pending_best(new_best)
        row = _history_row(epoch, logs)
        self.rows = [r for r in self.rows if int(float(r["epoch"])) != epoch] + [row]
        self._write_history()
        best = new_best if new_best is not None else self.record
        self._write_backup(completed, best)
        if new_best is not None:
            self._promote_best()
            self.record = new_best
            self.best_value, self.best_tie = new_best["value"], new_best["tie_value"]
        prune_backups(self.run.stage_backup(self.stage))
        self.epochs_written += 1

    def _new_best(self, completed: int, logs: dict[str, Any]) -> dict[str, Any] | None:
        if not self.has_val:
            return None
        value = _number(logs.get(self.monitor))
        if value is None:
            return None
        tie = _number(logs.get(self.tie_break)) if self.tie_break else None
        if not is_better(value, tie, self.best_value, self.best_tie, self.mode):
            return None
        return best_record(completed, self.monitor, self.mode, value, self.tie_break, tie,
                           stage=self.stage)

    # Each write below is one step of the order; a kill between any two is reconciled.

    def _write_pending_best(self, record: dict[str, Any]) -> None:
        save_model_with_record(self.model, self.run.best_pending, record)

    def _write_history(self) -> None:
        write_history(self.run.history, self.rows)

    def _write_backup(self, completed: int, best: dict[str, Any] | None) -> None:
        state = {
            "format_version": _FORMAT_VERSION,
            "epoch": completed,
            "stage": self.stage,
            "best": best,
            "history": self.rows,
        }
        if best is None:
            source = None
        elif best is self.record:
            source = self.run.best_model
        else:
            source = self.run.best_pending
        write_backup(self.run.backup(self.stage, completed), self.model, state, source)

    def _promote_best(self) -> None:
        os.replace(self.run.best_pending, self.run.best_model)
        fsync_dir(self.run.root)
