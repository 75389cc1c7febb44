"""The `evaluate`, `export` and `predict` commands, on a hand-made run folder (no training)."""

import csv
import json
import os
import shutil
import subprocess
import sys

import keras
import pytest

from keras_mia import cli
from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.synth import generate


def _tiny_classifier():
    """Conv -> BN -> GAP, plus the mean intensity -> Dense(1, sigmoid), on 32x32x3."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(x))
    x = keras.layers.Concatenate()([x, keras.layers.GlobalAveragePooling2D()(inputs)])
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    manifest = generate("hello_world", root / "data", n=12, seed=0, image_size=48)
    run = root / "run"
    run.mkdir()
    overrides = [f"manifest={manifest}", "data.image_size=[32, 32]", "data.batch_size=4",
                 "model.options.weights=null"]
    dump_recipe(load_recipe("hello_world", overrides), run / "config.yaml")
    _tiny_classifier().save(run / "best.keras")
    (run / "history.csv").write_text("epoch,loss,stage,val_loss\n0,0.7,0,0.72\n1,0.6,0,0.65\n")
    return run


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _error(capsys, command):
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"keras-mia {command}: error: "), err
    return err


def test_evaluate_export_predict_round_trip(run, tmp_path, capsys):
    assert cli.main(["evaluate", str(run), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "keras_mia evaluate: hello_world on test" in out and "roc_auc" in out
    folder = run / "eval" / "test"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["bootstrap"]["resamples"] == 20
    for name in ("predictions.csv", "roc.png", "pr.png", "confusion_matrix.png",
                 "examples.png"):
        assert (folder / name).is_file(), name
    assert (run / "plots" / "training_curves.png").is_file()

    assert cli.main(["export", str(run)]) == 0
    assert (run / "saved_model" / "saved_model.pb").is_file()
    assert "keras-mia predict" in capsys.readouterr().out

    table = tmp_path / "predict.csv"
    test_folder = run.parent / "data" / "TEST"
    assert cli.main(["predict", str(run / "saved_model"), str(test_folder),
                     "--out", str(table)]) == 0
    printed = capsys.readouterr().out
    assert "Predicted 3 file(s); 0 failed" in printed
    evaluated = {r["image_path"]: r for r in _rows(folder / "predictions.csv")}
    predicted = _rows(table)
    assert sorted(r["path"] for r in predicted) == sorted(evaluated)
    for row in predicted:
        expected = evaluated[row["path"]]
        for name in ("prob_openI_CXR", "prob_openI_abd_xray"):
            assert float(row[name]) == pytest.approx(float(expected[name]), abs=1e-4)
        assert row["predicted_class"] == expected["predicted"]


def test_evaluate_threshold_rule_option(run, capsys):
    assert cli.main(["evaluate", str(run), "--no-plots", "--bootstrap", "10",
                     "--threshold-rule", "sensitivity", "--target-sensitivity", "1.0"]) == 0
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["threshold"]["rule"] == "sensitivity"
    assert metrics["threshold"]["chosen_on"] == "val"
    assert metrics["threshold"]["target_sensitivity"] == 1.0
    # The run's own configuration is unchanged.
    assert load_recipe(run / "config.yaml").evaluation.threshold_rule == "fixed"
    capsys.readouterr()


def test_predict_names_a_corrupt_file_and_exits_1(run, tmp_path, capsys):
    model = tmp_path / "model"
    assert cli.main(["export", str(run), "--out", str(model), "--threshold", "0.5"]) == 0
    inputs = tmp_path / "inputs"
    shutil.copytree(run.parent / "data" / "TEST", inputs)
    (inputs / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    capsys.readouterr()
    assert cli.main(["predict", str(model), str(inputs)]) == 1
    printed = capsys.readouterr().out
    assert f"FAILED {inputs / 'corrupt.png'}" in printed
    assert "Predicted 3 file(s); 1 failed" in printed


def test_errors_are_one_line_with_exit_2(run, tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path)]) == 2
    assert "config.yaml" in _error(capsys, "evaluate")
    assert cli.main(["evaluate", str(run), "--split", "nowhere", "--no-plots"]) == 2
    assert "nowhere" in _error(capsys, "evaluate")
    assert cli.main(["evaluate", str(run), "--set", "evaluation.bogus=1"]) == 2
    assert "bogus" in _error(capsys, "evaluate")

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("x")
    assert cli.main(["export", str(run), "--out", str(occupied)]) == 2
    assert "occupied" in _error(capsys, "export")
    assert cli.main(["export", str(tmp_path / "missing")]) == 2
    assert "config.yaml" in _error(capsys, "export")

    assert cli.main(["predict", str(tmp_path), str(tmp_path)]) == 2
    assert "saved_model.pb" in _error(capsys, "predict")
    model = tmp_path / "model"
    assert cli.main(["export", str(run), "--out", str(model)]) == 0
    assert cli.main(["predict", str(model), str(tmp_path), "--heatmap", str(tmp_path)]) == 2
    assert "heatmap" in _error(capsys, "predict")


def test_export_from_a_jax_backend_process(run, tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "from_jax"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-m", "keras_mia.cli", "export", str(run),
                             "--out", str(out)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # The JAX process hands the export to a TensorFlow-backend subprocess, whose report shows.
    assert "signatures: serving_default" in result.stdout
    metadata = json.loads((out / "assets" / "metadata.json").read_text())
    assert metadata["recipe"] == "hello_world"
