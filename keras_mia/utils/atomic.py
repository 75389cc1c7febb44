"""Write-then-rename: a file or folder of a run is either the old good one or the new one.

A kill (or a full disk) during a save must never leave a truncated ``best.keras``,
``history.csv`` or SavedModel where a good one stood: each writer here writes to a
temporary name in the same folder (same file system, so the rename is atomic on POSIX)
and renames it over the target only once the write has completed and been flushed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_dir", "write_text_atomic", "fsync_dir"]


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename) to disk where the platform allows it."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    # Read by setting and restoring it: the only portable way, and cheap.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    try:
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file path that replaces ``path`` when the ``with`` block succeeds.

    Args:
        path: the final file.
        suffix: the temporary file's suffix; defaults to ``path``'s own (writers such as
            ``keras.Model.save`` check it, e.g. ``".keras"``).

    Yields:
        The temporary path (in ``path``'s folder) to write to. On an exception it is
        removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file owner-only; the final file gets the mode a plain open() gives.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary folder that replaces the folder ``path`` when the block succeeds.

    A folder cannot be renamed over a non-empty one atomically: the old folder is first
    renamed aside, the new one renamed in, and only then the old one deleted, so a kill
    leaves either the old or the new folder under a name the caller can find (``path`` or
    ``path`` + ``".old"``), never a half-written one at ``path``. A caller that finds
    ``path`` missing and ``path.old`` present after a crash renames it back (the previous
    good folder); a ``path`` beside a ``path.old`` is the new, complete one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    old = path.with_name(path.name + ".old")
    try:
        yield tmp
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return path
