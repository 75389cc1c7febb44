"""The whole-image classifier stands on a trained patch run (keras_mia.training.backbone).

Checked before TensorFlow starts: a missing or wrong ``patch_model`` is one line, exit 2.
Then with a tiny trained ``mammo_patch`` run (32 px patches, one epoch, random start): the
whole-image run's body is that run's, and its config holds that run's scaling and mean.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.training.backbone import backbone_record, describe_backbone, resolve_backbone
from keras_mia.config.typed import ConfigError

PATCH_MEAN = 87.25


def _fake_patch_run(root: Path, overrides=(), recipe="mammo_patch", best=True) -> Path:
    """A run folder with a resolved config.yaml (what resolve_backbone reads) and best.keras."""
    root.mkdir(parents=True)
    config = load_recipe(recipe, [f"data.mean={PATCH_MEAN}", "data.std=2.0", *overrides])
    dump_recipe(config, root / "config.yaml")
    if best:
        (root / "best.keras").write_bytes(b"")  # never loaded by resolve_backbone
    return root


def _whole(*overrides):
    return load_recipe("mammo_whole_image", list(overrides))


def test_without_patch_model_names_the_option_and_the_patch_recipe():
    with pytest.raises(ConfigError) as err:
        resolve_backbone(_whole())
    message = str(err.value)
    assert message.startswith("model.options.patch_model: required")
    assert "keras-mia train mammo_patch" in message and "backbone=imagenet" in message
    assert "\n" not in message


def test_train_without_patch_model_is_one_line_before_tensorflow(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "keras_mia.cli", "train", "mammo_whole_image",
               "--manifest", str(tmp_path / "manifest.csv"), "--out", str(out)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("keras-mia train: error: model.options.patch_model: required")
    assert seconds < 10, seconds
    assert not out.exists()
    # The same error path does not import TensorFlow at all.
    probe = ("import sys; from keras_mia.cli import main; "
             f"rc = main(['train', 'mammo_whole_image', '--out', {str(out)!r}]); "
             "sys.exit(10 if 'tensorflow' in sys.modules else rc)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 2


@pytest.mark.parametrize("given", ["folder", "best.keras"])
def test_patch_run_scaling_is_inherited_and_recorded(tmp_path, given):
    run = _fake_patch_run(tmp_path / "patch", ["variant=s"])
    target = run if given == "folder" else run / "best.keras"
    config = _whole(f"model.options.patch_model={target}", "data.minmax=null")
    assert config.training.compute_mean
    resolved = resolve_backbone(config)
    assert resolved.data.mean == PATCH_MEAN and resolved.data.std == 2.0
    assert resolved.data.rescale == pytest.approx(255 / 65535)
    assert not resolved.training.compute_mean  # no mean over whole images
    assert resolved.model.options["patch_model"] == str(run.resolve() / "best.keras")
    record = resolved.model.patch_run
    assert (record.run, record.recipe, record.variant) == (str(run.resolve()), "mammo_patch", "s")
    assert (record.mean, record.std, record.channels) == (PATCH_MEAN, 2.0, 3)
    # Resolving a resolved config (a resumed run, `--config config.yaml`) changes nothing,
    # and the record survives config.yaml.
    assert resolve_backbone(resolved) == resolved
    assert load_recipe(dump_recipe(resolved, tmp_path / "config.yaml")) == resolved
    assert backbone_record(resolved)["source"] == "patch"
    assert backbone_record(resolved)["mean"] == PATCH_MEAN
    assert "mean=87.2500" in describe_backbone(resolved)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "not found"),
        (lambda tmp: _fake_patch_run(tmp / "p", best=False), "no best.keras"),
        (lambda tmp: _fake_patch_run(tmp / "p", ["data.channels=1"]), "1-channel inputs"),
        (lambda tmp: _fake_patch_run(tmp / "p", recipe="hello_world"),
         "is a 'hello_world' run .*not a mammo_patch run"),
    ],
    ids=["missing", "unfinished", "channels", "other-recipe"],
)
def test_wrong_patch_models_are_one_line_errors(tmp_path, make, message):
    target = make(tmp_path)
    with pytest.raises(ConfigError, match=f"model.options.patch_model: .*{message}") as err:
        resolve_backbone(_whole(f"model.options.patch_model={target}"))
    assert "\n" not in str(err.value) and "Received:" in str(err.value)


def test_a_bare_keras_file_without_its_run_folder_is_refused(tmp_path):
    bare = tmp_path / "patch.keras"
    bare.write_bytes(b"")
    with pytest.raises(ConfigError, match="no config.yaml .*input scaling and training mean"):
        resolve_backbone(_whole(f"model.options.patch_model={bare}"))


def test_other_backbones_only_when_asked_and_said_so():
    for backbone in ("imagenet", "random"):
        resolved = resolve_backbone(_whole(f"model.options.backbone={backbone}"))
        assert resolved.model.patch_run is None and resolved.training.compute_mean
        assert backbone_record(resolved) == {"source": backbone}
        assert "NOT a trained patch classifier" in describe_backbone(resolved)
    with pytest.raises(ConfigError, match="backbone: expected one of patch, imagenet, random"):
        resolve_backbone(_whole("model.options.backbone=scratch"))
    with pytest.raises(ConfigError, match="drop one of the two"):
        resolve_backbone(_whole("model.options.backbone=random",
                                "model.options.patch_model=runs/patch"))
    with pytest.raises(ConfigError, match="weights: backbone=random sets the weights"):
        resolve_backbone(_whole("model.options.backbone=random",
                                "model.options.weights=imagenet"))
    hello = load_recipe("hello_world")
    assert resolve_backbone(hello) is hello and backbone_record(hello) is None


# A real, tiny chain: a mammo_patch run, then mammo_whole_image on it.

@pytest.fixture(scope="module")
def patch_run(tmp_path_factory):
    from keras_mia.synth import generate
    from keras_mia.training.engine import train

    root = tmp_path_factory.mktemp("patch_chain")
    manifest = generate("mammo_patch", root / "data", n=24, seed=0, image_size=32)
    config = load_recipe("mammo_patch", [
        f"manifest={manifest}", "data.image_size=[32, 32]", "data.batch_size=16",
        "model.options.weights=null", "training.epochs=1", "training.steps_per_epoch=1",
        # The first stage trains everything, so the stem's kernels are trained ones.
        "training.stages.0.trainable=all",
    ])
    train(config, root / "run", verbose=0)
    return root / "run"


def test_whole_image_run_stands_on_the_trained_patch_run(patch_run, tmp_path):
    from keras_mia.export.saved_model import _metadata
    from keras_mia.synth import generate
    from keras_mia.training.engine import prepare_manifest, train, training_mean
    from keras_mia.training.run_dir import RunDir

    patch_config = load_recipe(patch_run / "config.yaml")
    assert patch_config.data.mean > 0  # computed over the patches
    manifest = generate("mammo", tmp_path / "mammo", n=30, seed=2, image_size=(64, 48))
    config = load_recipe("mammo_whole_image", [
        f"manifest={manifest}", "data.image_size=[64, 48]", "data.batch_size=4",
        f"model.options.patch_model={patch_run}", "training.epochs=1",
        "training.steps_per_epoch=1",
    ])
    run = tmp_path / "run"
    train(config, run, verbose=0)

    saved = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("rescale", "mean", "std", "minmax"):
        assert saved["data"][key] == getattr(patch_config.data, key), key
    assert saved["training"]["compute_mean"] is False
    assert saved["model"]["patch_run"]["run"] == str(patch_run.resolve())
    assert saved["model"]["patch_run"]["mean"] == patch_config.data.mean
    assert saved["model"]["patch_run"]["variant"] == "s10"
    # Not a new mean: the whole images' own mean is another number.
    whole_mean = training_mean(prepare_manifest(config), config)
    assert abs(whole_mean - patch_config.data.mean) > 1.0
    assert "backbone: the trained patch classifier of" in (run / "log.txt").read_text()

    patch = keras.saving.load_model(patch_run / "best.keras", compile=False)
    whole = keras.saving.load_model(run / "best.keras", compile=False)
    kernel = keras.ops.convert_to_numpy(whole.get_layer("conv1_conv").kernel)
    # The patch run trained its stem (stage 0 = all), so equal kernels mean copied ones.
    np.testing.assert_array_equal(
        kernel, keras.ops.convert_to_numpy(patch.get_layer("conv1_conv").kernel))

    resolved = load_recipe(run / "config.yaml")
    metadata = _metadata(resolved, RunDir(run), ["benign", "malignant"], 1,
                         (0.5, "fixed", "test"), whole)
    assert metadata["backbone"]["source"] == "patch"
    assert metadata["backbone"]["mean"] == patch_config.data.mean
    assert metadata["preprocessing"]["mean"] == patch_config.data.mean


def _prepared_folder(folder: Path, record, height: int) -> Path:
    """A whole-image manifest (one black image of ``height`` rows) with its record."""
    from PIL import Image

    from keras_mia.data.manifest import write_manifest
    from keras_mia.preprocessing import write_preparation

    (folder / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((height, height), np.uint8)).save(folder / "images" / "a.png")
    write_preparation(folder, record)
    return write_manifest(folder / "manifest.csv", [
        {"image_path": "images/a.png", "label": "malignant", "patient_id": "p", "split": "train"}])


@pytest.mark.parametrize("whole_record, image_size, expected", [
    ({"scale": 1.0, "image_size": None}, [256, 256], None),
    ({"scale": 1.0, "image_size": None}, [1024, 1024], "4.00x the size it learned"),
    ({"scale": 0.66, "image_size": None}, [256, 256], "another pixel scale"),
])
def test_a_whole_image_run_at_another_pixel_scale_is_warned_by_name(
        tmp_path, whole_record, image_size, expected):
    import warnings

    from keras_mia.preprocessing import MammogramPreparation, write_preparation
    from keras_mia.training.backbone import BackboneScaleWarning

    # mias_dev: 224 px patches of native 1024-row images, shrunk to 56 (a factor 1/4).
    run = _fake_patch_run(tmp_path / "patch", ["variant=mias_dev"])
    write_preparation(run, MammogramPreparation(
        image_size=None, scale=1.0, dataset="mias", patch_set="s", patch_size=224))
    manifest = _prepared_folder(
        tmp_path / "whole", MammogramPreparation(dataset="mias", **whole_record), 1024)
    config = _whole(f"model.options.patch_model={run}", f"manifest={manifest}",
                    f"data.image_size={image_size}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolve_backbone(config)
    messages = [str(w.message) for w in caught if w.category is BackboneScaleWarning]
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1 and expected in messages[0] and str(run.resolve()) in messages[0]
