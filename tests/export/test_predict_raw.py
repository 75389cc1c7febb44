"""A raw mammogram, as a hospital stores it, gets the answer of the prepared one.

Raw synthetic CBIS-DDSM DICOMs (16-bit, 12-bit and MONOCHROME1) and the real sample films go
through ``prepare cbis-ddsm`` -> ``evaluate`` on one side and straight into ``predict`` (and
``keras_mia.inference``) on the other; the answers must agree.
"""

import csv
import json

import keras
import numpy as np
import pydicom
import pytest
import tensorflow as tf
from PIL import Image

from keras_mia import cli
from keras_mia.data.pipeline import preprocess_image
from keras_mia.evaluation.evaluate import evaluate_run, load_run_model
from keras_mia.export.predict import predict_files
from keras_mia.export.saved_model import export_run
from keras_mia.inference import load
from keras_mia.io import read_image, write_dicom
from keras_mia.recipes import load_recipe
from keras_mia.training.engine import train

PREPARED = (96, 64)
PATCH_CLASSES = ["0_background", "1_malignant_calcification", "2_benign_calcification",
                 "3_malignant_mass", "4_benign_mass"]


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _prepared_png(data, scan):
    return np.asarray(Image.open(data["out"] / "images" / f"{scan}.png"))


def _probabilities(model, config, path):
    """The Keras model on the evaluate pipeline's preprocessing of a prepared file."""
    image = preprocess_image(read_image(path), config.data)
    return keras.ops.convert_to_numpy(model(image[None], training=False))[0]


@pytest.fixture(scope="module")
def whole_export(raw_whole_run, tmp_path_factory):
    return export_run(raw_whole_run, tmp_path_factory.mktemp("whole_export") / "model")


@pytest.fixture(scope="module")
def dense(raw_cbis, tmp_path_factory):
    """mammo_dense trained one step by ``train`` on the prepared synthetic set, then
    exported at a threshold that splits its probabilities (the median on one image), so
    that its masks are neither empty nor full."""
    root = tmp_path_factory.mktemp("raw_dense")
    overrides = [f"manifest={raw_cbis['manifest']}",
                 f"data.image_size=[{PREPARED[0]}, {PREPARED[1]}]", "data.batch_size=2",
                 "training.epochs=1", "training.steps_per_epoch=1",
                 "data.augment.crop=[32, 32]", "evaluation.bootstrap=20"]
    overrides += [f"training.stages.{i}.crop=[32, 32]" for i in range(4)]
    run = root / "run"
    train(load_recipe("mammo_dense", overrides), run, verbose=0)
    config = load_recipe(run / "config.yaml")
    model = load_run_model(run / "best.keras")
    first = next(iter(sorted((raw_cbis["out"] / "images").glob("*.png"))))
    logits = _probabilities(model, config, first)[..., 0]
    threshold = float(np.median(keras.ops.convert_to_numpy(keras.ops.sigmoid(logits))))
    out = export_run(run, root / "model", threshold=threshold)
    return {"run": run, "model": out, "threshold": threshold, "keras": model, "config": config}


def test_train_carries_the_preparation_record_into_run_and_export(raw_cbis, dense):
    record = json.loads((dense["run"] / "preparation.json").read_text())
    assert record == json.loads((raw_cbis["out"] / "preparation.json").read_text())
    assert record["image_size"] == list(PREPARED) and record["segment"] is True
    metadata = json.loads((dense["model"] / "assets" / "metadata.json").read_text())
    preparation = metadata["preparation"]
    assert preparation["record"] == record
    assert preparation["record_source"] == str(dense["run"] / "preparation.json")
    assert preparation["applied_in_graph"] is False
    assert preparation["applied_by_predict"] is True
    assert preparation["serving_default_input"] == "prepared_mammogram"
    assert "keras_mia.inference" in metadata["input"]["serving_default"]
    assert "96x64" in metadata["input"]["serving_default"]
    # The metadata signature serves the same JSON.
    loaded = tf.saved_model.load(str(dense["model"]))
    served = json.loads(loaded.signatures["metadata"]()["metadata_json"].numpy())
    assert served["preparation"] == preparation


def test_prepare_and_inference_prepare_a_raw_file_alike(raw_cbis, whole_export):
    """prepare's PNG and the deployed path's preparation of the same raw file are
    pixel-identical: one function, so they cannot drift apart."""
    model = load(whole_export, warn=False)
    encodings = set()
    for scan, raw in sorted(raw_cbis["raw"].items()):
        ds = pydicom.dcmread(raw, stop_before_pixels=True)
        encodings.add((int(ds.BitsStored), str(ds.PhotometricInterpretation)))
        served = model.read(raw).image
        np.testing.assert_array_equal(served, _prepared_png(raw_cbis, scan), err_msg=scan)
    assert {(12, "MONOCHROME2"), (16, "MONOCHROME1"), (16, "MONOCHROME2")} <= encodings


@pytest.mark.shared_data
def test_real_films_are_prepared_alike(real_cbis, whole_export):
    model = load(whole_export, warn=False)
    for scan, raw in real_cbis["raw"].items():
        prepared = model.read(raw)
        np.testing.assert_array_equal(prepared.image, _prepared_png(real_cbis, scan))
        # The burned-in label and the film edge are gone; the breast is kept.
        assert 0.15 < prepared.prepared.breast.mean() < 0.9


def _check_classifier(run, export, data, tmp_path):
    evaluate_run(run, data["test_manifest"], verbose=False, write_plots=False)
    evaluated = {row["image_path"]: row for row in _rows(run / "eval/test/predictions.csv")}
    table = tmp_path / "predicted.csv"
    raw = sorted(data["raw"].items())
    rows, failures = predict_files(export, [path for _, path in raw], table, verbose=False)
    assert failures == []
    predicted = {row["path"]: row for row in _rows(table)}
    spread = []
    for scan, path in raw:
        expected = evaluated[str(data["out"] / "images" / f"{scan}.png")]
        got = predicted[str(path)]
        for name in ("prob_benign", "prob_malignant"):
            assert float(got[name]) == pytest.approx(float(expected[name]), abs=1e-4), scan
        assert got["predicted_class"] == expected["predicted"]
        spread.append(float(got["prob_malignant"]))
    return spread


def test_predict_on_raw_dicoms_gives_the_probability_of_prepare_then_evaluate(
        raw_cbis, raw_whole_run, whole_export, tmp_path):
    spread = _check_classifier(raw_whole_run, whole_export, raw_cbis, tmp_path)
    assert np.std(spread) > 1e-3  # the scans get different answers
    # Fed as read, without the preparation, the raw files get other answers.
    model = load(whole_export, warn=False)
    unprepared = [model.predict_file(path, prepared=True).probabilities[1]
                  for _, path in sorted(raw_cbis["raw"].items())]
    assert np.abs(np.array(unprepared) - np.array(spread)).min() > 1e-3


@pytest.mark.shared_data
def test_predict_on_real_films_gives_the_probability_of_prepare_then_evaluate(
        real_cbis, raw_whole_run, whole_export, tmp_path):
    _check_classifier(raw_whole_run, whole_export, real_cbis, tmp_path)


def _check_dense(dense, data, tmp_path):
    run = dense["run"]
    evaluate_run(run, data["test_manifest"], verbose=False, write_plots=False,
                 overrides=[f"evaluation.threshold={dense['threshold']!r}"])
    evaluated = {row["image_path"]: row for row in _rows(run / "eval/test/predictions.csv")}
    model = load(dense["model"], warn=False)
    fractions = []
    for scan, raw in sorted(data["raw"].items()):
        png = data["out"] / "images" / f"{scan}.png"
        expected_row = evaluated[str(png)]
        prediction = model.predict_file(raw)
        mask = prediction.outputs["predicted_mask"].astype(bool)
        logits = _probabilities(dense["keras"], dense["config"], png)[..., 0]
        expected = keras.ops.convert_to_numpy(keras.ops.sigmoid(logits)) >= dense["threshold"]
        assert mask.shape == expected.shape == PREPARED
        assert np.mean(mask == expected) >= 0.999, scan
        area = int(prediction.outputs["predicted_area"])
        assert abs(area - int(expected_row["predicted_area"])) <= 0.001 * mask.size, scan
        assert float(prediction.outputs["probabilities"].max()) == pytest.approx(
            float(expected_row["max_probability"]), abs=1e-4)
        fractions.append(mask.mean())
    return fractions


def test_dense_masks_of_raw_dicoms_match_prepare_then_evaluate(raw_cbis, dense, tmp_path):
    fractions = _check_dense(dense, raw_cbis, tmp_path)
    assert max(fractions) > 0.05 and min(fractions) < 0.95  # neither empty nor full


@pytest.mark.shared_data
def test_dense_masks_of_real_films_match_prepare_then_evaluate(real_cbis, dense, tmp_path):
    _check_dense(dense, real_cbis, tmp_path)


def test_patch_heatmap_of_a_raw_file_is_that_of_the_prepared_image(
        raw_cbis, raw_patch_run, tmp_path):
    # The patch run has no record of its own: export finds the one beside its manifest.
    export = export_run(raw_patch_run, tmp_path / "model")
    metadata = json.loads((export / "assets" / "metadata.json").read_text())
    assert metadata["preparation"]["record"]["patch_set"] == "s10"
    assert metadata["preparation"]["heatmap_input"] == "prepared_mammogram"
    assert metadata["preparation"]["serving_default_input"] == "prepared_patch"
    scan, raw = sorted(raw_cbis["raw"].items())[1]
    rows, failures = predict_files(export, [raw], heatmap_dir=tmp_path / "maps",
                                   heatmap_stride=8, verbose=False)
    assert failures == [] and len(rows[0]["heatmaps"]) == len(PATCH_CLASSES)
    model = load(export, warn=False)
    model_input = model.read(raw, heatmap=True)
    np.testing.assert_array_equal(model_input.whole, _prepared_png(raw_cbis, scan))
    served = tf.saved_model.load(str(export)).signatures["heatmap"](
        image=tf.constant(_prepared_png(raw_cbis, scan)[:, :, None], tf.float32),
        stride=tf.constant(8))["heatmap"].numpy()
    np.testing.assert_allclose(model.heatmap(model_input, stride=8), served, atol=1e-6)
    # A whole mammogram given to serving_default is one patch: said so, by name.
    assert "scored as one 16x16 patch" in rows[0]["warnings"]


def test_a_heatmap_slides_at_the_scale_the_patches_were_seen(raw_cbis, tmp_path, capsys):
    from tests.export.conftest import make_run, patch_classifier

    # 16 px patches seen at 32 x 32: the window must cover 16 prepared pixels, so the
    # image is doubled before it slides.
    overrides = [f"manifest={raw_cbis['patches']}", "data.image_size=[32, 32]",
                 "data.batch_size=16", "data.mean=33.0", "data.std=45.0",
                 "model.options.weights=null"]
    run = make_run(tmp_path, "mammo_patch", overrides, patch_classifier(patch=32))
    export = export_run(run, tmp_path / "model")
    metadata = json.loads((export / "assets" / "metadata.json").read_text())
    assert "resize it by 32/16" in json.dumps(metadata)
    scan, raw = sorted(raw_cbis["raw"].items())[1]
    model = load(export, warn=False)
    model_input = model.read(raw, heatmap=True)
    assert model_input.whole.shape == (PREPARED[0] * 2, PREPARED[1] * 2)
    # How heatmaps rescale is the model's, said once, not a warning on every file.
    assert model.heatmap_scale == 2.0 and "resized by 2 before" in model.heatmap_note
    assert not any("resized by" in note for note in model_input.warnings)
    doubled = np.asarray(Image.fromarray(_prepared_png(raw_cbis, scan).astype(np.float32), "F")
                         .resize((PREPARED[1] * 2, PREPARED[0] * 2), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(model_input.whole, doubled, rtol=1e-5)
    assert model.heatmap(model_input, stride=8).shape[:2] == (
        (PREPARED[0] * 2 - 32) // 8 + 1, (PREPARED[1] * 2 - 32) // 8 + 1)
    capsys.readouterr()
    raws = [path for _, path in sorted(raw_cbis["raw"].items())[:2]]
    rows, _ = predict_files(export, raws, heatmap_dir=tmp_path / "maps", heatmap_stride=8)
    assert capsys.readouterr().err.count("note: heatmap: the patches were cut at 16x16") == 1
    assert not any("resized by" in row["warnings"] for row in rows)


def test_a_photograph_a_thumbnail_and_a_ct_file_are_warned_about_by_name(
        raw_cbis, whole_export, tmp_path, capsys):
    rng = np.random.default_rng(0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    photo = np.stack([rng.integers(0, 256, (300, 200)), rng.integers(0, 120, (300, 200)),
                      rng.integers(100, 256, (300, 200))], axis=-1).astype(np.uint8)
    Image.fromarray(photo).save(inputs / "holiday.jpg", quality=90)
    raw = sorted(raw_cbis["raw"].values())[0]
    film = read_image(raw)
    Image.fromarray((film[::8, ::8] / 257).astype(np.uint8)).save(inputs / "thumb.png")
    write_dicom(inputs / "chest_ct.dcm", (film * 0.01).astype(np.uint16), modality="CT")
    table = tmp_path / "predicted.csv"
    assert cli.main(["predict", str(whole_export), str(inputs), str(raw),
                     "--out", str(table)]) == 0
    err = capsys.readouterr().err
    warned = {row["path"]: row["warnings"] for row in _rows(table)}
    expectations = {
        inputs / "holiday.jpg": "colour image",
        inputs / "thumb.png": "50x32 pixels is smaller than the 96x64 prepared mammograms",
        inputs / "chest_ct.dcm": "DICOM Modality is 'CT', not 'MG'",
    }
    for path, reason in expectations.items():
        assert reason in warned[str(path)], warned[str(path)]
        assert f"keras-mia predict: warning: {path}: {reason}" in err
    assert warned[str(raw)] == ""  # the real thing is not warned about


def test_hello_world_export_keeps_its_input_contract(binary_run, tmp_path):
    out = export_run(binary_run, tmp_path / "model")
    metadata = json.loads((out / "assets" / "metadata.json").read_text())
    assert metadata["input"]["serving_default"].startswith(
        "float32 [batch, height, width] or [batch, height, width, 1]: raw single-channel "
        "images in original intensity units")
    assert metadata["preparation"]["mammography"] is False
    assert metadata["preparation"]["record"] is None
    model = load(out)
    assert model.model_warnings == []
    rgb = np.zeros((40, 40, 3), np.float32)
    rgb[..., 0] = 200.0
    assert model.prepare_image(rgb).warnings == []  # no mammography checks
