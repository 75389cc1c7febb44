"""Duke-Breast-Cancer-MRI (DBC) -> tumour / no-tumour slice PNGs, as in Konz's tutorial.

Input (``SRC``): the TCIA download, one folder per patient and per series::

    Duke-Breast-Cancer-MRI/Breast_MRI_001/<study>/<series>/1-001.dcm ...

and ``Annotation_Boxes.csv`` (columns ``Patient ID, Start Row, End Row, Start Column, End
Column, Start Slice, End Slice``: the tumour's bounding box in voxels, 1-based and
inclusive; CRLF line ends), below ``SRC`` or given as ``annotations``.

Per patient the pre-contrast fat-saturated T1 series is picked by its SeriesDescription:
names vary by scanner (``ax dyn pre``, ``ax 3d dyn pre``, ``t1_fl3d_tra_dynVIEW_pre``,
``Ax 3D Dyn Pre FS`` ...), so a series qualifies when its description says *pre* (or
pre-contrast) and says neither post-contrast (``post``, ``1st``..``4th``, ``pass``,
``phase N``, ``sub``, ``+c``) nor non-fat-saturated (``non fs``, ``nonfs``, ``no fs``,
``w/o fs``, ``non fat sat``). A patient with no or several qualifying series is reported
(with the descriptions found) and left out; ``series_pattern`` (a regular expression) picks
the series explicitly instead.

Slice numbers: slice ``k`` of the annotation is the ``k``-th slice of the series in
InstanceNumber order (``slice_order="instance"``, the default): that is how the series is
numbered on disk (``1-001.dcm`` ...) and displayed, and how Konz's extraction code counts
(it reads the number from the file name). In part of DBC the InstanceNumber runs *against*
the position along the slice normal, so sorting by position there would mirror the tumour's
slice range. ``slice_order="position"`` sorts by ImagePositionPatient projected on the slice
normal instead. Either order falls back to the other when its tags are missing or not
unique, and the report says so.

Labels (Konz): ``positive`` = slices inside the box's slice range; ``negative`` = slices
more than ``negative_distance`` slices away from it, of which ``negatives_per_positive``
times as many as the patient's positives are drawn at random (seeded), so classes stay
balanced. Each slice is min-max normalised to [0, 255] and written as an 8-bit PNG.

Output (``OUT``): ``images/<patient>/<patient>_slice<k>.png`` and ``manifest.csv``
(``label``, ``patient_id``, ``split`` train/val/test by patient, ``study_id``,
``slice_index`` = ``k`` (1-based), ``dataset``).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_mia.datasets._common import (
    MANIFEST_NAME,
    check_src,
    find_one,
    iter_files,
    prepare_out_dir,
    to_uint8_minmax,
    write_gray_png,
)
from keras_mia.datasets.report import PrepareReport
from keras_mia.io.files import is_image_file

__all__ = [
    "AnnotationBox",
    "read_annotation_boxes",
    "is_pre_contrast_fat_sat",
    "label_slices",
    "prepare_dbc",
]

DATASET = "dbc_breast_mri"
PATIENT_PATTERN = re.compile(r"^Breast_MRI_\d+$", re.IGNORECASE)
_COLUMNS = ("Patient ID", "Start Row", "End Row", "Start Column", "End Column", "Start Slice",
            "End Slice")
_PRE = re.compile(r"\bpre\b|\bpre ?contrast\b|\bprecontrast\b")
_POST = re.compile(
    r"\bpost\b|\bpost ?\d|\b(1st|2nd|3rd|4th|first|second|third|fourth)\b|\bpass\b"
    r"|\bph(ase)? ?\d\b|\bsub\b|subtract|\+ ?c\b|\bc ?\+|\bdelay"
)
_NON_FAT_SAT = re.compile(r"\bnon ?fs\b|\bnon ?fat\b|\bno ?fs\b|\bw ?o ?fs\b|\bwithout fat\b")


@dataclass(frozen=True)
class AnnotationBox:
    """One ``Annotation_Boxes.csv`` row (1-based, inclusive voxel indices)."""

    patient_id: str
    start_row: int
    end_row: int
    start_column: int
    end_column: int
    start_slice: int
    end_slice: int
    line: int


def read_annotation_boxes(
    path: str | Path, report: PrepareReport | None = None
) -> dict[str, AnnotationBox]:
    """Reads DBC's ``Annotation_Boxes.csv``.

    Args:
        path: the CSV file (UTF-8 with or without byte-order mark, any line ends).
        report: bad rows are recorded here as skipped; without a report they raise.

    Returns:
        ``patient_id -> AnnotationBox``.

    Raises:
        ValueError: a missing column (always), or a bad row and no ``report``.
    """
    path = Path(path)
    boxes: dict[str, AnnotationBox] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}. Received header: {header}")
        index = [header.index(c) for c in _COLUMNS]
        for fields in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in fields):
                continue
            where = f"{path.name} line {line}"
            try:
                values = [fields[i].strip() for i in index]
                numbers = [int(v) for v in values[1:]]
            except (IndexError, ValueError):
                reason = f"not a patient id and six integers: {fields}"
                if report is None:
                    raise ValueError(f"{where}: {reason}") from None
                report.skip(where, reason)
                continue
            box = AnnotationBox(values[0], *numbers, line=line)
            pairs = numbers[0::2], numbers[1::2]
            if min(numbers) < 1 or any(a > b for a, b in zip(*pairs)):
                reason = f"box is not 1-based with start <= end: {values}"
                if report is None:
                    raise ValueError(f"{where}: {reason}")
                report.skip(where, reason)
                continue
            if box.patient_id in boxes:
                first_line = boxes[box.patient_id].line
                reason = f"second row for {box.patient_id} (first on line {first_line})"
                if report is None:
                    raise ValueError(f"{where}: {reason}")
                report.skip(where, reason)
                continue
            boxes[box.patient_id] = box
    return boxes


def _normalise_description(description: str) -> str:
    text = re.sub(r"[_\-/.,()]+", " ", str(description).lower())
    return " ".join(text.split())


def is_pre_contrast_fat_sat(description: str) -> bool:
    """Whether a SeriesDescription names DBC's pre-contrast fat-saturated T1 series.

    Args:
        description: e.g. ``"ax dyn pre"``, ``"t1_fl3d_tra_dynVIEW_pre"``.

    Returns:
        ``True`` when it says *pre* and neither post-contrast nor non-fat-saturated.
    """
    text = _normalise_description(description)
    return bool(_PRE.search(text)) and not _POST.search(text) and not _NON_FAT_SAT.search(text)


def label_slices(
    n_slices: int, start_slice: int, end_slice: int, negative_distance: int
) -> tuple[list[int], list[int]]:
    """Positive and candidate negative slice numbers (1-based) of one series.

    Args:
        n_slices: slices in the series.
        start_slice, end_slice: the tumour's slice range (1-based, inclusive).
        negative_distance: negatives lie more than this many slices outside the range.

    Returns:
        ``(positives, negative_candidates)``, ascending.
    """
    positives = list(range(start_slice, min(end_slice, n_slices) + 1))
    negatives = [
        k for k in range(1, n_slices + 1)
        if k < start_slice - negative_distance or k > end_slice + negative_distance
    ]
    return positives, negatives


def _header(path: Path):
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - reported by the caller as unreadable
        return None


def _position(ds) -> float | None:
    try:
        orientation = np.asarray([float(v) for v in ds.ImageOrientationPatient], np.float64)
        position = np.asarray([float(v) for v in ds.ImagePositionPatient], np.float64)
    except (AttributeError, TypeError, ValueError):
        return None
    if orientation.shape != (6,) or position.shape != (3,):
        return None
    return float(np.dot(np.cross(orientation[:3], orientation[3:]), position))


def _order_slices(files: list[Path], headers: list, slice_order: str) -> tuple[list[int], str]:
    """Indices of ``files`` in slice order, and a note when a fallback was used."""
    instances = [h.get("InstanceNumber") for h in headers]
    positions = [_position(h) for h in headers]
    instance_ok = all(v is not None for v in instances) and len({int(v) for v in instances}) == len(
        instances
    )
    position_ok = all(v is not None for v in positions) and len(
        {round(v, 4) for v in positions}
    ) == len(positions)
    indices = range(len(files))
    by_instance = sorted(indices, key=lambda i: int(instances[i])) if instance_ok else None
    by_position = sorted(indices, key=lambda i: positions[i]) if position_ok else None
    first, second = (
        (by_instance, by_position) if slice_order == "instance" else (by_position, by_instance)
    )
    if first is not None:
        return first, ""
    if second is not None:
        other = "position" if slice_order == "instance" else "InstanceNumber"
        return second, f"{slice_order} tags missing or not unique; ordered by {other}"
    return sorted(range(len(files)), key=lambda i: files[i].name), (
        "no usable InstanceNumber or ImagePositionPatient; ordered by file name"
    )


def _series_folders(patient_dir: Path) -> dict[Path, list[Path]]:
    folders: dict[Path, list[Path]] = {}
    for path in iter_files(patient_dir):
        if is_image_file(path):
            folders.setdefault(path.parent, []).append(path)
    return folders


def _find_patients(src: Path, report: PrepareReport) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root, dirs, _ in os.walk(src):
        dirs.sort()
        for name in list(dirs):
            if PATIENT_PATTERN.match(name):
                if name in found:
                    report.note(f"patient folder {name} found twice; using {found[name]}")
                else:
                    found[name] = Path(root) / name
                dirs.remove(name)
    return found


def prepare_dbc(
    src: str | Path,
    out: str | Path,
    *,
    annotations: str | Path | None = None,
    negative_distance: int = 10,
    negatives_per_positive: float = 1.0,
    max_per_class: int | None = None,
    series_pattern: str | None = None,
    slice_order: str = "instance",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    overwrite: bool = False,
) -> PrepareReport:
    """Extracts labelled 2-D slices from DBC's pre-contrast fat-saturated series.

    Options map 1:1 to ``keras-mia prepare dbc`` flags.

    Args:
        src: the download folder (holding ``Breast_MRI_NNN`` folders at any depth).
        out: the output folder (created; must be empty unless ``overwrite``).
        annotations: ``Annotation_Boxes.csv`` (default: found below ``src``).
        negative_distance: negatives are more than this many slices away from the tumour's
            slice range.
        negatives_per_positive: negatives drawn per positive slice of the same patient
            (1.0: balanced, as Konz's 2600 + 2600).
        max_per_class: stop once this many slices of a class are taken (Konz: 2600), going
            through the patients in name order; ``None`` takes every patient.
        series_pattern: a regular expression (case-insensitive) matched against
            SeriesDescription to choose the series, instead of the built-in rule.
        slice_order: ``"instance"`` (default) or ``"position"``, see the module docstring.
        val_fraction, test_fraction: fractions of *patients* in ``val`` and ``test``.
        seed: seeds the negative sampling and the split.
        overwrite: write into a non-empty ``out``.

    Returns:
        The ``PrepareReport``.

    Raises:
        FileNotFoundError: ``src`` or the annotation file is missing.
        ValueError: a bad option.
    """
    from keras_mia.data.manifest import write_manifest
    from keras_mia.data.split import split_by_patient
    from keras_mia.io import ImageReadError, read_image

    if slice_order not in ("instance", "position"):
        raise ValueError(
            f"slice_order must be 'instance' or 'position'. Received: slice_order={slice_order!r}"
        )
    if max_per_class is not None and int(max_per_class) < 1:
        raise ValueError(
            f"max_per_class must be positive. Received: max_per_class={max_per_class!r}"
        )
    if int(negative_distance) < 0 or float(negatives_per_positive) < 0:
        raise ValueError(
            "negative_distance and negatives_per_positive must be >= 0. Received: "
            f"negative_distance={negative_distance!r}, "
            f"negatives_per_positive={negatives_per_positive!r}"
        )
    fractions = (1.0 - float(val_fraction) - float(test_fraction), float(val_fraction),
                 float(test_fraction))
    if min(fractions) < 0:
        raise ValueError(
            "val_fraction and test_fraction must be >= 0 and sum to less than 1. Received: "
            f"val_fraction={val_fraction!r}, test_fraction={test_fraction!r}"
        )
    try:
        pattern = re.compile(series_pattern, re.IGNORECASE) if series_pattern else None
    except re.error as err:
        raise ValueError(
            f"series_pattern is not a valid regular expression ({err}). "
            f"Received: series_pattern={series_pattern!r}"
        ) from None
    src = check_src(src)
    boxes_path = find_one(src, ("Annotation_Boxes.csv",), "DBC Annotation_Boxes.csv", annotations)
    out = prepare_out_dir(out, src, overwrite)
    report = PrepareReport("dbc", src, out)
    boxes = read_annotation_boxes(boxes_path, report)
    patients = _find_patients(src, report)
    for patient in sorted(set(boxes) - set(patients)):
        report.skip(f"{patient} ({boxes_path.name} line {boxes[patient].line})",
                    "in Annotation_Boxes.csv but no images under SRC")
    for patient in sorted(set(patients) - set(boxes)):
        report.skip(patients[patient], "no row in Annotation_Boxes.csv")

    rows: list[dict] = []
    taken = {"positive": 0, "negative": 0}
    cap = None if max_per_class is None else int(max_per_class)
    for patient in sorted(set(patients) & set(boxes)):
        if cap is not None and min(taken.values()) >= cap:
            report.skip(patient, f"max_per_class={cap} reached for both classes")
            continue
        box = boxes[patient]
        series = _series_folders(patients[patient])
        described = []
        for folder, files in sorted(series.items()):
            ds = _header(files[0])
            description = "" if ds is None else str(ds.get("SeriesDescription", ""))
            described.append((folder, files, description))
        if pattern is not None:
            chosen = [d for d in described if pattern.search(d[2])]
            rule = f"series_pattern {pattern.pattern!r}"
        else:
            chosen = [d for d in described if is_pre_contrast_fat_sat(d[2])]
            rule = "the pre-contrast fat-sat rule"
        names = sorted({d[2] for d in described})
        if len({d[0] for d in chosen}) != 1:
            report.skip(
                patient,
                f"{'no' if not chosen else len(chosen)} series matching {rule} (series: {names})",
            )
            continue
        folder, files, description = chosen[0]
        headers = [_header(p) for p in files]
        unreadable = [p for p, h in zip(files, headers) if h is None]
        if unreadable:
            report.note(f"{patient}: {len(unreadable)} unreadable file(s) in {folder.name} ignored")
            files = [p for p, h in zip(files, headers) if h is not None]
            headers = [h for h in headers if h is not None]
        uid = str(headers[0].get("SeriesInstanceUID", ""))
        keep = [i for i, h in enumerate(headers) if str(h.get("SeriesInstanceUID", "")) == uid]
        files, headers = [files[i] for i in keep], [headers[i] for i in keep]
        order, fallback = _order_slices(files, headers, slice_order)
        if fallback:
            report.note(f"{patient} ({description}): {fallback}")
        files = [files[i] for i in order]
        n_slices = len(files)
        if box.end_slice > n_slices:
            report.skip(
                patient,
                f"annotation's End Slice {box.end_slice} is beyond the series' {n_slices} slices",
            )
            continue
        rows_cols = (int(headers[0].get("Rows", 0) or 0), int(headers[0].get("Columns", 0) or 0))
        if rows_cols[0] and (box.end_row > rows_cols[0] or box.end_column > rows_cols[1]):
            report.note(
                f"{patient}: annotation box rows/columns exceed the {rows_cols} image (slices used)"
            )
        positives, candidates = label_slices(
            n_slices, box.start_slice, box.end_slice, int(negative_distance)
        )
        wanted = int(round(len(positives) * float(negatives_per_positive)))
        rng = np.random.default_rng([int(seed), zlib.crc32(patient.encode("utf-8"))])
        if len(candidates) < wanted:
            report.note(
                f"{patient}: only {len(candidates)} slices lie more than {negative_distance} "
                f"slices from the tumour; {len(candidates)} negatives for {len(positives)} "
                "positives"
            )
            negatives = candidates
        else:
            negatives = sorted(rng.choice(candidates, size=wanted, replace=False).tolist())
        if cap is not None:
            keep_pos = positives[: max(0, cap - taken["positive"])]
            keep_neg = negatives[: max(0, cap - taken["negative"])]
            if (len(keep_pos), len(keep_neg)) != (len(positives), len(negatives)):
                report.note(
                    f"{patient}: max_per_class={cap} reached; took {len(keep_pos)} of "
                    f"{len(positives)} positive and {len(keep_neg)} of {len(negatives)} negative "
                    "slices"
                )
            positives, negatives = keep_pos, keep_neg
        taken["positive"] += len(positives)
        taken["negative"] += len(negatives)
        study = str(headers[0].get("StudyInstanceUID", ""))
        for k, label in [(k, "positive") for k in positives] + [(k, "negative") for k in negatives]:
            path = files[k - 1]
            try:
                pixels = read_image(path)
            except ImageReadError as err:
                report.skip(f"{patient} slice {k} ({path})", f"unreadable: {err.reason}")
                continue
            target = out / "images" / patient / f"{patient}_slice{k:03d}.png"
            write_gray_png(target, to_uint8_minmax(pixels))
            rows.append(
                {
                    "image_path": str(target),
                    "label": label,
                    "patient_id": patient,
                    "study_id": study,
                    "slice_index": k,
                    "dataset": DATASET,
                }
            )
    if rows:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = split_by_patient(rows, fractions, seed=int(seed))
        for warning in caught:
            report.note(str(warning.message))
    report.rows = rows
    report.manifest_path = write_manifest(out / MANIFEST_NAME, rows)
    return report
