"""Patient-level train/val/test splits.

Splitting images at random lets one patient's slices or views land in both training and
test data, which inflates test scores (the breast-MRI seed did this). Here every patient is
assigned to exactly one split, and the patients of each *stratum* are spread over the splits
in the requested proportions.

Stratum of a patient (``stratify=True``): the sorted set of that patient's labels, joined with
``"|"``. With one image per patient (Hello World) that is simply the label; a breast-MRI
patient with positive and negative slices is in stratum ``"0|1"``; a CBIS-DDSM patient with a
benign and a malignant image is in ``"benign|malignant"``. So patients are balanced by which
classes they contribute, not by a guessed majority label. Pass a callable to choose another
key (e.g. "any positive").

Algorithm (exact and deterministic): the global number of patients per split is fixed by
largest-remainder rounding (every split with a non-zero fraction gets at least one patient
when there are enough patients). A split sequence of that length is laid out evenly (smooth
weighted round-robin) and rotated by a seeded random offset; the patients, grouped by stratum
(strata in sorted order) and shuffled within each stratum by the seed, then take the
sequence's entries in turn. Because the sequence is even, each stratum receives its share of
every split to within one patient. Fractions are fractions of *patients*; a patient's rows
all follow the patient.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence

from keras_mia.data.schema import SPLITS

__all__ = ["split_by_patient", "patient_stratum"]


def patient_stratum(patient_rows: Sequence[Mapping[str, str]]) -> str:
    """The default stratum of a patient: the sorted set of their labels joined by ``"|"``."""
    return "|".join(sorted({str(row.get("label", "")) for row in patient_rows}))


def split_by_patient(
    rows: Iterable[Mapping[str, str]],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: bool | Callable[[list[Mapping[str, str]]], str] = True,
    into: Sequence[str] | None = None,
    only_split: str | None = None,
    keep_existing: bool = False,
) -> list[dict[str, str]]:
    """Assigns a ``split`` to every row so that no patient is in two splits.

    Args:
        rows: manifest rows; each needs a non-empty ``patient_id`` (and ``label`` when
            stratifying).
        fractions: fraction of patients per split, in the order of ``into``; each >= 0,
            summing to 1.
        seed: random seed; the same rows (in any order) and seed give the same split.
        stratify: ``True`` to balance strata (see ``patient_stratum``), ``False`` for a plain
            shuffle, or a callable ``(patient_rows) -> key``.
        into: the split names to assign, one per fraction. Default: the first
            ``len(fractions)`` of ``("train", "val", "test")``.
        only_split: re-split only the rows whose current ``split`` is this value and return
            every other row unchanged. E.g. to carve a validation set out of CBIS-DDSM's
            official training set while keeping its official test set:
            ``split_by_patient(rows, (0.9, 0.1), seed, only_split="train",
            into=("train", "val"))``.
        keep_existing: assign only the rows with an empty ``split``; rows that have one keep
            it, and a patient who already has a split keeps it for their new rows too.

    Returns:
        New row dicts (copies, in the input order) with ``split`` set.

    Raises:
        ValueError: bad ``fractions``/``into``/``only_split``, both ``only_split`` and
            ``keep_existing`` given, or a row without a ``patient_id`` (the message names
            the row index).
    """
    fractions = _check_fractions(fractions)
    if into is None:
        if len(fractions) > len(SPLITS):
            raise ValueError(
                f"Give `into` (split names) for more than {len(SPLITS)} fractions. "
                f"Received: fractions={fractions}"
            )
        into = SPLITS[: len(fractions)]
    into = tuple(into)
    if len(into) != len(fractions) or len(set(into)) != len(into):
        raise ValueError(
            "`into` needs one distinct split name per fraction. "
            f"Received: into={into}, fractions={fractions}"
        )
    unknown = [name for name in into if name not in SPLITS]
    if unknown:
        raise ValueError(f"Split names must be in {SPLITS}. Received: into={into}")
    if only_split is not None and keep_existing:
        raise ValueError(
            "Give either only_split or keep_existing, not both. "
            f"Received: only_split={only_split!r}, keep_existing={keep_existing}"
        )

    out = [dict(row) for row in rows]
    for index, row in enumerate(out):
        if not str(row.get("patient_id") or "").strip():
            raise ValueError(
                f"Row {index} has no patient_id, so it cannot be split by patient. "
                f"Received: row={row}"
            )

    # Which rows get a (new) split, and which patients already have one.
    if only_split is not None:
        targets = [i for i, row in enumerate(out) if (row.get("split") or "") == only_split]
        fixed: dict[str, str] = {}
    elif keep_existing:
        targets = [i for i, row in enumerate(out) if not row.get("split")]
        fixed = {}
        for row in out:
            if row.get("split"):
                fixed.setdefault(str(row["patient_id"]), str(row["split"]))
    else:
        targets = list(range(len(out)))
        fixed = {}

    by_patient: dict[str, list[int]] = {}
    for i in targets:
        by_patient.setdefault(str(out[i]["patient_id"]), []).append(i)
    new_patients = sorted(pid for pid in by_patient if pid not in fixed)

    assignment = _assign(
        new_patients,
        [[out[i] for i in by_patient[pid]] for pid in new_patients],
        fractions,
        into,
        seed,
        stratify,
    )
    assignment.update({pid: fixed[pid] for pid in by_patient if pid in fixed})
    for pid, indices in by_patient.items():
        for i in indices:
            out[i]["split"] = assignment[pid]
    return out


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(
            f"fractions must be a sequence of numbers. Received: fractions={fractions!r}"
        ) from None
    if (
        not values
        or any(not math.isfinite(f) or f < 0 for f in values)
        or not math.isclose(sum(values), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            "fractions must be non-negative numbers summing to 1. "
            f"Received: fractions={tuple(fractions)!r}"
        )
    return values


def _assign(
    patients: list[str],
    patient_rows: list[list[Mapping[str, str]]],
    fractions: tuple[float, ...],
    names: tuple[str, ...],
    seed: int,
    stratify: bool | Callable,
) -> dict[str, str]:
    """Maps each patient id (sorted) to a split name; see the module docstring."""
    n = len(patients)
    if n == 0:
        return {}
    rng = random.Random(seed)
    counts = _split_counts(n, fractions)
    empty = [name for name, f, c in zip(names, fractions, counts) if f > 0 and c == 0]
    if empty:
        warnings.warn(
            f"Only {n} patient(s) to split into {names} with fractions {fractions}: "
            f"split(s) {empty} stay empty.",
            stacklevel=3,
        )
    sequence = _even_sequence(counts)
    offset = rng.randrange(n)
    sequence = sequence[offset:] + sequence[:offset]

    if stratify is True:
        key_of = patient_stratum
    elif callable(stratify):
        key_of = stratify
    elif stratify is False:
        key_of = None
    else:
        raise ValueError(f"stratify must be a bool or a callable. Received: stratify={stratify!r}")
    strata: dict[str, list[str]] = {}
    for pid, prow in zip(patients, patient_rows):
        key = "" if key_of is None else str(key_of(prow))
        strata.setdefault(key, []).append(pid)
    order: list[str] = []
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        order.extend(members)
    return {pid: names[k] for pid, k in zip(order, sequence)}


def _split_counts(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Largest-remainder rounding of ``n * fractions``, then at least 1 per non-zero split."""
    exact = [n * f for f in fractions]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(fractions)), key=lambda k: (-(exact[k] - counts[k]), k))
    for k in by_remainder[: n - sum(counts)]:
        counts[k] += 1
    for k, f in enumerate(fractions):
        if f > 0 and counts[k] == 0:
            donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[k] += 1
    return counts


def _even_sequence(counts: list[int]) -> list[int]:
    """Split indices with ``counts[k]`` copies of ``k``, spread evenly (smooth round-robin)."""
    total = sum(counts)
    current = [0] * len(counts)
    sequence = []
    for _ in range(total):
        for k, c in enumerate(counts):
            current[k] += c
        best = max(range(len(counts)), key=lambda k: (current[k], -k))
        current[best] -= total
        sequence.append(best)
    return sequence
