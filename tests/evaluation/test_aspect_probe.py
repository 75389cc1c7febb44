"""Tests for keras_mia.evaluation.aspect_probe: a shape-reading model must fail the probe."""

import json

import keras
import numpy as np
import pytest

from keras_mia.cli import main
from keras_mia.data.manifest import Manifest, write_manifest
from keras_mia.evaluation.aspect_probe import probe_aspect, reframe, typical_aspect_ratios
from keras_mia.io import write_png
from keras_mia.recipes import dump_recipe, load_recipe

CLASSES = ["openI_CXR", "openI_abd_xray"]
# Square "chest" films, wide "abdominal" films: the Open-I shortcut in miniature.
SHAPES = {"openI_CXR": (40, 40), "openI_abd_xray": (32, 48)}
# The classes differ in content too: chest content is dimmer than abdominal content.
LEVELS = {"openI_CXR": (90, 150), "openI_abd_xray": (190, 255)}


def _write_data(folder, n=18, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = CLASSES[i % 2]
        low, high = LEVELS[label]
        image = rng.uniform(low, high, SHAPES[label])
        write_png(folder / f"img{i:02d}.png", image)
        rows.append({"image_path": f"img{i:02d}.png", "label": label, "patient_id": f"p{i}",
                     "split": ("train", "val", "test")[(i // 2) % 3]})
    return write_manifest(folder / "manifest.csv", rows)


def _shape_model():
    """P(abdomen) grows with the padding's share of the input: it reads the film's shape.

    With ``data.resize=pad`` a wide film gets black bars in the square input. Content pixels
    are >= 90/255, so ``relu(1 - 50 x)`` is 1 on the bars and 0 on the content; its mean is
    0 for a square film and 1/3 for a 2:3 film.
    """
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(-50.0, offset=1.0)(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="out")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("out").set_weights([np.full((3, 1), 20.0), np.array([-10.0])])
    return model


def _content_model():
    """P(abdomen) from the brightest pixel: content only (bars are black, crops keep it)."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalMaxPooling2D()(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="out")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("out").set_weights([np.full((3, 1), 40.0 / 3), np.array([-28.0])])
    return model


def _run(tmp_path, model, name):
    manifest = _write_data(tmp_path / "data")
    run = tmp_path / name
    run.mkdir()
    overrides = [f"manifest={manifest}", "data.image_size=[32,32]", "data.resize=pad",
                 "data.resize_interpolation=bilinear", "data.batch_size=8",
                 "model.options.weights=null"]
    dump_recipe(load_recipe("hello_world", overrides), run / "config.yaml")
    model.save(run / "best.keras")
    return run


def test_reframe_variants_reach_the_ratio_and_keep_pixels():
    pixels = np.arange(40 * 30, dtype=np.uint8).reshape(40, 30)
    padded = reframe(pixels, 1.5, "pad")
    assert padded.shape == (40, 60)
    np.testing.assert_array_equal(padded[:, 15:45], pixels)
    assert padded[:, :15].max() == 0 and padded[:, 45:].max() == 0
    cropped = reframe(pixels, 1.5, "crop")
    assert cropped.shape == (20, 30)
    np.testing.assert_array_equal(cropped, pixels[10:30])
    stretched = reframe(pixels, 1.5, "stretch")
    assert stretched.shape == (40, 60) and stretched.dtype == np.uint8
    rgb = np.ones((30, 40, 3), np.uint16)
    assert reframe(rgb, 0.5, "pad").shape == (80, 40, 3)
    assert reframe(rgb, 0.5, "crop").shape == (30, 15, 3)
    with pytest.raises(ValueError, match="variant"):
        reframe(pixels, 1.0, "rotate")


def test_typical_ratios_come_from_the_training_films(tmp_path):
    manifest = Manifest.load(_write_data(tmp_path / "data"))
    ratios = typical_aspect_ratios(manifest, "train")
    assert ratios == {"openI_CXR": [1.0], "openI_abd_xray": [1.5]}


def test_shape_reading_model_fails_and_content_model_passes(tmp_path):
    shape = probe_aspect(_run(tmp_path, _shape_model(), "shape"), verbose=False)
    content = probe_aspect(_run(tmp_path, _content_model(), "content"), verbose=False)
    # Both are perfect on the films as they are: validation accuracy cannot tell them apart.
    assert shape["original_accuracy"] == 1.0
    assert content["original_accuracy"] == 1.0
    assert shape["n_films"] == content["n_films"] == 12
    assert shape["n_reframed"] == 12 * 3
    # Cropped or stretched to the other class's shape, every film flips the shape reader;
    # padded, only the square ones do (a wide film padded square still shows its bars).
    assert shape["per_variant"]["crop"]["unchanged"] == 0.0
    assert shape["per_variant"]["stretch"]["unchanged"] == 0.0
    assert shape["per_variant"]["pad"]["unchanged"] == 0.5
    assert shape["unchanged"] == pytest.approx(1 / 6)
    assert content["unchanged"] == 1.0
    assert content["still_correct"] == 1.0
    assert json.loads((tmp_path / "shape/eval/aspect_probe/aspect_probe.json").read_text())[
        "unchanged"] == shape["unchanged"]
    lines = (tmp_path / "shape/eval/aspect_probe/aspect_probe.csv").read_text().splitlines()
    assert len(lines) == 1 + 36


def test_cli_probe_aspect(tmp_path, capsys):
    run = _run(tmp_path, _content_model(), "content")
    assert main(["probe-aspect", str(run), "--splits", "val"]) == 0
    out = capsys.readouterr().out
    assert "predicted class unchanged: 1.000" in out
    report = json.loads((run / "eval/aspect_probe/aspect_probe.json").read_text())
    assert report["splits"] == ["val"]
    assert main(["probe-aspect", str(tmp_path / "nowhere")]) == 2
    assert "config.yaml" in capsys.readouterr().err
