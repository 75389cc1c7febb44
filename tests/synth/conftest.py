"""Helpers shared by the synthetic-data tests: reading a generated set back."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest


def _tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root``."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _pixels(path: Path) -> np.ndarray:
    """Stored pixel values of a PNG or DICOM file (no rescaling, no inversion)."""
    if path.suffix == ".dcm":
        import pydicom

        return pydicom.dcmread(path).pixel_array
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def _mean_only_accuracy(manifest: Path) -> float:
    """Cross-validated accuracy of a logistic regression on each image's mean intensity
    (after per-image min-max scaling, as the training pipelines normalise)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    rows = _rows(manifest)
    features, labels = [], []
    for row in rows:
        values = _pixels(manifest.parent / row["image_path"]).astype(np.float64)
        span = max(values.max() - values.min(), 1e-9)
        features.append([values.mean(), ((values - values.min()) / span).mean()])
        labels.append(row["label"])
    features = np.asarray(features)
    features = (features - features.mean(0)) / features.std(0)
    scores = [
        cross_val_score(LogisticRegression(), features[:, [i]], labels, cv=4).mean()
        for i in range(features.shape[1])
    ]
    return float(max(scores))


@pytest.fixture
def tree_digest():
    return _tree_digest


@pytest.fixture
def read_rows():
    return _rows


@pytest.fixture
def read_pixels():
    return _pixels


@pytest.fixture
def mean_only_accuracy():
    return _mean_only_accuracy
