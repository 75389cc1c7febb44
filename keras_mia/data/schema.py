"""The per-image manifest schema shared by ``synth``, ``prepare``, ``validate`` and ``train``.

A manifest is a CSV file, one row per image. Paths are relative to the manifest's folder
or absolute.
"""

from __future__ import annotations

__all__ = ["REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "ALL_COLUMNS", "SPLITS"]

REQUIRED_COLUMNS: tuple[str, ...] = ("image_path", "label", "patient_id")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "split",
    "mask_path",
    "study_id",
    "view",
    "laterality",
    "abnormality",
    "pathology",
    "slice_index",
    "dataset",
)
ALL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
SPLITS: tuple[str, ...] = ("train", "val", "test")
