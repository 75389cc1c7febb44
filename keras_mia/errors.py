"""The errors a user can fix, and how the command line reports them in one line.

Every ``keras-mia`` command ends the same way on a mistake the user can fix (a wrong
argument, a bad manifest, a full disk, a read-only folder): one line on stderr,

    keras-mia CMD: error: <what went wrong, which file/row/key, what to do>

and exit status 2. :func:`user_message` decides which exceptions are such mistakes and
words them; anything else is a bug and keeps its traceback. Kept free of TensorFlow and
Keras imports so that the command line can report a mistake before TensorFlow starts.
"""

from __future__ import annotations

import errno
import os
import re
import sys

__all__ = [
    "UserError",
    "CommandError",
    "WeightsDownloadError",
    "STORAGE_ERRNOS",
    "one_line",
    "raised_in_package",
    "storage_errno",
    "storage_message",
    "user_message",
]


class UserError(Exception):
    """A mistake the user can fix: a bad argument, input file or setting.

    Its message is one line that says what went wrong, which file, row or key, and what to
    do; the command line prints it as ``keras-mia CMD: error: MESSAGE`` and exits 2.
    """


class CommandError(UserError):
    """A command-line argument the command cannot use."""


class WeightsDownloadError(UserError):
    """Pretrained weights (e.g. ImageNet's) could not be downloaded."""


# OSError numbers that mean "the disk or folder will not take this", not a bug: full disk,
# permission denied, read-only file system, quota exceeded (absent on some platforms).
STORAGE_ERRNOS: frozenset[int] = frozenset(
    code
    for code in (
        errno.ENOSPC,
        errno.EACCES,
        errno.EROFS,
        getattr(errno, "EDQUOT", None),
    )
    if code is not None
)

# Errors whose type alone does not say "user mistake": expected only when our own code
# raised them (a ValueError from deep inside Keras is a bug to report, not a user error).
_OWN_CODE_TYPES: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
)

# Expected whatever code raised them, named as (module, class). They are looked up in
# sys.modules instead of imported: an exception of a module never imported cannot occur,
# and the boundary must not import the image readers (and their dependencies) to find out.
_EXPECTED_CLASSES: tuple[tuple[str, str], ...] = (
    ("keras_mia.config.typed", "ConfigError"),
    ("keras_mia.data.manifest", "ManifestError"),
    ("keras_mia.io.errors", "ImageReadError"),
)

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))

# How many detail lines of a multi-line message the one-line form keeps.
_MAX_DETAILS = 10


def one_line(text: object, max_details: int = _MAX_DETAILS) -> str:
    """Collapses a (possibly multi-line) message to one line.

    The first non-blank line is the headline; the following lines are details, joined to it
    with ``"; "``. After ``max_details`` details the rest are counted, not shown.

    Args:
        text: the message (anything ``str`` accepts).
        max_details: the most detail lines kept.

    Returns:
        The message without line breaks (``""`` for a blank message).
    """
    lines = [" ".join(line.split()) for line in str(text).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    head, details = lines[0], lines[1:]
    if not details:
        return head
    shown = details[:max_details]
    if len(details) > len(shown):
        shown.append(f"and {len(details) - len(shown)} more")
    separator = " " if head[-1] in ":;,.!?" else ": "
    return head + separator + "; ".join(shown)


def raised_in_package(err: BaseException) -> bool:
    """Whether the innermost Python frame of ``err``'s traceback is in ``keras_mia``.

    A built-in (``open``, ``int``) called from our code has no frame of its own, so an
    ``open`` of a missing file in our code counts as ours.

    Args:
        err: a raised exception.

    Returns:
        ``True`` when our code raised it (or called the built-in that did).
    """
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = os.path.realpath(tb.tb_frame.f_code.co_filename)
    return filename.startswith(_PACKAGE_DIR + os.sep)


def storage_errno(err: BaseException) -> int | None:
    """The :data:`STORAGE_ERRNOS` code ``err`` stands for, or ``None``.

    An ``OSError`` carries it in ``errno``. Libraries that wrap the system's error in
    their own text are recognised by it: h5py (``"... errno = 28, error message = ..."``)
    and TensorFlow's file errors (``"... No space left on device"``).

    Args:
        err: a raised exception.

    Returns:
        ``errno.ENOSPC``, ``EACCES``, ``EROFS`` or ``EDQUOT``, or ``None``.
    """
    if isinstance(err, OSError) and err.errno in STORAGE_ERRNOS:
        return err.errno
    text = str(err)
    match = re.search(r"errno = (\d+)", text)
    if match and int(match.group(1)) in STORAGE_ERRNOS:
        return int(match.group(1))
    # "Permission denied" alone is left out: too common a phrase to be sure of.
    for code in STORAGE_ERRNOS - {errno.EACCES}:
        if os.strerror(code) in text:
            return code
    return None


def storage_message(err: BaseException, output: str | os.PathLike | None = None) -> str:
    """Words a full-disk, permission or read-only error: which path, and what to do.

    Args:
        err: an exception for which :func:`storage_errno` gives a code.
        output: the command's output location, named when the error carries no file name
            (a ``write`` on an open file does not know its name).

    Returns:
        The one-line message.
    """
    code = storage_errno(err)
    names = (err.filename, err.filename2) if isinstance(err, OSError) else ()
    paths = [os.fsdecode(p) for p in names if p is not None]
    if paths:
        where = " -> ".join(f"'{p}'" for p in paths)
    elif output is not None:
        where = f"under '{os.fspath(output)}'"
    else:
        where = "(the system did not say which file)"
    if not (isinstance(err, OSError) and err.errno == code):
        # A library's own wording usually names the file: keep its first line.
        first = (str(err).strip().splitlines() or [""])[0]
        where += f" ({first.strip()})"
    if code == errno.ENOSPC:
        return (
            f"no space left on the device while writing {where}. Free some disk space (or "
            "choose an output folder on another disk) and run the command again"
        )
    if code == getattr(errno, "EDQUOT", None):
        return (
            f"disk quota exceeded while writing {where}. Free space within your quota (or "
            "choose an output folder elsewhere) and run the command again"
        )
    if code == errno.EROFS:
        return (
            f"read-only file system: cannot write {where}. Choose an output folder on a "
            "writable disk"
        )
    return (
        f"permission denied: {where}. Choose a folder you can write to (or a file you can "
        "read), or change its permissions"
    )


def _expected_class(err: BaseException) -> bool:
    for module_name, class_name in _EXPECTED_CLASSES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is not None and isinstance(err, cls):
            return True
    return False


def _os_error_text(err: OSError) -> str:
    # An OSError from the system reads "[Errno 2] No such file or directory: 'x'"; ours
    # carry a sentence of their own.
    if err.errno is not None and err.strerror and err.args[:1] == (err.errno,):
        names = [os.fsdecode(p) for p in (err.filename, err.filename2) if p is not None]
        return err.strerror + (": " + " -> ".join(f"'{p}'" for p in names) if names else "")
    return str(err)


def user_message(err: BaseException, output: str | os.PathLike | None = None) -> str | None:
    """The one-line message of an expected error, or ``None`` for a bug.

    Expected: :class:`UserError` (``CommandError`` included), ``ConfigError``,
    ``ManifestError``, ``ImageReadError``; ``ValueError``, ``FileNotFoundError``,
    ``FileExistsError``, ``NotADirectoryError`` and ``IsADirectoryError`` raised by
    ``keras_mia``'s own code; and any ``OSError`` for a full disk, a permission or a
    read-only file system (:data:`STORAGE_ERRNOS`, also when a library such as h5py or
    TensorFlow words it in its own exception), wherever it was raised.

    Args:
        err: the exception a command raised.
        output: the command's output file or folder, named in a storage error that does not
            carry a file name.

    Returns:
        The message (one line), or ``None`` when ``err`` is unexpected.
    """
    if storage_errno(err) is not None:
        return storage_message(err, output)
    if isinstance(err, UserError) or _expected_class(err):
        text = str(err)
    elif isinstance(err, _OWN_CODE_TYPES) and raised_in_package(err):
        text = _os_error_text(err) if isinstance(err, OSError) else str(err)
    else:
        return None
    return one_line(text) or type(err).__name__
