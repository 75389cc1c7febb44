"""Checks every row of a manifest and reports every problem in one run (``keras-mia validate``).

Checked: the CSV structure (``parse_manifest``), that each image and mask file exists and
decodes with ``keras_mia.io.read_image``, labels (when the known classes are given), that a
mask has its image's size, that no patient is in two splits, that no image path is listed
twice, and that no two rows hold the same image (identical bytes, or identical decoded
pixels in different files).

Each file is decoded once, in a thread pool (decoders release the GIL for most of their
work); its size and pixel hash come from that one decode. Memory stays bounded whatever the
files hold: each file's header is read first (``keras_mia.io.read_header``: the pixel cap,
truncation), decodes run only while the pixels being decoded at once stay within
``keras_mia.io.max_pixels()`` (one cap-sized image at a time, many small ones together),
and byte hashes are computed in 1 MiB chunks. Images whose pixels are all equal (blank
slices, black background patches) are left out of the duplicate check: two of them being
equal says nothing about a leak.

Warnings (not problems): a split with a single class (AUC and balanced metrics need two);
multi-frame files (only frame 0 is used).

:func:`check_files` is the quick check the training engine runs before training: the same
header checks for every file of the rows it is given, and a full decode too when the files
are small enough for it to take seconds; it raises one ``ValueError`` naming the bad files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_mia.data.manifest import parse_manifest
from keras_mia.data.schema import SPLITS

__all__ = ["validate_manifest", "ValidationReport", "check_files", "FileCheckReport"]

_MAX_LISTED = 5
# Bad files named in check_files' one-line error (all of them are in its report).
_MAX_NAMED = 3
_HASH_CHUNK = 1 << 20
# check_files(decode="auto") decodes every file when they hold at most this many pixels
# together: about 2-3 s on one core (~20 ns a pixel), 1000 images of 360 x 360.
AUTO_DECODE_PIXELS = 1 << 27


@dataclass
class ValidationReport:
    """What ``validate_manifest`` found.

    Attributes:
        manifest_path: the manifest checked.
        problems: one message per problem; each names the manifest, the line(s), the
            file(s) and the reason.
        notes: remarks that are not problems (e.g. columns outside the schema).
        warnings: things that do not stop training but may spoil it (a split with one
            class, multi-frame files of which only frame 0 is used).
        counts: split -> label -> number of rows (split ``""`` when the row has none).
        patients: split -> number of distinct patients.
        n_rows: number of rows read.
        n_patients: number of distinct patients.
    """

    manifest_path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    patients: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0
    n_patients: int = 0

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """A table of rows per split and label, patients per split, and the verdict."""
        labels = sorted({label for per_label in self.counts.values() for label in per_label})
        order = {"train": 0, "val": 1, "test": 2}
        splits = sorted(self.counts, key=lambda s: (order.get(s, 3), s))
        header = ["split"] + [label or "(none)" for label in labels] + ["images", "patients"]
        table = [header]
        for split in splits:
            per_label = self.counts[split]
            table.append(
                [split or "(none)"]
                + [str(per_label.get(label, 0)) for label in labels]
                + [str(sum(per_label.values())), str(self.patients.get(split, 0))]
            )
        totals = [sum(self.counts[s].get(label, 0) for s in splits) for label in labels]
        table.append(
            ["total"] + [str(t) for t in totals] + [str(self.n_rows), str(self.n_patients)]
        )
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines = [
            f"Manifest {self.manifest_path}: {self.n_rows} image(s), {self.n_patients} "
            f"patient(s), {len(labels)} label(s)"
        ]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                  for row in table]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"warning: {warning}" for warning in self.warnings]
        n = len(self.problems)
        lines.append("OK: no problem found" if n == 0 else f"FAILED: {n} problem(s) found")
        return "\n".join(lines)


@dataclass
class _FileInfo:
    """What one decode of a file tells: its size, hashes, or why it failed."""

    shape: tuple[int, ...] | None = None
    frames: int = 1
    byte_hash: str | None = None
    pixel_hash: str | None = None
    constant: bool = False
    error: str | None = None


def validate_manifest(
    path: str | Path,
    classes: Iterable[str] | None = None,
    check_duplicates: bool = True,
    num_workers: int | None = None,
) -> ValidationReport:
    """Checks a manifest and every file it names.

    Args:
        path: the manifest CSV file.
        classes: the known labels; ``None`` accepts any non-empty label.
        check_duplicates: also look for the same image stored twice (identical bytes or
            identical decoded pixels). Duplicate *paths* are always reported.
        num_workers: decoding threads; ``None``: ``min(8, cpu_count + 2)``. However many,
            the files decoded at once hold at most ``keras_mia.io.max_pixels()`` pixels
            together.

    Returns:
        The report: every problem found, warnings, and counts for ``summary()``.
    """
    manifest, structural = parse_manifest(path)
    report = ValidationReport(Path(path), problems=list(structural), notes=list(manifest.warnings))
    rows = manifest.rows
    report.n_rows = len(rows)
    if not rows:
        return report
    mpath = manifest.path
    lines = manifest.line_numbers

    def at(indices: list[int]) -> str:
        numbers = sorted({lines[i] for i in indices})
        word = "line" if len(numbers) == 1 else "lines"
        shown = ", ".join(map(str, numbers[: 4 * _MAX_LISTED]))
        hidden = len(numbers) - 4 * _MAX_LISTED
        more = f" and {hidden} more" if hidden > 0 else ""
        return f"{mpath} {word} {shown}{more}"

    # Counts for the summary.
    patients_per_split: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        split = row.get("split", "")
        report.counts.setdefault(split, Counter())[row["label"]] += 1
        patients_per_split[split].add(row["patient_id"])
    report.counts = {s: dict(c) for s, c in report.counts.items()}
    report.warnings += _one_class_splits(report.counts)
    report.patients = {s: len(p) for s, p in patients_per_split.items()}
    report.n_patients = len({row["patient_id"] for row in rows})

    # Each distinct file is inspected once, however many rows name it.
    image_of = [_key(manifest.resolve(row["image_path"])) if row["image_path"] else None
                for row in rows]
    mask_of = [_key(manifest.resolve(row["mask_path"])) if row.get("mask_path") else None
               for row in rows]
    images = sorted({p for p in image_of if p is not None})
    masks = sorted({p for p in mask_of if p is not None} - set(images))
    jobs = [(p, check_duplicates) for p in images] + [(p, False) for p in masks]
    workers = num_workers or min(8, (os.cpu_count() or 1) + 2)
    budget = _PixelBudget()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        infos = dict(zip([p for p, _ in jobs],
                         pool.map(lambda job: _inspect(*job, budget=budget), jobs)))
    multi_frame = sorted(p for p, info in infos.items() if info.frames > 1)
    if multi_frame:
        shown = ", ".join(repr(p) for p in multi_frame[:_MAX_LISTED])
        hidden = len(multi_frame) - _MAX_LISTED
        more = f" and {hidden} more" if hidden > 0 else ""
        report.warnings.append(
            f"{len(multi_frame)} multi-frame file(s): only frame 0 of each is used ({shown}{more})"
        )

    known = None if classes is None else {str(c) for c in classes}
    file_problems: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        where = at([i])
        if image_of[i] is not None:
            info = infos[image_of[i]]
            if info.error:
                message = f"{where}: image {row['image_path']!r} {info.error}"
                file_problems.append((lines[i], message))
        if known is not None and row["label"] and row["label"] not in known:
            file_problems.append(
                (lines[i], f"{where}: unknown label {row['label']!r} (image {row['image_path']!r});"
                 f" expected one of {sorted(known)}")
            )
        if mask_of[i] is not None:
            mask_info = infos[mask_of[i]]
            image_info = infos.get(image_of[i]) if image_of[i] is not None else None
            if mask_info.error:
                message = f"{where}: mask {row['mask_path']!r} {mask_info.error}"
                file_problems.append((lines[i], message))
            elif image_info is not None and image_info.shape is not None:
                if mask_info.shape[:2] != image_info.shape[:2]:
                    file_problems.append(
                        (lines[i], f"{where}: mask {row['mask_path']!r} is "
                         f"{_size(mask_info.shape)} but image {row['image_path']!r} is "
                         f"{_size(image_info.shape)} (height x width)")
                    )
    report.problems += [message for _, message in sorted(file_problems, key=lambda t: t[0])]

    # The same file listed in several rows.
    rows_of_image: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(image_of):
        if key is not None:
            rows_of_image[key].append(i)
    for key, indices in rows_of_image.items():
        if len(indices) > 1:
            report.problems.append(
                f"{at(indices)}: image {rows[indices[0]]['image_path']!r} is listed "
                f"{len(indices)} times (duplicate rows)"
            )

    if check_duplicates:
        report.problems += _content_duplicates(rows, rows_of_image, infos, at)

    if "split" in manifest.columns:
        report.problems += _patient_leaks(rows, at)
    return report


def _key(path: Path) -> str:
    """One spelling per file, so ``a/./b.png`` and ``a/b.png`` are the same file."""
    return os.path.normpath(os.path.abspath(path))


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}x{shape[1]}"


class _PixelBudget:
    """A semaphore counted in pixels: decodes hold their image's pixels until they finish,
    so the images being decoded at once never exceed the cap together."""

    def __init__(self, total: int | None = None):
        from keras_mia.io import max_pixels

        self.total = int(total or max_pixels())
        self._free = self.total
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int):
        pixels = max(1, min(int(pixels), self.total))
        with self._cond:
            self._cond.wait_for(lambda: self._free >= pixels)
            self._free -= pixels
        try:
            yield
        finally:
            with self._cond:
                self._free += pixels
                self._cond.notify_all()


def _file_hash(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inspect(path: str, hashes: bool, budget: _PixelBudget | None = None,
             decode: bool = True) -> _FileInfo:
    """Checks one file's header, then decodes it (within ``budget``); never raises
    (failures are returned as ``error``)."""
    if not os.path.exists(path):
        return _FileInfo(error=f"not found (looked for {path})")
    if not os.path.isfile(path):
        return _FileInfo(error="is not a file")
    from keras_mia.io import ImageReadError, read_header, read_image

    info = _FileInfo()
    try:
        if hashes:
            info.byte_hash = _file_hash(path)
        header = read_header(path)
        info.frames = header.frames
        if not decode:
            info.shape = (header.height, header.width)
            return info
        with (budget or _PixelBudget()).hold(header.pixels):
            # frame=0 said explicitly: multi-frame files are reported once for all files
            # (ValidationReport.warnings), not warned about one by one.
            image = read_image(path, frame=0)
    except ImageReadError as err:
        # The reason alone: the message already names the file.
        info.error = f"cannot be decoded: {getattr(err, 'reason', err)}"
        return info  # keeps the byte hash: two copies of one broken file are still copies
    except Exception as err:  # noqa: BLE001 - a decoder bug is reported like any bad file
        info.error = f"cannot be decoded: {type(err).__name__}: {err}"
        return info
    info.shape = tuple(int(s) for s in image.shape)
    if hashes:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((info.shape, str(image.dtype))).encode())
        digest.update(image.tobytes())
        info.pixel_hash = digest.hexdigest()
        info.constant = bool(image.size == 0 or image.min() == image.max())
    return info


def _one_class_splits(counts: dict[str, dict[str, int]]) -> list[str]:
    """Warnings for splits whose rows all carry one label."""
    out = []
    for split in sorted(counts, key=lambda s: (SPLITS.index(s) if s in SPLITS else 9, s)):
        labels = {label for label, n in counts[split].items() if n and label}
        if len(labels) == 1:
            (label,) = labels
            out.append(
                f"split {split or '(none)'!r} has only one class ({label!r}, "
                f"{sum(counts[split].values())} row(s)): a classifier cannot learn or be "
                "scored on it (AUC needs both classes); re-split by patient with stratification"
            )
    return out


@dataclass
class FileCheckReport:
    """What :func:`check_files` found.

    Attributes:
        n_files: distinct image and mask files checked.
        decoded: whether every file was also fully decoded (not only its header).
        bad: one message per bad file: manifest row, file, reason.
        seconds: how long the check took.
    """

    n_files: int = 0
    decoded: bool = False
    bad: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether no bad file was found."""
        return not self.bad


def check_files(
    manifest: Any,
    rows: list[dict[str, str]] | None = None,
    *,
    decode: bool | str = "auto",
    num_workers: int | None = None,
) -> FileCheckReport:
    """Checks that every image and mask file of some manifest rows can be read.

    Each file's header is read as ``read_image`` reads it (format from the content, the pixel
    cap, PNG/JPEG files cut short, DICOM pixel data of the wrong size): well under a
    millisecond a file. With ``decode`` the files are also decoded in full, which also finds
    damage inside the compressed data; ``"auto"`` does so when all the files hold at most
    ``AUTO_DECODE_PIXELS`` pixels together (a few seconds), so that small sets are checked
    completely and large ones stay quick to start.

    Args:
        manifest: a ``keras_mia.data.manifest.Manifest``, or the path of a manifest CSV.
        rows: the rows to check (e.g. ``manifest.select("train")``); ``None`` for every row.
        decode: ``True``, ``False`` or ``"auto"``.
        num_workers: threads; ``None``: ``min(4, cpu_count)``. Decodes run within the
            pixel cap together, as in ``validate_manifest``.

    Returns:
        The report (``ok`` is always true: bad files raise).

    Raises:
        ValueError: one or more files cannot be read. The one-line message gives how many of
            how many files are bad, names the first few with their manifest line and reason,
            and says how to list them all (``keras-mia validate``).
    """
    if decode not in (True, False, "auto"):
        raise ValueError(f"decode must be True, False or 'auto'. Received: decode={decode!r}")
    started = time.monotonic()
    if isinstance(manifest, (str, os.PathLike)):
        # Not through keras_mia.data.pipeline: this check runs before TensorFlow is imported.
        from keras_mia.data.manifest import Manifest

        manifest = Manifest.load(manifest)
    rows = manifest.rows if rows is None else rows
    index_of = {id(row): i for i, row in enumerate(manifest.rows)}
    first_row: dict[str, tuple[str, str]] = {}
    for row in rows:
        where = _row_name(manifest, index_of.get(id(row)), row)
        for column in ("image_path", "mask_path"):
            cell = row.get(column) or ""
            if cell:
                key = _key(manifest.resolve(cell))
                first_row.setdefault(key, (where, f"{column.split('_')[0]} {cell!r}"))
    paths = sorted(first_row)
    workers = max(1, num_workers or min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        infos = dict(zip(paths, pool.map(lambda p: _inspect(p, False, decode=False), paths)))
        pixels = sum(info.shape[0] * info.shape[1] for info in infos.values() if info.shape)
        full = decode is True or (decode == "auto" and pixels <= AUTO_DECODE_PIXELS)
        if full:
            budget = _PixelBudget()
            good = [p for p in paths if infos[p].error is None]
            infos.update(zip(good, pool.map(lambda p: _inspect(p, False, budget), good)))
    report = FileCheckReport(n_files=len(paths), decoded=full)
    for path in paths:
        error = infos[path].error
        if error is not None:
            where, what = first_row[path]
            report.bad.append(f"{where}: {what} {error}")
    report.seconds = time.monotonic() - started
    if report.bad:
        named = "; ".join(report.bad[:_MAX_NAMED])
        more = f"; and {len(report.bad) - _MAX_NAMED} more" if len(report.bad) > _MAX_NAMED else ""
        source = getattr(manifest, "path", None) or "the manifest"
        raise ValueError(
            f"{len(report.bad)} of {len(paths)} image/mask file(s) cannot be read: {named}"
            f"{more}. Replace or remove these rows (keras-mia validate {source} lists them "
            "all)."
        )
    return report


def _row_name(manifest, index: int | None, row: dict[str, str]) -> str:
    if index is not None and hasattr(manifest, "where"):
        return manifest.where(index)
    return f"{getattr(manifest, 'path', 'manifest')} row image_path={row.get('image_path')!r}"


def _content_duplicates(
    rows: list[dict[str, str]],
    rows_of_image: dict[str, list[int]],
    infos: dict[str, _FileInfo],
    at: Callable[[list[int]], str],
) -> list[str]:
    """Problems for distinct files holding the same image."""
    problems = []
    by_bytes: dict[str, list[str]] = defaultdict(list)
    by_pixels: dict[str, list[str]] = defaultdict(list)
    for key in rows_of_image:
        info = infos[key]
        if info.byte_hash is None or info.constant:
            continue
        by_bytes[info.byte_hash].append(key)
        if info.pixel_hash is not None:
            by_pixels[info.pixel_hash].append(key)

    def describe(keys: list[str], what: str) -> str:
        firsts = sorted(rows_of_image[k][0] for k in keys)
        names = ", ".join(repr(rows[i]["image_path"]) for i in firsts[:_MAX_LISTED])
        more = f" and {len(firsts) - _MAX_LISTED} more" if len(firsts) > _MAX_LISTED else ""
        splits = sorted({rows[i].get("split", "") for i in firsts} - {""})
        across = f" (across splits {', '.join(splits)})" if len(splits) > 1 else ""
        return f"{at(firsts)}: duplicate image, {what}: {names}{more}{across}"

    for keys in by_bytes.values():
        if len(keys) > 1:
            problems.append(describe(keys, f"{len(keys)} files with identical bytes"))
    for keys in by_pixels.values():
        # One file per distinct byte content: byte-identical copies are reported above.
        distinct = list({infos[k].byte_hash: k for k in keys}.values())
        if len(distinct) > 1:
            problems.append(describe(distinct, f"{len(distinct)} files with identical pixels"))
    return problems


def _patient_leaks(rows: list[dict[str, str]], at: Callable[[list[int]], str]) -> list[str]:
    """Problems for patients with rows in more than one split."""
    by_patient: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, row in enumerate(rows):
        # Unknown split values are reported on their own; counting them here would repeat that.
        if row.get("split") in SPLITS:
            by_patient[row["patient_id"]][row["split"]].append(i)
    problems = []
    for patient in sorted(by_patient):
        per_split = by_patient[patient]
        if len(per_split) < 2:
            continue
        parts = []
        for split in sorted(per_split, key=SPLITS.index):
            indices = per_split[split]
            shown = ", ".join(repr(rows[i]["image_path"]) for i in indices[:_MAX_LISTED])
            more = f" and {len(indices) - _MAX_LISTED} more" if len(indices) > _MAX_LISTED else ""
            parts.append(f"{split}: {shown}{more}")
        indices = [i for idx in per_split.values() for i in idx]
        problems.append(
            f"{at(indices)}: patient {patient!r} is in {len(per_split)} splits "
            f"({'; '.join(parts)})"
        )
    return problems
