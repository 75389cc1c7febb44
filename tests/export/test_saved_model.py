"""Tests for keras_mia.export.saved_model: signatures, in-graph preprocessing, metadata."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_mia.evaluation.evaluate import evaluate_run
from keras_mia.export.saved_model import export_run
from keras_mia.io import read_image


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _serve_each(serve, paths, **kwargs):
    """serving_default on one raw image at a time (their sizes differ)."""
    return [serve(images=tf.constant(read_image(p)[None], tf.float32), **kwargs)
            for p in paths]


@pytest.fixture(scope="module")
def binary_export(binary_run, tmp_path_factory):
    metrics = evaluate_run(binary_run, verbose=False, write_plots=False)
    out = export_run(binary_run, tmp_path_factory.mktemp("binary_export") / "model")
    return metrics, out


def test_serving_default_reproduces_evaluate_probabilities(binary_run, binary_export):
    _, out = binary_export
    rows = _read_csv(binary_run / "eval" / "test" / "predictions.csv")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    classes = ["openI_CXR", "openI_abd_xray"]
    expected = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
    outputs = _serve_each(serve, [r["image_path"] for r in rows])
    got = np.concatenate([o["probabilities"].numpy() for o in outputs])
    assert got.shape == expected.shape == (len(rows), 2)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    labels = [o["predicted_label"].numpy()[0].decode() for o in outputs]
    assert labels == [r["predicted"] for r in rows]


def test_min_max_dicom_recipe_round_trip(mri_run, tmp_path):
    metrics = evaluate_run(mri_run, verbose=False, write_plots=False)
    out = export_run(mri_run, tmp_path / "model")
    rows = _read_csv(mri_run / "eval" / "test" / "predictions.csv")
    assert all(r["image_path"].endswith(".dcm") for r in rows)
    expected = np.array([[float(r["prob_negative"]), float(r["prob_positive"])] for r in rows])
    assert expected[:, 1].std() > 1e-3  # the probabilities differ between slices
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    # Same-size slices: one batch; min-max is still per image inside the graph.
    images = np.stack([read_image(r["image_path"]) for r in rows])
    got = serve(images=tf.constant(images))
    np.testing.assert_allclose(got["probabilities"].numpy(), expected, atol=1e-4, rtol=0)
    assert metrics["positive_class"] == "positive"
    assert [c.decode() for c in got["predicted_label"].numpy()] == [r["predicted"] for r in rows]


def test_serving_default_accepts_both_ranks_and_rejects_colour(binary_run, binary_export):
    _, out = binary_export
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (3, 40, 56)).astype("float32")
    without = serve(images=tf.constant(batch))["probabilities"].numpy()
    with_axis = serve(images=tf.constant(batch[..., None]))["probabilities"].numpy()
    np.testing.assert_array_equal(without, with_axis)
    assert without.shape == (3, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="single-channel"):
        serve(images=tf.constant(np.zeros((1, 40, 56, 3), "float32")))


def test_serving_png_matches_serving_default(binary_run, binary_export, tmp_path):
    from keras_mia.io import write_png

    _, out = binary_export
    loaded = tf.saved_model.load(str(out))
    rng = np.random.default_rng(1)
    eight = rng.integers(0, 256, (37, 45)).astype("float32")
    sixteen = rng.integers(0, 65536, (50, 30)).astype("float32")
    write_png(tmp_path / "a.png", eight)
    write_png(tmp_path / "b.png", sixteen, bit_depth=16)
    for name, image in (("a.png", eight), ("b.png", sixteen)):
        png = loaded.signatures["serving_png"](
            png_bytes=tf.constant([(tmp_path / name).read_bytes()]))
        raw = loaded.signatures["serving_default"](images=tf.constant(image[None]))
        np.testing.assert_allclose(png["probabilities"].numpy(), raw["probabilities"].numpy(),
                                   atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a PNG"):
        loaded.signatures["serving_png"](png_bytes=tf.constant([b"GIF89a not a png"]))


def test_metadata_signature_and_asset(binary_run, binary_export):
    metrics, out = binary_export
    loaded = tf.saved_model.load(str(out))
    assert set(loaded.signatures) == {"serving_default", "serving_png", "metadata"}
    served = loaded.signatures["metadata"]()
    metadata = json.loads(served["metadata_json"].numpy().decode())
    assert metadata == json.loads((out / "assets" / "metadata.json").read_text())
    assert metadata["recipe"] == "hello_world"
    assert metadata["class_names"] == ["openI_CXR", "openI_abd_xray"]
    assert [c.decode() for c in served["class_names"].numpy()] == metadata["class_names"]
    assert metadata["positive_class"] == "openI_abd_xray"
    assert metadata["threshold"] == pytest.approx(metrics["threshold"]["value"])
    assert float(served["threshold"].numpy()) == pytest.approx(0.5)
    assert metadata["preprocessing"]["image_size"] == [32, 32]
    assert metadata["model_input"] == [32, 32, 3]
    assert "original intensity units" in metadata["input"]["serving_default"]


def test_patch_model_export_has_heatmap_signature(patch_run, tmp_path):
    metrics = evaluate_run(patch_run, verbose=False, write_plots=False)
    out = export_run(patch_run, tmp_path / "model")
    loaded = tf.saved_model.load(str(out))
    assert "heatmap" in loaded.signatures
    rows = _read_csv(patch_run / "eval" / "test" / "predictions.csv")
    classes = metrics["classes"]
    expected = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
    # Every patch has the same size: one batch.
    images = np.stack([read_image(r["image_path"]) for r in rows])
    got = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(got["probabilities"].numpy(), expected, atol=1e-4, rtol=0)
    # No positive class for five classes: arg-max decides.
    assert [c.decode() for c in got["predicted_label"].numpy()] == [r["predicted"] for r in rows]


def test_segmentation_export_matches_evaluate(segmentation_run, tmp_path):
    evaluate_run(segmentation_run, verbose=False, write_plots=False)
    out = export_run(segmentation_run, tmp_path / "model")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    rows = _read_csv(segmentation_run / "eval" / "test" / "predictions.csv")
    for row, result in zip(rows, _serve_each(serve, [r["image_path"] for r in rows])):
        assert result["probabilities"].shape == (1, 48, 40)
        assert float(result["probabilities"].numpy().max()) == pytest.approx(
            float(row["max_probability"]), abs=1e-4)
        assert int(result["predicted_area"].numpy()[0]) == int(row["predicted_area"])
        assert int(result["predicted_positive"].numpy()[0]) == int(row["predicted_positive"])


def test_threshold_chosen_by_evaluate_is_exported(binary_run, tmp_path):
    run = tmp_path / "youden_run"
    run.mkdir()
    for name in ("config.yaml", "best.keras"):
        (run / name).write_bytes((binary_run / name).read_bytes())
    # Without evaluate results: the recipe's fixed threshold.
    first = export_run(run, tmp_path / "first")
    metadata = json.loads((first / "assets" / "metadata.json").read_text())
    assert (metadata["threshold"], metadata["threshold_rule"]) == (0.5, "fixed")

    metrics = evaluate_run(run, overrides=["evaluation.threshold_rule=youden"], verbose=False,
                           write_plots=False)
    assert metrics["overrides"] == ["evaluation.threshold_rule=youden"]
    chosen = metrics["threshold"]["value"]
    out = export_run(run, tmp_path / "model")
    metadata = json.loads((out / "assets" / "metadata.json").read_text())
    assert metadata["threshold"] == pytest.approx(chosen)
    assert metadata["threshold_rule"] == "youden"
    assert metadata["threshold_source"].endswith("metrics.json")

    # An explicit threshold wins, and the serving graph decides with it.
    strict = export_run(run, tmp_path / "strict", threshold=0.73)
    loaded = tf.saved_model.load(str(strict))
    assert float(loaded.signatures["metadata"]()["threshold"].numpy()) == pytest.approx(0.73)
    images = np.random.default_rng(2).uniform(0, 255, (16, 32, 32)).astype("float32")
    images *= np.linspace(0.2, 1.0, 16)[:, None, None]
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    positive = served["probabilities"].numpy()[:, 1]
    assert positive.min() < 0.73 < positive.max()
    np.testing.assert_array_equal(served["predicted_class"].numpy(), positive >= 0.73)
    with pytest.raises(ValueError, match="threshold"):
        export_run(run, tmp_path / "bad", threshold=1.5)


def test_missing_files_and_foreign_output_folder_are_named(binary_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        export_run(tmp_path / "nothing", tmp_path / "out")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="occupied"):
        export_run(binary_run, occupied)
    assert (occupied / "notes.txt").read_text() == "mine"


_JAX_SAVE = textwrap.dedent("""
    import sys
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    import numpy as np
    grey = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 1)).astype("float32")
    images = np.repeat(grey, 3, axis=-1)
    np.save(sys.argv[2], np.asarray(model.predict(images, verbose=0)))
    np.save(sys.argv[3], images)
    model.save(sys.argv[1])
""")


def test_model_saved_on_jax_exports_under_tensorflow(binary_run, tmp_path):
    pytest.importorskip("jax")
    run = tmp_path / "jax_run"
    run.mkdir()
    (run / "config.yaml").write_bytes((binary_run / "config.yaml").read_bytes())
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SAVE, str(run / "best.keras"), str(tmp_path / "jax.npy"),
         str(tmp_path / "images.npy")],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = export_run(run, tmp_path / "model")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    # Images already at the model's size and scale: hello_world preprocessing is x / 255.
    images = np.load(tmp_path / "images.npy")[..., 0] * 255.0
    got = serve(images=tf.constant(images))["probabilities"].numpy()[:, 1]
    expected = np.load(tmp_path / "jax.npy")[:, 0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
