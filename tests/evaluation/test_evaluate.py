"""Tests for keras_mia.evaluation.evaluate: a tiny run folder evaluated end to end."""

import csv
import json

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from keras_mia.data.manifest import write_manifest
from keras_mia.data.pipeline import preprocess_image
from keras_mia.evaluation.evaluate import evaluate_run, to_class_probabilities
from keras_mia.evaluation.thresholds import choose_threshold
from keras_mia.io import read_image, write_png
from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.config.typed import ConfigError

SIZES = [(40, 36), (48, 40), (32, 50)]


def _write_classification_data(folder, classes, n=30, seed=0):
    """PNGs whose brightness depends on the class; two images per patient, one label each."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = classes[(i // 2) % len(classes)]
        height, width = SIZES[i % 3]
        level = 40 + 160 * classes.index(label) / max(1, len(classes) - 1)
        image = np.clip(rng.normal(level, 60, (height, width)), 0, 255)
        write_png(folder / f"img{i:02d}.png", image)
        rows.append({"image_path": f"img{i:02d}.png", "label": label,
                     "patient_id": f"p{i // 2}", "split": ("train", "val", "test")[(i // 2) % 3]})
    return write_manifest(folder / "manifest.csv", rows)


def _make_run(tmp_path, recipe, overrides, model):
    run = tmp_path / "run"
    run.mkdir()
    dump_recipe(load_recipe(recipe, overrides), run / "config.yaml")
    model.save(run / "best.keras")
    lines = ["epoch,loss,stage,val_loss,accuracy,val_accuracy"]
    lines += [f"{e},{1 - e / 10},{e // 2},{1.1 - e / 12},{0.5 + e / 20},{0.5 + e / 25}"
              for e in range(4)]
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    return run


def _brightness_model(channels, units, activation, seed=0):
    """GAP -> Dense: the output grows with image brightness, so classes separate."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, channels))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Concatenate(name="concat")([x, keras.layers.GlobalAveragePooling2D()(inputs)])
    outputs = keras.layers.Dense(units, activation=activation, name="out")(x)
    model = keras.Model(inputs, outputs)
    weights = model.get_layer("out").get_weights()
    weights[0][-1] = np.linspace(6, -6, units) if units > 1 else 8.0
    weights[1][:] = -4.0 if units == 1 else 0.0
    model.get_layer("out").set_weights(weights)
    return model


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def binary_run(tmp_path):
    classes = ["openI_CXR", "openI_abd_xray"]
    manifest = _write_classification_data(tmp_path / "data", classes)
    overrides = [f"manifest={manifest}", "data.image_size=[32,32]", "data.batch_size=4",
                 "evaluation.bootstrap=200", "model.options.weights=null"]
    return _make_run(tmp_path, "hello_world", overrides, _brightness_model(3, 1, "sigmoid"))


def test_binary_predictions_follow_manifest_order_and_model(binary_run):
    metrics = evaluate_run(binary_run, verbose=False, write_plots=False)
    assert not (binary_run / "eval" / "test" / "roc.png").exists()
    config = load_recipe(binary_run / "config.yaml")
    model = keras.saving.load_model(binary_run / "best.keras")
    rows = _read_csv(binary_run / "eval" / "test" / "predictions.csv")
    assert len(rows) == metrics["n_images"] == 10
    images = np.stack([np.asarray(preprocess_image(read_image(r["image_path"]), config.data))
                       for r in rows])
    expected = to_class_probabilities(model.predict(images, verbose=0), 2, logits=False)
    got = np.array([[float(r["prob_openI_CXR"]), float(r["prob_openI_abd_xray"])] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    manifest_order = [r["image_path"] for r in _read_csv(config.manifest)
                      if r["split"] == "test"]
    assert [r["image_path"].rsplit("/", 1)[-1] for r in rows] == manifest_order


def test_binary_metrics_json_matches_predictions(binary_run):
    metrics = evaluate_run(binary_run, verbose=False)
    rows = _read_csv(binary_run / "eval" / "test" / "predictions.csv")
    truth = np.array([r["label"] == "openI_abd_xray" for r in rows], dtype=int)
    score = np.array([float(r["prob_openI_abd_xray"]) for r in rows])
    image = metrics["image_level"]
    predicted = score >= 0.5
    assert image["tp"] == int(np.sum(predicted & (truth == 1)))
    assert image["fp"] == int(np.sum(predicted & (truth == 0)))
    assert image["tn"] + image["fn"] == int(np.sum(~predicted))
    assert image["roc_auc"]["value"] == pytest.approx(roc_auc_score(truth, score))
    for name in ("accuracy", "roc_auc"):
        assert image[name]["ci_low"] <= image[name]["value"] <= image[name]["ci_high"]
    # Test patients p2, p5, p8, p11, p14 hold two images each: max over them.
    patient = metrics["patient_level"]
    assert patient["n"] == 5 and patient["aggregation"] == "max"
    ids = [r["patient_id"] for r in rows]
    max_scores = [max(s for s, p in zip(score, ids) if p == q) for q in dict.fromkeys(ids)]
    any_truth = [max(t for t, p in zip(truth, ids) if p == q) for q in dict.fromkeys(ids)]
    assert patient["roc_auc"]["value"] == pytest.approx(roc_auc_score(any_truth, max_scores))
    assert metrics["threshold"] == {"rule": "fixed", "value": 0.5}
    saved = json.loads((binary_run / "eval" / "test" / "metrics.json").read_text())
    assert saved == metrics
    for name in ("roc.png", "pr.png", "confusion_matrix.png", "examples.png"):
        assert (binary_run / "eval" / "test" / name).stat().st_size > 1000
    assert (binary_run / "plots" / "training_curves.png").is_file()


def test_youden_threshold_is_chosen_on_validation(binary_run):
    config = load_recipe(binary_run / "config.yaml", ["evaluation.threshold_rule=youden"])
    dump_recipe(config, binary_run / "config.yaml")
    metrics = evaluate_run(binary_run, split="test", verbose=False, write_plots=False)
    val = evaluate_run(binary_run, split="val", verbose=False, write_plots=False)
    rows = _read_csv(binary_run / "eval" / "val" / "predictions.csv")
    truth = [r["label"] == "openI_abd_xray" for r in rows]
    score = [float(r["prob_openI_abd_xray"]) for r in rows]
    expected = choose_threshold(truth, score, "youden")
    assert metrics["threshold"]["value"] == pytest.approx(expected)
    assert metrics["threshold"]["chosen_on"] == "val"
    assert val["threshold"]["value"] == pytest.approx(expected)
    assert metrics["image_level"]["threshold"] == pytest.approx(expected)


def test_multiclass_with_and_without_positive_class(tmp_path):
    classes = load_recipe("mammo_patch").data.classes
    manifest = _write_classification_data(tmp_path / "data", classes, n=45)
    overrides = [f"manifest={manifest}", "data.image_size=[32,32]", "data.batch_size=8",
                 "evaluation.bootstrap=100", "data.rescale=0.01", "data.mean=1.0"]
    run = _make_run(tmp_path, "mammo_patch", overrides, _brightness_model(3, 5, "softmax"))
    metrics = evaluate_run(run, verbose=False, write_plots=False)
    multi = metrics["multiclass"]
    # Test patients 2, 5, 8, 11, 14, 17, 20: two images each, every class present.
    assert np.sum(multi["confusion_matrix"]) == metrics["n_images"] == 14
    assert set(multi["per_class"]) == set(classes)
    assert metrics["patient_level"] is None and "positive_class" in metrics["patient_level_note"]
    rows = _read_csv(run / "eval" / "test" / "predictions.csv")
    probs = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert [r["predicted"] for r in rows] == [classes[k] for k in probs.argmax(axis=1)]

    config = load_recipe(run / "config.yaml", [f"evaluation.positive_class={classes[3]}"])
    dump_recipe(config, run / "config.yaml")
    metrics = evaluate_run(run, verbose=False)
    assert (run / "eval" / "test" / "roc.png").is_file()
    assert metrics["image_level"]["positives"] == sum(r["label"] == classes[3] for r in rows)
    assert metrics["patient_level"]["n"] == len({r["patient_id"] for r in rows})

    config = load_recipe(run / "config.yaml", ["evaluation.positive_class=nodule"])
    dump_recipe(config, run / "config.yaml")
    with pytest.raises(ConfigError, match="nodule"):
        evaluate_run(run, verbose=False)


def _write_segmentation_data(folder):
    """32x32 16-bit images with bright squares and their masks; some negatives, one tiny."""
    rows = []
    for i in range(12):
        image = np.full((32, 32), 1000.0)
        mask = np.zeros((32, 32))
        if i % 3 != 2:
            size = 1 if i == 4 else 4 + i % 5
            mask[5 : 5 + size, 8 : 8 + size] = 255
            image[mask > 0] = 60000
        write_png(folder / f"scan{i}.png", image, bit_depth=16)
        row = {"image_path": f"scan{i}.png", "label": "malignant" if mask.any() else "normal",
               "patient_id": f"p{i}", "split": ("train", "test")[i % 2]}
        if mask.any():
            write_png(folder / f"mask{i}.png", mask)
            row["mask_path"] = f"mask{i}.png"
        rows.append(row)
    return write_manifest(folder / "manifest.csv", rows)


def _lesion_detector_run(tmp_path, manifest, bootstrap: int):
    """A mammo_dense run whose model finds exactly the bright lesions of the data above."""
    overrides = [f"manifest={manifest}", "data.image_size=[32,32]", "data.augment.crop=null",
                 "data.batch_size=4", f"evaluation.bootstrap={bootstrap}"]
    inputs = keras.Input((None, None, 1))
    # Logits 20 * x: positive exactly where the normalised intensity is above 0 (lesions).
    outputs = keras.layers.Conv2D(1, 1, kernel_initializer=keras.initializers.Constant(20.0),
                                  name="logits")(inputs)
    return _make_run(tmp_path, "mammo_dense", overrides, keras.Model(inputs, outputs))


def test_segmentation_pixel_and_image_level(tmp_path):
    run = _lesion_detector_run(tmp_path, _write_segmentation_data(tmp_path / "data"), 50)
    metrics = evaluate_run(run, verbose=False)
    pixel = metrics["pixel_level"]
    assert pixel["fp"] == 0 and pixel["fn"] == 0
    assert pixel["iou"] == pytest.approx(1.0) and pixel["dice"] == pytest.approx(1.0)
    assert pixel["intervals"]["recall"] == pytest.approx(
        {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0})
    image = metrics["image_level"]
    # Test images 1, 3, 5, 7, 9, 11: 5 and 11 are negative; 1, 7 have lesions of 5 and 6
    # pixels a side; 3 and 9 of 7 and 8. All above 32*32/750 = 1.37 pixels: all found.
    assert (image["tp"], image["fn"], image["tn"], image["fp"]) == (4, 0, 2, 0)
    rows = _read_csv(run / "eval" / "test" / "predictions.csv")
    assert [int(r["predicted_area"]) for r in rows] == [25, 49, 0, 36, 64, 0]
    assert float(rows[0]["area_threshold"]) == pytest.approx(32 * 32 / 750)
    assert (run / "eval" / "test" / "overlays.png").stat().st_size > 1000

    # The one-pixel lesion (image 4, in train) is truly positive but below the area rule.
    train = evaluate_run(run, split="train", verbose=False, write_plots=False)
    assert train["image_level"]["fn"] == 1
    assert train["image_level"]["sensitivity"]["value"] == pytest.approx(3 / 4)


def test_missing_run_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        evaluate_run(tmp_path, verbose=False)
    manifest = _write_classification_data(tmp_path / "data", ["a", "b"], n=6)
    run = tmp_path / "run"
    dump_recipe(load_recipe("breast_mri", [f"manifest={manifest}", "data.classes=[a, b]"]),
                run / "config.yaml")
    with pytest.raises(FileNotFoundError, match="best.keras"):
        evaluate_run(run, verbose=False)


def test_patch_model_heatmaps_of_whole_images(tmp_path):
    from keras_mia.heatmaps import preprocess_whole_image, sliding_window_heatmap

    classes = load_recipe("mammo_patch").data.classes
    manifest = _write_classification_data(tmp_path / "data", classes, n=15)
    overrides = [f"manifest={manifest}", "data.image_size=[32,32]", "data.batch_size=8",
                 "evaluation.bootstrap=10", "data.rescale=0.01", "data.mean=1.0"]
    run = _make_run(tmp_path, "mammo_patch", overrides, _brightness_model(3, 5, "softmax"))
    whole = tmp_path / "whole.png"
    write_png(whole, np.random.default_rng(0).integers(0, 256, (72, 48)).astype(float))
    metrics = evaluate_run(run, verbose=False, write_plots=False, heatmap_images=[whole])
    folder = run / "eval" / "test" / "heatmaps"
    entry = metrics["heatmaps"]["images"][str(whole)]
    assert sorted(entry["figures"]) == sorted(str(folder / f"whole_{c}.png") for c in classes)
    assert all((folder / f"whole_{c}.png").stat().st_size > 5000 for c in classes)
    assert metrics["heatmaps"]["stride"] == 8 and metrics["heatmaps"]["window"] == [32, 32]
    # The figures show the patch classifier slid over the normalised whole image.
    model = keras.saving.load_model(run / "best.keras")
    config = load_recipe(run / "config.yaml")
    expected = sliding_window_heatmap(model, preprocess_whole_image(read_image(whole),
                                                                    config.data), stride=8)
    saved = np.load(entry["array"])
    assert saved["heatmap"].shape == ((72 - 32) // 8 + 1, (48 - 32) // 8 + 1, 5)
    np.testing.assert_allclose(saved["heatmap"], expected, atol=1e-6)
    assert list(saved["classes"]) == classes


def _write_label_truth_data(folder):
    """Test images whose labels and masks disagree as on mini-MIAS: two abnormal images
    without a mask (one with a lesion the model finds), one with a label outside the
    normal/abnormal vocabulary."""
    plan = [  # (label, lesion drawn, mask written)
        ("normal", False, False),
        ("malignant", True, True),
        ("benign", True, False),      # abnormal, no coordinates: lesion there, no mask
        ("malignant", False, False),  # abnormal, no coordinates, nothing the model finds
        ("cyst", True, True),         # a label that cannot say: truth from the mask
        ("normal", False, False),
    ]
    rows = []
    for i, (label, lesion, with_mask) in enumerate(plan):
        image = np.full((32, 32), 1000.0)
        mask = np.zeros((32, 32))
        if lesion:
            mask[6:12, 10:16] = 255
            image[mask > 0] = 60000
        write_png(folder / f"scan{i}.png", image, bit_depth=16)
        row = {"image_path": f"scan{i}.png", "label": label, "patient_id": f"p{i}",
               "split": "test"}
        if with_mask:
            write_png(folder / f"mask{i}.png", mask)
            row["mask_path"] = f"mask{i}.png"
        rows.append(row)
    return write_manifest(folder / "manifest.csv", rows)


def test_segmentation_truth_comes_from_labels_not_masks(tmp_path):
    run = _lesion_detector_run(tmp_path, _write_label_truth_data(tmp_path / "data"), 20)
    with pytest.warns(UserWarning, match=r"mask.any\(\): scan4.png$"):
        metrics = evaluate_run(run, verbose=False, write_plots=False)
    image = metrics["image_level"]
    # Positives: scan1, scan2 (no mask), scan3 (no mask), scan4 (by its mask). mask.any()
    # alone would give two.
    assert image["positives"] == 4
    assert (image["tp"], image["fn"], image["tn"], image["fp"]) == (3, 1, 2, 0)
    truth = image["truth"]
    assert truth["positives_without_mask_images"] == ["scan2.png", "scan3.png"]
    assert truth["from_mask_images"] == ["scan4.png"] and truth["from_label"] == 5
    pixel = metrics["pixel_level"]
    # scan2's found lesion has no outline: kept out of the pixel counts, not counted as FP.
    assert pixel["excluded_images"] == ["scan2.png", "scan3.png"] and pixel["n_images"] == 4
    assert (pixel["fp"], pixel["fn"], pixel["tp"]) == (0, 0, 72)
    rows = _read_csv(run / "eval" / "test" / "predictions.csv")
    assert [r["true_positive"] for r in rows] == ["0", "1", "1", "1", "1", "0"]
    assert [r["truth_from"] for r in rows] == ["label"] * 4 + ["mask", "label"]
    assert metrics["patient_level"]["positives"] == 4

    # Malignant only: the benign image with the lesion becomes a false positive.
    malignant = evaluate_run(run, verbose=False, write_plots=False,
                             overrides=["evaluation.image_positive=[malignant]"])
    image = malignant["image_level"]
    assert (image["tp"], image["fn"], image["tn"], image["fp"]) == (1, 1, 2, 2)
    assert malignant["image_level"]["truth"]["from_mask"] == 0
    with pytest.raises(ConfigError, match="Malignant"):
        evaluate_run(run, verbose=False, write_plots=False,
                     overrides=["evaluation.image_positive=[Malignant]"])


def test_a_manifest_at_another_pixel_size_is_warned_about_by_name(tmp_path, capsys):
    from keras_mia.preprocessing import MammogramPreparation, write_preparation

    manifest = _write_segmentation_data(tmp_path / "data")
    run = _lesion_detector_run(tmp_path, manifest, 10)
    # The run learned CBIS-DDSM scans at the seed's 0.66 (about 70 micron pixels) ...
    write_preparation(run, MammogramPreparation(image_size=None, scale=0.66, dataset="cbis_ddsm"))
    write_preparation(manifest.parent, MammogramPreparation(
        image_size=None, scale=0.66, dataset="cbis_ddsm"))
    assert evaluate_run(run, verbose=False, write_plots=False)["warnings"] == []
    # ... and is scored on mini-MIAS films at their native 200 microns.
    write_preparation(manifest.parent, MammogramPreparation(
        image_size=None, scale=1.0, dataset="mias"))
    metrics = evaluate_run(run, verbose=False, write_plots=False)
    assert len(metrics["warnings"]) == 1
    message = metrics["warnings"][0]
    assert str(manifest) in message and "cbis_ddsm images of about 70 micron" in message
    assert "mias images of about 200 micron" in message and "2.9x smaller" in message
    assert f"keras_mia: warning: {message}" in capsys.readouterr().err
