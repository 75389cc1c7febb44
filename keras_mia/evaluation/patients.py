"""Patient-level results: one label and one score per patient from their images' results.

A patient is positive when any of their images is (a breast with a tumour slice is a
positive breast); the patient's score is the maximum or the mean of their images' scores.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["AGGREGATIONS", "aggregate_by_patient"]

AGGREGATIONS: tuple[str, ...] = ("max", "mean")


def aggregate_by_patient(
    patient_ids: Sequence[str],
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    how: str = "max",
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Collapses image-level labels and scores to one per patient.

    Args:
        patient_ids: one id per image.
        y_true: 0/1 image labels.
        scores: image scores (positive-class probabilities).
        how: ``"max"`` or ``"mean"`` of a patient's image scores.

    Returns:
        ``(patients, labels, scores)``: patient ids in order of first appearance, their
        0/1 labels (the maximum of their images' labels) and aggregated scores.

    Raises:
        ValueError: an unknown ``how``, lengths that differ, or an empty patient id.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {AGGREGATIONS}. Received: how={how!r}")
    patient_ids = [str(p) for p in patient_ids]
    y_true = np.asarray(y_true).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not len(patient_ids) == len(y_true) == len(scores):
        raise ValueError(
            "patient_ids, y_true and scores must have the same length. Received: "
            f"{len(patient_ids)}, {len(y_true)} and {len(scores)}"
        )
    empty = [i for i, p in enumerate(patient_ids) if not p]
    if empty:
        raise ValueError(
            f"Every image needs a patient id. Received: empty ids at rows {empty[:10]}"
        )
    index: dict[str, list[int]] = {}
    for i, patient in enumerate(patient_ids):
        index.setdefault(patient, []).append(i)
    patients = list(index)
    reduce = np.max if how == "max" else np.mean
    labels = np.array([y_true[index[p]].max() for p in patients], dtype=np.int64)
    aggregated = np.array([reduce(scores[index[p]]) for p in patients], dtype=np.float64)
    return patients, labels, aggregated
