"""The seed's scale end to end: ``prepare cbis-ddsm --scale 0.66``, a dense model on images
at their own sizes, ``evaluate``, ``export`` and the deployed path on the raw files."""

import csv
import json

import keras
import numpy as np
import pytest
from PIL import Image

from keras_mia.datasets import prepare
from keras_mia.evaluation.evaluate import evaluate_run
from keras_mia.export.saved_model import export_run
from keras_mia.inference import load
from keras_mia.preprocessing import carry_preparation
from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.synth.raw import generate_raw


def _tiny_dense():
    """A fully convolutional logit map of any input size (enough to test the plumbing)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(1, 1)(x), name="dense_prediction_28")


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale_route")
    src = generate_raw("cbis-ddsm", root / "raw", n=3, seed=2)
    report = prepare("cbis-ddsm", src, root / "prepared", scale=0.66, quiet=True)
    run = root / "run"
    run.mkdir()
    config = load_recipe("mammo_dense", [f"manifest={report.manifest_path}",
                                         "evaluation.bootstrap=20"])
    assert config.data.image_size is None  # the default is the seed's scale
    dump_recipe(config, run / "config.yaml")
    _tiny_dense().save(run / "best.keras")
    carry_preparation(report.manifest_path, run)
    with open(report.out_dir / "abnormalities.csv", newline="") as f:
        raw = {r["scan"]: r["full_image_source"] for r in csv.DictReader(f)}
    return {"run": run, "out": report.out_dir, "raw": raw, "manifest": report.manifest_path,
            "model": export_run(run, root / "model", threshold=0.5)}


def test_deployed_preparation_of_a_raw_file_equals_prepares_png(scaled):
    model = load(scaled["model"], warn=False)
    assert model.preparation.scale == 0.66 and model.preparation.image_size is None
    for scan, raw in sorted(scaled["raw"].items()):
        png = np.asarray(Image.open(scaled["out"] / "images" / f"{scan}.png"))
        prediction = model.predict_file(raw)
        np.testing.assert_array_equal(prediction.input.image, png, err_msg=scan)
        mask = prediction.outputs["predicted_mask"]
        assert mask.shape == png.shape
        limit = png.size / 750.0
        assert bool(prediction.outputs["predicted_positive"]) == (mask.sum() > limit)
        where = prediction.input.prepared.placement
        assert where.output_shape == png.shape and where.offset == (0, 0)
        assert abs(png.shape[0] - 0.66 * where.source_shape[0]) <= 1
    metadata = json.loads((scaled["model"] / "assets" / "metadata.json").read_text())
    assert metadata["eval_size"] == [None, None]
    assert "0.66" in metadata["input"]["serving_default"]
    assert metadata["preparation"]["minimum_source_shape"] is None


def test_evaluate_scores_whole_images_of_differing_sizes(scaled):
    results = evaluate_run(scaled["run"], scaled["manifest"], verbose=False, write_plots=False)
    assert results is not None
    with open(scaled["run"] / "eval" / "test" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        height, width = np.asarray(Image.open(row["image_path"])).shape
        assert float(row["area_threshold"]) == pytest.approx(height * width / 750.0)
