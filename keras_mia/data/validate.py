"""Checks every row of a manifest and reports every problem in one run (``keras-mia validate``).

Checked: the CSV structure (``parse_manifest``), that each image and mask file exists and
decodes with ``keras_mia.io.read_image``, labels (when the known classes are given), that a
mask has its image's size, that no patient is in two splits, that no image path is listed
twice, and that no two rows hold the same image (identical bytes, or identical decoded
pixels in different files).

Each file is decoded once, in a thread pool (decoders release the GIL for most of their
work); its size and pixel hash come from that one decode. Images whose pixels are all equal
(blank slices, black background patches) are left out of the duplicate check: two of them
being equal says nothing about a leak.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from keras_mia.data.manifest import parse_manifest
from keras_mia.data.schema import SPLITS

__all__ = ["validate_manifest", "ValidationReport"]

_MAX_LISTED = 5


@dataclass
class ValidationReport:
    """What ``validate_manifest`` found.

    Attributes:
        manifest_path: the manifest checked.
        problems: one message per problem; each names the manifest, the line(s), the
            file(s) and the reason.
        notes: remarks that are not problems (e.g. columns outside the schema).
        counts: split -> label -> number of rows (split ``""`` when the row has none).
        patients: split -> number of distinct patients.
        n_rows: number of rows read.
        n_patients: number of distinct patients.
    """

    manifest_path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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
        n = len(self.problems)
        lines.append("OK: no problem found" if n == 0 else f"FAILED: {n} problem(s) found")
        return "\n".join(lines)


@dataclass
class _FileInfo:
    """What one decode of a file tells: its size, hashes, or why it failed."""

    shape: tuple[int, ...] | None = None
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
        num_workers: decoding threads; ``None``: ``min(8, cpu_count + 2)``.

    Returns:
        The report: every problem found, and counts for ``summary()``.
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
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        infos = dict(zip([p for p, _ in jobs], pool.map(lambda job: _inspect(*job), jobs)))

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


def _inspect(path: str, hashes: bool) -> _FileInfo:
    """Decodes one file; never raises (failures are returned as ``error``)."""
    if not os.path.exists(path):
        return _FileInfo(error=f"not found (looked for {path})")
    if not os.path.isfile(path):
        return _FileInfo(error="is not a file")
    from keras_mia.io import ImageReadError, read_image

    info = _FileInfo()
    try:
        if hashes:
            with open(path, "rb") as f:
                info.byte_hash = hashlib.blake2b(f.read(), digest_size=16).hexdigest()
        image = read_image(path)
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
