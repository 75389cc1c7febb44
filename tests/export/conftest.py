"""Run folders for the export and predict tests, built by hand (no training).

Each run is a synthetic data set at tiny size (``keras_mia.synth.generate``), a recipe's
``config.yaml`` with small images (``load_recipe`` + ``dump_recipe``) and a small functional
model saved as ``best.keras``: what ``keras-mia train`` leaves behind, minus the training.
The models hold non-trivial BatchNormalization statistics, so a serving graph that ran them
in training mode would give other probabilities.

``raw_cbis`` is different: a synthetic CBIS-DDSM download (raw DICOMs: 16-bit, 12-bit and
MONOCHROME1) put through ``keras-mia prepare cbis-ddsm``, whose manifests carry a preparation
record, for the tests of the deployed path on raw mammograms.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.synth import generate

PATCH = 32
# The prepared size of the raw CBIS-DDSM tests (Shen: 1152 x 896) and their patch side.
RAW_PREPARED = (96, 64)
RAW_PATCH = 16
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _batch_norm_statistics(layer, seed):
    rng = np.random.default_rng(seed)
    gamma, beta, mean, variance = layer.get_weights()
    layer.set_weights([
        1.0 + 0.2 * rng.standard_normal(gamma.shape).astype("float32"),
        0.1 * rng.standard_normal(beta.shape).astype("float32"),
        0.3 * rng.standard_normal(mean.shape).astype("float32"),
        (0.5 + rng.random(variance.shape)).astype("float32"),
    ])


def classifier(size, channels, units, activation, seed=0, scale=1.0):
    """Conv -> BN -> ReLU -> GAP (plus the mean intensity) -> Dense: a tiny image classifier
    of ``size`` (a side, or ``(height, width)``) whose inputs are first multiplied by
    ``scale`` (so that a [0, 255] input does not saturate it).

    The mean intensity feeds the output with a large weight, so brighter images get higher
    class-``units - 1`` scores and the classes of the synthetic sets separate somewhat.
    """
    keras.utils.set_random_seed(seed)
    height, width = (size, size) if isinstance(size, int) else size
    inputs = keras.Input((height, width, channels), name="image")
    scaled = keras.layers.Rescaling(scale, name="scale")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(scaled)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    brightness = keras.layers.GlobalAveragePooling2D(name="brightness")(scaled)
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
    """breast_mri: DICOM slices, per-slice min-max to [0, 255], one channel, a two-unit
    softmax head (which divides by 255 itself)."""
    root = tmp_path_factory.mktemp("mri")
    manifest = generate("breast_mri", root / "data", n=6, seed=0, image_size=40)
    overrides = [f"manifest={manifest}", "data.image_size=[32, 32]", "data.batch_size=8",
                 "evaluation.bootstrap=20"]
    return make_run(root, "breast_mri", overrides, classifier(32, 1, 2, "softmax", scale=1 / 255))


def _all_test(manifest, folder):
    """A copy of a manifest with every row in the test split (``evaluate`` scores one split)."""
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    base = Path(manifest).parent
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            files = {key: str(base / row[key]) for key in ("image_path", "mask_path")
                     if row.get(key)}
            writer.writerow({**row, **files, "split": "test"})
    return path


def _raw_sources(out_dir):
    """Prepared scan (manifest ``study_id``) -> the raw full-mammogram file it came from."""
    with open(Path(out_dir) / "abnormalities.csv", newline="", encoding="utf-8") as f:
        return {row["scan"]: Path(row["full_image_source"]) for row in csv.DictReader(f)
                if row["case"] == row["scan"]}


@pytest.fixture(scope="session")
def raw_cbis(tmp_path_factory):
    """Synthetic raw CBIS-DDSM (6 scans; the 2nd is 12-bit, the 3rd MONOCHROME1) prepared at
    ``RAW_PREPARED`` with patch set S10.

    Returns:
        dict: ``out`` (the prepared folder), ``manifest``, ``patches`` (patch manifest),
        ``test_manifest`` (all scans in the test split) and ``raw`` (study id -> raw DICOM).
    """
    from keras_mia.datasets import prepare
    from keras_mia.synth.raw import generate_raw

    root = tmp_path_factory.mktemp("raw_cbis")
    src = generate_raw("cbis-ddsm", root / "download", n=6, seed=0)
    report = prepare("cbis-ddsm", src, root / "prepared", image_size=RAW_PREPARED,
                     patches="s10", patch_size=RAW_PATCH, quiet=True)
    return {
        "out": report.out_dir,
        "manifest": report.manifest_path,
        "patches": report.extra_manifests["patches_s10"],
        "test_manifest": _all_test(report.manifest_path, root / "all_test"),
        "raw": _raw_sources(report.out_dir),
    }


@pytest.fixture(scope="session")
def real_cbis(tmp_path_factory):
    """The two real CBIS-DDSM sample films (8-bit PNG scans with burned-in labels) in TCIA's
    layout, prepared at ``RAW_PREPARED``; skipped when ``../shared`` is absent.

    The ROI masks are the samples' lesions (the grey 255 of their RGB mask PNGs).
    """
    from keras_mia.datasets import prepare
    from keras_mia.datasets.cbis_ddsm import read_case_descriptions
    from keras_mia.io import read_image
    from PIL import Image

    samples = SHARED / "cbis_ddsm_samples"
    if not (samples / "full").is_dir() or not (SHARED / "metadata").is_dir():
        pytest.skip("real CBIS-DDSM samples not available")
    root = tmp_path_factory.mktemp("real_cbis")
    src = root / "download"
    (src / "csv").mkdir(parents=True)
    for path in (SHARED / "metadata").glob("*case_description*.csv"):
        shutil.copy(path, src / "csv" / path.name)
    for abn in read_case_descriptions(sorted((src / "csv").glob("*.csv"))):
        full = samples / "full" / f"{abn.case}.png"
        if not full.is_file():
            continue
        roi = samples / "roi" / f"{abn.case}_{abn.abnormality_id}_mask.png"
        target = src / "CBIS-DDSM" / abn.image_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(full)
        lesion = np.isclose(read_image(roi), 255.0).astype(np.uint8) * 255
        mask = src / "CBIS-DDSM" / abn.mask_path
        mask.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(lesion).save(mask)
    report = prepare("cbis-ddsm", src, root / "prepared", image_size=RAW_PREPARED,
                     csv_dir=src / "csv", quiet=True)
    return {
        "out": report.out_dir,
        "manifest": report.manifest_path,
        "test_manifest": _all_test(report.manifest_path, root / "all_test"),
        "raw": {scan: samples / "full" / f"{scan}.png"
                for scan in _raw_sources(report.out_dir)},
    }


@pytest.fixture(scope="session")
def raw_whole_run(raw_cbis, tmp_path_factory):
    """mammo_whole_image on the prepared synthetic CBIS-DDSM (tiny classifier, random
    backbone), with the data's preparation record carried into the run as ``train`` does."""
    from keras_mia.preprocessing import carry_preparation

    root = tmp_path_factory.mktemp("raw_whole")
    overrides = [f"manifest={raw_cbis['manifest']}",
                 f"data.image_size=[{RAW_PREPARED[0]}, {RAW_PREPARED[1]}]",
                 "data.batch_size=4", "data.mean=33.0", "data.std=45.0",
                 "model.options.backbone=random",
                 "evaluation.bootstrap=20"]
    run = make_run(root, "mammo_whole_image", overrides,
                   classifier(RAW_PREPARED, 3, 2, "softmax"))
    carry_preparation(raw_cbis["manifest"], run)
    return run


@pytest.fixture(scope="session")
def raw_patch_run(raw_cbis, tmp_path_factory):
    """mammo_patch on the prepared synthetic S10 patches (tiny unpadded patch classifier)."""
    root = tmp_path_factory.mktemp("raw_patch")
    overrides = [f"manifest={raw_cbis['patches']}",
                 f"data.image_size=[{RAW_PATCH}, {RAW_PATCH}]", "data.batch_size=16",
                 "data.mean=33.0", "data.std=45.0", "model.options.weights=null",
                 "evaluation.bootstrap=20"]
    return make_run(root, "mammo_patch", overrides, patch_classifier(patch=RAW_PATCH))
