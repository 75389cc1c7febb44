"""`prepare mias --split auto`: train/val/test by woman, seeded, on real mini-MIAS images."""

import os
from collections import defaultdict
from pathlib import Path

import pytest

from keras_mia import cli
from keras_mia.data.manifest import Manifest
from keras_mia.data.split import split_by_patient
from keras_mia.datasets import prepare

MIAS_DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mias_dev"


def _mias_subset(dst: Path, women: int) -> Path:
    """The first ``women`` women of mias_dev (both breasts each): linked files, own Info.txt."""
    dst.mkdir()
    refnums = sorted(p.stem for p in MIAS_DEV.glob("mdb*.pgm"))[: 2 * women]
    for ref in refnums:
        os.symlink(MIAS_DEV / f"{ref}.pgm", dst / f"{ref}.pgm")
    lines = (MIAS_DEV / "Info.txt").read_text(encoding="latin-1").splitlines()
    kept = [line for line in lines if line.split()[:1] and line.split()[0] in refnums]
    (dst / "Info.txt").write_text("\n".join(kept) + "\n", encoding="latin-1")
    return dst


@pytest.mark.skipif(not (MIAS_DEV / "Info.txt").is_file(),
                    reason="../shared/data/mias_dev not available")
def test_split_auto_keeps_both_breasts_of_each_woman_in_one_split(tmp_path):
    src = _mias_subset(tmp_path / "src", women=10)
    out = tmp_path / "out"
    assert cli.main(["prepare", "mias", str(src), str(out), "--split", "auto", "--seed", "3",
                     "--quiet"]) == 0
    rows = list(Manifest.load(out / "manifest.csv"))
    assert len(rows) == 20
    splits_of = defaultdict(set)
    images_of = defaultdict(int)
    for row in rows:
        splits_of[row["patient_id"]].add(row["split"])
        images_of[row["patient_id"]] += 1
    assert len(splits_of) == 10 and set(images_of.values()) == {2}
    assert all(len(splits) == 1 for splits in splits_of.values())
    women_per_split = defaultdict(int)
    for splits in splits_of.values():
        women_per_split[next(iter(splits))] += 1
    assert dict(women_per_split) == {"train": 6, "val": 2, "test": 2}
    # The split is split_by_patient's, with the default 60/20/20 and the given seed.
    blank = [dict(row, split="") for row in rows]
    expected = split_by_patient(blank, (0.6, 0.2, 0.2), seed=3)
    assert [r["split"] for r in rows] == [r["split"] for r in expected]


def test_split_auto_rejects_fractions_that_leave_no_training(tmp_path):
    with pytest.raises(ValueError, match="val_fraction=0.5, test_fraction=0.6"):
        prepare("mias", tmp_path, tmp_path / "out", split="auto", val_fraction=0.5,
                test_fraction=0.6, quiet=True)
