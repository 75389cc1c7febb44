"""``keras-mia demo``: synth -> train -> evaluate -> export -> predict, with a tiny model."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from keras_mia.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent / "training"))
import engine_tiny_model  # noqa: E402
from engine_tiny_model import TINY_OVERRIDES  # noqa: E402

TINY_DEMO = [*TINY_OVERRIDES, "synth.n=40", "synth.image_size=[32, 32]", "training.epochs=1"]


@pytest.fixture(autouse=True)
def tiny_model_registered():
    engine_tiny_model.register()
    yield
    engine_tiny_model.unregister()


def _demo(out: Path) -> int:
    argv = ["demo", "hello_world", "--out", str(out)]
    for override in TINY_DEMO:
        argv += ["--set", override]
    return main(argv)


def test_demo_runs_every_step_and_says_the_data_is_synthetic(tmp_path, capsys):
    out = tmp_path / "demo"
    assert _demo(out) == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC" in printed
    assert "keras-mia prepare open-i" in printed  # how to run on the real data
    assert (out / "data" / "manifest.csv").is_file()
    assert (out / "run" / "best.keras").is_file()
    metrics = json.loads((out / "run" / "eval" / "test" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_images"] > 0
    assert (out / "saved_model" / "saved_model.pb").is_file()
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["predicted_class"] in ("openI_CXR", "openI_abd_xray")

    # A second run reuses the data and the finished run folder.
    assert _demo(out) == 0
    printed = capsys.readouterr().out
    assert "reusing the synthetic data" in printed
    assert "already finished; skipped" in printed


def test_demo_rejects_a_bad_override_before_training(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "d"), "--set", "training.epoch=3"]
    assert main(argv) == 2
    assert "training.epoch" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
