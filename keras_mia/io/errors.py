"""The one exception every image reader raises for a file it cannot turn into pixels."""

from __future__ import annotations

import os

__all__ = ["ImageReadError"]


class ImageReadError(ValueError):
    """Raised when an image file cannot be read: missing, unrecognised, truncated or corrupt.

    It subclasses ``ValueError`` so that code which already guards against bad input keeps
    working, and it carries the file and the reason separately so that callers (``validate``,
    dataset builders) can count and report failures per file.

    Args:
        path: the file that failed.
        reason: why, in a few words (e.g. ``"file not found"``, ``"truncated: ..."``).

    Attributes:
        path: the file that failed, as a string.
        reason: why it failed.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = str(reason)
        super().__init__(f"Cannot read image '{self.path}': {self.reason}")

    def __reduce__(self):
        # The default pickling replays __init__ with the formatted message only; tf.data and
        # multiprocessing workers need the (path, reason) pair to rebuild the error.
        return (type(self), (self.path, self.reason))
