"""Reading and writing per-image manifest CSV files (see ``keras_mia.data.schema``).

A manifest is a UTF-8 CSV file (a byte-order mark is accepted), one row per image, with at
least the columns of ``REQUIRED_COLUMNS``. Image and mask paths are relative to the
manifest's own folder, or absolute.

Problems are reported by *line number* in the file, counting the header as line 1, so the
first image is on line 2: that is the number an editor or ``sed -n 2p`` shows.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from keras_mia.data.schema import ALL_COLUMNS, REQUIRED_COLUMNS, SPLITS
from keras_mia.utils.atomic import atomic_path

__all__ = ["Manifest", "ManifestError", "write_manifest", "parse_manifest", "PATH_COLUMNS"]

# Columns holding file paths: resolved against the manifest's folder when read and written
# relative to it when the file lies inside that folder.
PATH_COLUMNS: tuple[str, ...] = ("image_path", "mask_path")


class ManifestError(ValueError):
    """A manifest file that cannot be used as is; the message names the file and line(s)."""


class Manifest:
    """An in-memory manifest: its rows and where they came from.

    Attributes:
        path: the manifest file.
        root: the manifest's folder; relative paths in the rows are relative to it.
        rows: one ``dict`` per image, column name -> cell text (stripped; ``""`` when empty).
        columns: the header, in file order.
        line_numbers: for each row, its line number in the file (the header is line 1).
        warnings: non-fatal remarks found while reading (e.g. unknown columns).
    """

    def __init__(
        self,
        path: str | Path,
        rows: list[dict[str, str]],
        columns: Iterable[str],
        line_numbers: list[int] | None = None,
        warnings: list[str] | None = None,
    ):
        self.path = Path(path)
        self.root = self.path.parent
        self.rows = rows
        self.columns = list(columns)
        self.line_numbers = (
            list(line_numbers) if line_numbers is not None else list(range(2, len(rows) + 2))
        )
        self.warnings = list(warnings or [])
        if len(self.line_numbers) != len(self.rows):
            raise ValueError(
                "line_numbers must have one entry per row. "
                f"Received: {len(self.line_numbers)} line numbers for {len(self.rows)} rows"
            )

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        """Reads a manifest CSV file.

        Args:
            path: the manifest file.

        Returns:
            The manifest.

        Raises:
            ManifestError: the file is missing or unreadable, a required column is missing,
                a required cell is empty, a row has the wrong number of fields, or a
                ``split`` value is not one of ``schema.SPLITS`` (or empty). Every such problem
                in the file is listed in the one message, each with its line number.
        """
        manifest, problems = parse_manifest(path)
        if problems:
            raise ManifestError(
                f"{len(problems)} problem(s) in manifest {path}:\n  " + "\n  ".join(problems)
            )
        return manifest

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, str]]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"Manifest(path={str(self.path)!r}, rows={len(self.rows)}, columns={self.columns})"

    def where(self, index: int) -> str:
        """Names row ``index`` (0-based) for messages, e.g. ``"data/manifest.csv line 5"``."""
        return f"{self.path} line {self.line_numbers[index]}"

    def resolve(self, path_str: str | os.PathLike) -> Path:
        """Returns the file a manifest path refers to.

        Args:
            path_str: a path cell; absolute, or relative to the manifest's folder.

        Returns:
            The absolute or manifest-folder-joined path (not checked for existence).
        """
        path = Path(path_str).expanduser()
        return path if path.is_absolute() else self.root / path

    def select(self, split: str | None = None) -> list[dict[str, str]]:
        """Returns the rows of one split, or every row.

        Args:
            split: ``None`` for every row, or one of ``schema.SPLITS``.

        Returns:
            The matching rows (the same dict objects, in file order).

        Raises:
            ValueError: ``split`` is not a known split name.
            ManifestError: a split is asked for but the manifest has no ``split`` column.
        """
        if split is None:
            return list(self.rows)
        if split not in SPLITS:
            raise ValueError(f"split must be None or one of {SPLITS}. Received: split={split!r}")
        if "split" not in self.columns:
            raise ManifestError(
                f"Manifest {self.path} has no 'split' column, so split={split!r} cannot be "
                "selected. Assign splits with keras_mia.data.split_by_patient."
            )
        return [row for row in self.rows if row.get("split", "") == split]

    @property
    def classes(self) -> list[str]:
        """The distinct non-empty labels, sorted as Python sorts strings (as Keras sorts
        class folder names, so ``"openI_CXR" < "openI_abd_xray"`` and ``"10" < "2"``)."""
        return sorted({row["label"] for row in self.rows if row.get("label", "")})

    @property
    def has_masks(self) -> bool:
        """Whether any row has a non-empty ``mask_path``."""
        return any(row.get("mask_path", "") for row in self.rows)


def parse_manifest(path: str | Path) -> tuple[Manifest, list[str]]:
    """Reads a manifest, collecting every structural problem instead of stopping at the first.

    ``Manifest.load`` raises on the returned problems; ``validate_manifest`` reports them
    together with the problems it finds in the image files.

    Args:
        path: the manifest file.

    Returns:
        ``(manifest, problems)``: the rows that could be read (fields padded with ``""`` or
        truncated when a row has the wrong length) and one message per problem, each naming
        the file and line. When the file or a required column is missing, the manifest has
        no rows.
    """
    path = Path(path)
    try:
        # utf-8-sig: spreadsheet programs (Excel) write a byte-order mark in front of the header.
        with open(path, newline="", encoding="utf-8-sig") as f:
            records = list(_read_records(f))
    except FileNotFoundError:
        return Manifest(path, [], REQUIRED_COLUMNS), [f"{path}: manifest file not found"]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        return Manifest(path, [], REQUIRED_COLUMNS), [f"{path}: cannot read manifest: {err}"]

    if not records:
        return Manifest(path, [], REQUIRED_COLUMNS), [f"{path}: manifest is empty (no header)"]
    header_line, raw_header = records[0]
    columns = [name.strip() for name in raw_header]
    problems: list[str] = []
    warnings: list[str] = []

    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        problems.append(f"{path} line {header_line}: duplicate column(s) {duplicated} in header")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        problems.append(
            f"{path} line {header_line}: missing required column(s) {missing}. "
            f"Required: {list(REQUIRED_COLUMNS)}. Received header: {columns}"
        )
    if problems:
        return Manifest(path, [], columns), problems
    unknown = [name for name in columns if name not in ALL_COLUMNS]
    if unknown:
        warnings.append(
            f"{path}: column(s) {unknown} are not in the manifest schema; they are kept but "
            "not used by keras_mia"
        )

    rows: list[dict[str, str]] = []
    line_numbers: list[int] = []
    for line, fields in records[1:]:
        if not any(field.strip() for field in fields):
            if len(fields) > 1:
                problems.append(f"{path} line {line}: row has only empty fields")
            # A truly blank line (no fields at all) is formatting, not data.
            continue
        if len(fields) != len(columns):
            problems.append(
                f"{path} line {line}: row has {len(fields)} field(s), the header has "
                f"{len(columns)}. Received: {fields}"
            )
        padded = list(fields[: len(columns)]) + [""] * max(0, len(columns) - len(fields))
        row = {name: value.strip() for name, value in zip(columns, padded)}
        empty = [name for name in REQUIRED_COLUMNS if not row[name]]
        if empty:
            problems.append(
                f"{path} line {line}: empty required cell(s) {empty} "
                f"(image_path={row['image_path']!r})"
            )
        split = row.get("split", "")
        if split and split not in SPLITS:
            problems.append(
                f"{path} line {line}: unknown split {split!r} (image_path={row['image_path']!r});"
                f" expected one of {list(SPLITS)} or empty"
            )
        rows.append(row)
        line_numbers.append(line)
    return Manifest(path, rows, columns, line_numbers, warnings), problems


def _read_records(f) -> Iterator[tuple[int, list[str]]]:
    """Yields ``(first line number, fields)`` per CSV record (quoted fields may span lines)."""
    reader = csv.reader(f)
    start = 1
    for fields in reader:
        yield start, fields
        start = reader.line_num + 1


def write_manifest(
    path: str | Path,
    rows: Iterable[Mapping[str, object]],
    columns: Iterable[str] | None = None,
) -> Path:
    """Writes rows as a manifest CSV file (UTF-8, no byte-order mark).

    Image and mask paths that lie inside the manifest's folder are written relative to it
    (with ``/`` separators), so the folder can be moved as a whole; other absolute paths are
    written as they are, and relative paths are taken to be relative to the manifest's folder
    already. The file is written to a temporary name first and then renamed, so a crash never
    leaves half a manifest.

    Args:
        path: destination file; parent folders are created.
        rows: one mapping per image; values are converted with ``str`` (``None`` -> ``""``).
        columns: the header. ``None``: every column any row has, the schema's columns first in
            ``schema.ALL_COLUMNS`` order, then other columns in first-seen order.

    Returns:
        The path written.

    Raises:
        ValueError: a required column is missing from ``columns``, or a row has a key that is
            not in ``columns``.
    """
    path = Path(path)
    rows = list(rows)
    if columns is None:
        seen: list[str] = []
        for row in rows:
            seen.extend(key for key in row if key not in seen)
        present = set(seen) | set(REQUIRED_COLUMNS)
        columns = [name for name in ALL_COLUMNS if name in present]
        columns += [name for name in seen if name not in ALL_COLUMNS]
    else:
        columns = list(columns)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValueError(
            f"Cannot write manifest {path}: missing required column(s) {missing}. "
            f"Received: columns={columns}"
        )
    root = Path(os.path.abspath(path.parent))
    lines = []
    for index, row in enumerate(rows):
        extra = [key for key in row if key not in columns]
        if extra:
            raise ValueError(
                f"Cannot write manifest {path}: row {index} has column(s) {extra} that are not in "
                f"columns={columns}"
            )
        record = []
        for name in columns:
            value = row.get(name)
            text = "" if value is None else str(value)
            if name in PATH_COLUMNS and text:
                text = _relative_path(text, root)
            record.append(text)
        lines.append(record)

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(lines)
    return path


def _relative_path(text: str, root: Path) -> str:
    """``text`` relative to ``root`` (posix) when it is an absolute path inside ``root``."""
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        return text
    # Compare lexically first (keeps a symlinked data folder's own names), then with
    # symlinks resolved on both sides.
    pairs = (
        (Path(os.path.abspath(candidate)), Path(os.path.abspath(root))),
        (candidate.resolve(), root.resolve()),
    )
    for file, folder in pairs:
        try:
            return file.relative_to(folder).as_posix()
        except ValueError:
            continue
    return str(candidate)
