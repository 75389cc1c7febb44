"""The top-level data_manifest.csv: the catalogue of data sets the recipes use (SPEC section 1)."""

import csv
from pathlib import Path

import pytest

CATALOGUE = Path(__file__).resolve().parents[1] / "data_manifest.csv"
COLUMNS = [
    "dataset", "task", "modality", "recipe", "source_url",
    "licence", "citation", "n_images", "layout", "prepare_command",
]


@pytest.fixture(scope="module")
def rows():
    with open(CATALOGUE, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_every_row_is_complete(rows):
    for row in rows:
        assert None not in row, f"extra cells in row {row['dataset']}"
        assert all(row[c].strip() for c in COLUMNS), f"empty cell in row {row['dataset']}"


def test_lists_the_public_and_synthetic_datasets(rows):
    names = {row["dataset"] for row in rows}
    assert {"open_i_abd_vs_cxr", "dbc_breast_mri", "cbis_ddsm", "mias"} <= names
    assert any(name.startswith("synthetic_") for name in names)


def test_commands_name_the_cli(rows):
    for row in rows:
        assert row["prepare_command"].startswith("keras-mia "), row["dataset"]
