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

    def stage_backup(self, index: int) -> Path:
        """``BackupAndRestore`` folder of stage ``index`` (removed when the stage ends)."""
        return self.checkpoints / f"stage{index}_backup"

    def stage_weights(self, index: int) -> Path:
        """Weights at the end of stage ``index``; their presence marks the stage as done."""
        return self.checkpoints / f"stage{index}_done.weights.h5"

    def create(self) -> "RunDir":
        for folder in (self.root, self.checkpoints, self.plots):
            folder.mkdir(parents=True, exist_ok=True)
        return self


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
