"""Plumbing shared by the synthetic-data generators: sizes, patient splits, manifest CSV,
reproducible DICOM files and the ``synth_info.json`` note written beside each manifest.

Kept free of any other ``keras_mia.data`` module so the generators only depend on the
schema and the image writers.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from keras_mia.data.schema import ALL_COLUMNS, SPLITS

__all__ = [
    "SPLIT_FRACTIONS",
    "STUDY_DATE",
    "parse_size",
    "prepare_out_dir",
    "split_counts",
    "assign_splits",
    "write_manifest_csv",
    "write_info",
    "synthetic_uid",
    "write_dicom_reproducible",
    "write_png_gray",
]

# Train / val / test shares of the patients (SPEC: split by patient, about 70/15/15).
SPLIT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)

# A fixed acquisition date: the writer's default (today) would make reruns differ byte-wise.
STUDY_DATE = "20000101"


def parse_size(image_size, default: tuple[int, int], name: str = "image_size") -> tuple[int, int]:
    """Turns ``None``, an int or an ``(height, width)`` pair into an ``(height, width)`` pair.

    Args:
        image_size: ``None`` (use ``default``), an int (square) or a pair of ints.
        default: the ``(height, width)`` used when ``image_size`` is ``None``.
        name: the argument name quoted in errors.

    Returns:
        ``(height, width)`` as Python ints.

    Raises:
        ValueError: a size is not a positive integer.
    """
    if image_size is None:
        return int(default[0]), int(default[1])
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, Sequence) and not isinstance(image_size, str) and len(
        image_size
    ) == 2:
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            f"{name} must be None, an int or a (height, width) pair. "
            f"Received: {name}={image_size!r}"
        )
    if min(size) < 1:
        raise ValueError(f"{name} must be positive. Received: {name}={image_size!r}")
    return size


def prepare_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    """Creates ``out_dir``, refusing a non-empty folder unless ``overwrite``.

    Refusing protects against a manifest that silently mixes with files of an earlier run.

    Args:
        out_dir: destination folder.
        overwrite: when true, files are written over whatever is there.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty and ``overwrite`` is false.
        NotADirectoryError: ``out_dir`` is an existing file.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"The output folder is an existing file. Received: out_dir={out}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"The output folder is not empty; choose a new folder or delete this one. "
            f"Received: out_dir={out}"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def split_counts(n: int, fractions: Sequence[float] = SPLIT_FRACTIONS) -> tuple[int, int, int]:
    """How many of ``n`` patients go to train, val and test.

    Val and test get at least one patient each as soon as there are three; train always
    keeps the rest, so it is never smaller than either.

    Args:
        n: number of patients.
        fractions: train, val and test shares (they need not sum to 1 exactly).

    Returns:
        ``(n_train, n_val, n_test)`` summing to ``n``.
    """
    if n < 3:
        return (n, 0, 0)
    total = float(sum(fractions))
    n_val = max(1, int(round(n * fractions[1] / total)))
    n_test = max(1, int(round(n * fractions[2] / total)))
    while n - n_val - n_test < max(n_val, n_test):
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return (n - n_val - n_test, n_val, n_test)


def assign_splits(
    strata: Mapping[str, str],
    rng: np.random.Generator,
    fractions: Sequence[float] = SPLIT_FRACTIONS,
) -> dict[str, str]:
    """Assigns every patient to a split, stratified so each split sees every stratum.

    Patients of each stratum (e.g. each class) are shuffled and cut 70/15/15; strata with
    fewer than three patients send their extra patients to val and test in turn, so that over
    all strata no split stays empty while there are at least three patients.

    Args:
        strata: patient id -> stratum key (a patient's class, or one key for all).
        rng: the generator's random state (the only source of randomness).
        fractions: train, val and test shares.

    Returns:
        patient id -> ``"train"``, ``"val"`` or ``"test"``.
    """
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient, key in strata.items():
        by_stratum[str(key)].append(patient)
    splits: dict[str, str] = {}
    small_turn = 0
    for key in sorted(by_stratum):
        patients = sorted(by_stratum[key])
        order = [patients[i] for i in rng.permutation(len(patients))]
        n_train, n_val, _ = split_counts(len(order), fractions)
        if len(order) < 3:
            # One patient stays in train; a second one alternates between val and test.
            for i, patient in enumerate(order):
                if i == 0:
                    splits[patient] = SPLITS[0]
                else:
                    splits[patient] = SPLITS[1 + small_turn % 2]
                    small_turn += 1
            continue
        for i, patient in enumerate(order):
            splits[patient] = (
                SPLITS[0] if i < n_train else SPLITS[1] if i < n_train + n_val else SPLITS[2]
            )
    return splits


def write_manifest_csv(path: str | Path, rows: Iterable[Mapping[str, object]]) -> Path:
    """Writes manifest rows as CSV, columns in ``schema.ALL_COLUMNS`` order.

    Only the columns some row uses are written; missing cells are left empty.

    Args:
        path: the CSV file to write.
        rows: one mapping per image, column -> value.

    Returns:
        The path written.

    Raises:
        ValueError: a row uses a column the schema does not know.
    """
    rows = list(rows)
    used = {key for row in rows for key in row}
    unknown = sorted(used - set(ALL_COLUMNS))
    if unknown:
        raise ValueError(f"Manifest columns must be among {ALL_COLUMNS}. Received: {unknown}")
    columns = [column for column in ALL_COLUMNS if column in used]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in columns})
    return path


def write_info(out_dir: Path, info: Mapping[str, object]) -> Path:
    """Writes ``synth_info.json``: what was generated, with which settings, and counts.

    Args:
        out_dir: the data set folder.
        info: JSON-serialisable description.

    Returns:
        The path written.
    """
    path = Path(out_dir) / "synth_info.json"
    path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def synthetic_uid(*parts: object) -> str:
    """A DICOM UID derived only from ``parts``, so reruns give the same UIDs.

    Args:
        *parts: anything whose ``str`` identifies the object (recipe, seed, patient, ...).

    Returns:
        A valid UID string (pydicom's prefix plus a hash of ``parts``).
    """
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["keras_mia.synth"] + [str(p) for p in parts]))


def write_dicom_reproducible(path: str | Path, image: np.ndarray, *, sop_uid: str, **kwargs):
    """Writes a byte-reproducible DICOM file (fixed SOP Instance UID and dates).

    Args:
        path: destination file.
        image: (H, W) uint8 or uint16 stored values.
        sop_uid: the SOP Instance UID to use (see ``synthetic_uid``).
        **kwargs: passed on to ``keras_mia.io.writers.write_dicom``.

    Returns:
        The path written.
    """
    from keras_mia.io.writers import write_dicom

    extra = dict(kwargs.pop("extra", None) or {})
    extra.setdefault("SeriesDate", STUDY_DATE)
    extra.setdefault("ContentDate", STUDY_DATE)
    return write_dicom(
        path, image, sop_instance_uid=sop_uid, study_date=STUDY_DATE, extra=extra, **kwargs
    )


def write_png_gray(path: str | Path, pixels: np.ndarray, bit_depth: int) -> Path:
    """Writes a single-channel image as an 8- or 16-bit PNG, quickly (zlib level 1).

    Noisy synthetic 16-bit images gain little from more compression effort.
    """
    from keras_mia.io.writers import write_png

    return write_png(path, pixels, bit_depth=bit_depth, compress_level=1)
