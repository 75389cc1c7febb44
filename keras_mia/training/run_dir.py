"""The run folder layout of SPEC section 2, and the log file that mirrors the console."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
from pathlib import Path
from typing import Iterator, TextIO

__all__ = ["RunDir", "tee_output"]


@dataclasses.dataclass(frozen=True)
class RunDir:
    """Paths inside one training run's folder.

    ``config.yaml`` (fully resolved), ``history.csv``, ``checkpoints/``, ``best.keras``,
    ``plots/``, ``eval/``, ``saved_model/`` (after export), ``log.txt``, ``logs/`` (TensorBoard).
    """

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best_model(self) -> Path:
        return self.root / "best.keras"

    @property
    def last_model(self) -> Path:
        return self.checkpoints / "last.keras"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def saved_model(self) -> Path:
        return self.root / "saved_model"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def tensorboard(self) -> Path:
        return self.root / "logs"

    @property
    def best_pending(self) -> Path:
        """A new best model waiting for its epoch's backup before it becomes ``best.keras``."""
        return self.checkpoints / "best_pending.keras"

    def stage_backup(self, index: int) -> Path:
        """Backups of stage ``index`` in progress (removed when the stage ends)."""
        return self.checkpoints / f"stage{index}_backup"

    def backup(self, index: int, epoch: int) -> Path:
        """The backup folder of stage ``index`` after ``epoch`` (1-based, global) epochs."""
        return self.stage_backup(index) / f"epoch_{epoch:04d}"

    def stage_weights(self, index: int) -> Path:
        """Weights at the end of stage ``index``; their presence marks the stage as done."""
        return self.checkpoints / f"stage{index}_done.weights.h5"

    def check_reusable(self) -> None:
        """Refuses a folder ``train`` must not write into.

        An absent or empty folder, or a run folder (it has ``config.yaml``, or holds only
        what a run that failed before its first epoch leaves, e.g. ``log.txt``) is fine.

        Raises:
            FileExistsError: ``root`` is a file, or a non-empty folder that is not a run.
        """
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise FileExistsError(
                f"{self.root} is a file, not a run folder; choose another --out. "
                f"Received: {str(self.root)!r}"
            )
        if self.config.is_file():
            return
        foreign = sorted(
            entry.name for entry in self.root.iterdir()
            # Hidden names: what a killed write-then-rename leaves (".NAME.*.tmp*"), or a
            # file manager's (".DS_Store"); train never writes over them.
            if entry.name not in _RUN_ENTRIES and not entry.name.startswith(".")
        )
        if foreign:
            raise FileExistsError(
                f"{self.root} is not empty and is not a keras_mia run folder (no config.yaml; "
                f"it holds {foreign[0]!r}"
                + (f" and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                + "); choose a new or empty --out"
            )

    def create(self) -> "RunDir":
        for folder in (self.root, self.checkpoints, self.plots):
            folder.mkdir(parents=True, exist_ok=True)
        return self


# What `train` writes into a run folder before (or without) its config.yaml.
_RUN_ENTRIES = frozenset(
    {"config.yaml", "history.csv", "checkpoints", "best.keras", "plots", "eval",
     "saved_model", "log.txt", "logs", "preparation.json"}
)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO):
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._streams[0], "isatty", lambda: False)())


@contextlib.contextmanager
def tee_output(path: Path) -> Iterator[None]:
    """Copies everything printed to stdout and stderr into ``path`` (appending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(old_out, log), _Tee(old_err, log)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old_out, old_err
