"""Run folders for the export and predict tests, built by hand (no training).

Each run is a synthetic data set at tiny size (``keras_mia.synth.generate``), a recipe's
``config.yaml`` with small images (``load_recipe`` + ``dump_recipe``) and a small functional
model saved as ``best.keras``: what ``keras-mia train`` leaves behind, minus the training.
The models hold non-trivial BatchNormalization statistics, so a serving graph that ran them
in training mode would give other probabilities.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.synth import generate

PATCH = 32


def _batch_norm_statistics(layer, seed):
    rng = np.random.default_rng(seed)
    gamma, beta, mean, variance = layer.get_weights()
    layer.set_weights([
        1.0 + 0.2 * rng.standard_normal(gamma.shape).astype("float32"),
        0.1 * rng.standard_normal(beta.shape).astype("float32"),
        0.3 * rng.standard_normal(mean.shape).astype("float32"),
        (0.5 + rng.random(variance.shape)).astype("float32"),
    ])


def classifier(size, channels, units, activation, seed=0):
    """Conv -> BN -> ReLU -> GAP (plus the mean intensity) -> Dense: a tiny image classifier.

    The mean intensity feeds the output with a large weight, so brighter images get higher
    class-``units - 1`` scores and the classes of the synthetic sets separate somewhat.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, channels), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    brightness = keras.layers.GlobalAveragePooling2D(name="brightness")(inputs)
    x = keras.layers.Concatenate(name="features")([x, brightness])
    outputs = keras.layers.Dense(units, activation=activation, name="head")(x)
    model = keras.Model(inputs, outputs, name="tiny_classifier")
    _batch_norm_statistics(model.get_layer("bn"), seed)
    kernel, bias = model.get_layer("head").get_weights()
    kernel[-1] = np.linspace(-2.0, 2.0, units) if units > 1 else 3.0
    model.get_layer("head").set_weights([kernel, bias])
    return model


def patch_classifier(patch=PATCH, channels=3, classes=5, seed=0):
    """An unpadded (``valid``) strided conv net -> GAP -> Dense(softmax): a patch classifier
    whose one-pass heatmap equals its sliding-window heatmap (total stride 4)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((patch, patch, channels), name="image")
    x = keras.layers.Conv2D(8, 3, padding="valid", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="valid", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="valid", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="head_dense")(x)
    model = keras.Model(inputs, outputs, name="tiny_patch_classifier")
    _batch_norm_statistics(model.get_layer("bn1"), seed)
    return model


def segmenter(seed=0):
    """A fully convolutional logits model: BN, a 3x3 conv and a 1x1 logits conv."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 1), name="image")
    x = keras.layers.BatchNormalization(name="bn")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    outputs = keras.layers.Conv2D(1, 1, name="logits")(x)
    model = keras.Model(inputs, outputs, name="tiny_segmenter")
    _batch_norm_statistics(model.get_layer("bn"), seed)
    return model


def write_history(run):
    lines = ["epoch,loss,stage,val_loss,accuracy,val_accuracy"]
    lines += [f"{e},{1 - e / 10},{e // 2},{1.1 - e / 12},{0.5 + e / 20},{0.5 + e / 25}"
              for e in range(4)]
    (run / "history.csv").write_text("\n".join(lines) + "\n")


def make_run(root, recipe, overrides, model):
    """Writes ``root/run`` with config.yaml, best.keras and history.csv; returns the folder."""
    run = root / "run"
    run.mkdir(parents=True)
    dump_recipe(load_recipe(recipe, overrides), run / "config.yaml")
    model.save(run / "best.keras")
    write_history(run)
    return run


@pytest.fixture(scope="session")
def binary_run(tmp_path_factory):
    """hello_world: 8-bit PNG radiographs, stretched to 32x32, replicated to 3 channels."""
    root = tmp_path_factory.mktemp("binary")
    manifest = generate("hello_world", root / "data", n=24, seed=0, image_size=48)
    overrides = [f"manifest={manifest}", "data.image_size=[32, 32]", "data.batch_size=4",
                 "model.options.weights=null", "evaluation.bootstrap=20"]
    return make_run(root, "hello_world", overrides, classifier(32, 3, 1, "sigmoid"))


@pytest.fixture(scope="session")
def patch_run(tmp_path_factory):
    """mammo_patch: 16-bit PNG 32x32 patches of five classes, mean subtracted, 3 channels."""
    root = tmp_path_factory.mktemp("patch")
    manifest = generate("mammo_patch", root / "data", n=24, seed=0, image_size=PATCH)
    overrides = [f"manifest={manifest}", f"data.image_size=[{PATCH}, {PATCH}]",
                 "data.batch_size=16", "data.mean=90.0", "data.std=40.0",
                 "model.options.weights=null",
                 "evaluation.bootstrap=20"]
    return make_run(root, "mammo_patch", overrides, patch_classifier())


@pytest.fixture(scope="session")
def segmentation_run(tmp_path_factory):
    """mammo_dense: 16-bit PNG mammograms padded (aspect kept) to 48x40, no crop."""
    root = tmp_path_factory.mktemp("segmentation")
    manifest = generate("mammo_dense", root / "data", n=30, seed=0, image_size=(96, 64))
    overrides = [f"manifest={manifest}", "data.image_size=[48, 40]", "data.augment.crop=null",
                 "data.batch_size=4", "evaluation.bootstrap=20"]
    return make_run(root, "mammo_dense", overrides, segmenter())


@pytest.fixture(scope="session")
def mri_run(tmp_path_factory):
    """breast_mri: DICOM slices, per-slice min-max to [0, 255] then /255, one channel,
    a two-unit softmax head."""
    root = tmp_path_factory.mktemp("mri")
    manifest = generate("breast_mri", root / "data", n=6, seed=0, image_size=40)
    overrides = [f"manifest={manifest}", "data.image_size=[32, 32]", "data.batch_size=8",
                 "evaluation.bootstrap=20"]
    return make_run(root, "breast_mri", overrides, classifier(32, 1, 2, "softmax"))
