"""Recipes train end to end with their own models at tiny sizes.

hello_world, mammo_patch and mammo_whole_image also train in the notebooks (QUICK=1) and the demo
that ``make test`` runs; here: the cheap ones and the crop stages. The patch-run hand-over of
mammo_whole_image is in test_backbone.py.
"""

from __future__ import annotations

import csv

import keras
import pytest

from keras_mia.recipes import load_recipe
from keras_mia.synth import generate
from keras_mia.training.engine import train

# recipe -> (synthetic set, generate options, overrides that shrink it)
CASES = {
    "breast_mri": (
        "breast_mri", {"n": 6, "image_size": 32},
        ["data.image_size=[32, 32]", "data.batch_size=8", "training.epochs=1",
         "training.steps_per_epoch=2"],
    ),
    "mammo_dense": (
        "mammo", {"n": 30, "image_size": (64, 48)},
        ["data.image_size=[48, 32]", "data.batch_size=2", "training.epochs=2",
         "training.steps_per_epoch=1", "data.augment.crop=[32, 32]"]
        + [f"training.stages.{i}.crop=[32, 32]" for i in range(4)],
    ),
}


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _train_case(recipe, tmp_path, extra=()):
    dataset, options, overrides = CASES[recipe]
    manifest = generate(dataset, tmp_path / "data", seed=1, **options)
    config = load_recipe(recipe, [f"manifest={manifest}", *overrides, *extra])
    train(config, tmp_path / "run", verbose=0)
    return config, tmp_path / "run"


@pytest.mark.parametrize("recipe", sorted(CASES))
def test_recipe_trains_every_stage(recipe, tmp_path):
    config, run = _train_case(recipe, tmp_path)
    rows = _history(run)
    stages = [i for i, n in enumerate(config.training.stage_epochs()) if n]
    assert [int(float(r["stage"])) for r in rows] == stages
    assert config.training.monitor in rows[0]
    model = keras.saving.load_model(run / "best.keras", compile=False)
    assert model.name == config.model.name


def test_val_image_recall_as_monitor_selects_best_keras(tmp_path):
    """``training.monitor: val_image_recall`` (Scuccimarra's image-level recall) picks the
    epoch that ``best.keras`` holds; the run also takes images at their own sizes
    (``data.image_size: null``: 32x32 training crops, whole validation images)."""
    import numpy as np

    from keras_mia.data.pipeline import build_dataset
    from keras_mia.training.checkpoint import best_epoch
    from keras_mia.training.compile import make_loss, make_metrics

    extra = ["data.image_size=null", "training.epochs=2", "training.steps_per_epoch=1",
             "training.metrics=[iou, image_accuracy, image_recall]",
             "training.monitor=val_image_recall", "evaluation.area_divisor=200.0"]
    config, run = _train_case("mammo_dense", tmp_path, extra)
    rows = _history(run)
    assert len(rows) == 2 and all("val_image_recall" in r for r in rows)
    epoch, value, _ = best_epoch(rows, "val_image_recall", "max", "val_loss")
    assert value == max(float(r["val_image_recall"]) for r in rows)
    # best.keras is that epoch's model: it reproduces the epoch's validation loss and recall.
    model = keras.saving.load_model(run / "best.keras", compile=False)
    model.compile(loss=make_loss(config.training.loss, config.training.loss_options),
                  metrics=make_metrics(["image_recall"], config.data, 0, area_divisor=200.0))
    val = build_dataset(config.manifest, config.data, split="val", training=False)
    scores = model.evaluate(val, return_dict=True, verbose=0)
    chosen = rows[epoch - 1]
    assert np.isclose(scores["loss"], float(chosen["val_loss"]), rtol=1e-4)
    assert np.isclose(scores["image_recall"], value)
