"""``keras-mia evaluate``: a run folder's best model on one split -> predictions, metrics, plots.

Writes, for ``split`` (default ``test``):

- ``RUN/eval/<split>/predictions.csv``: one row per image, in manifest order.
- ``RUN/eval/<split>/metrics.json``: image- and patient-level metrics with seeded bootstrap
  95 % confidence intervals (seed: the recipe's ``seed``), the operating threshold and how it
  was chosen; multiclass and segmentation sections where they apply.
- ``RUN/eval/<split>/*.png``: ROC, precision-recall, confusion matrix and example predictions
  (classification), or mask/prediction/heatmap overlays (segmentation).
- ``RUN/eval/<split>/heatmaps/`` (patch classifiers, for the whole images given as
  ``heatmap_images``): the sliding-window class maps as ``<stem>.npz`` and one PNG per class.
- ``RUN/plots/training_curves.png`` from ``history.csv``.

``metrics.json`` and the summary say which epoch ``best.keras`` holds (its record, e.g.
``best.keras: epoch 4, val_auc 0.9310``). The CSV and JSON files are written to a temporary
name and renamed, so a kill leaves the previous file or the new one.

Images go through exactly the validation/test pipeline of training
(``keras_mia.data.pipeline.build_dataset(..., training=False)``), which yields them in
manifest order, so row ``i`` of ``predictions.csv`` is the ``i``-th row of the split.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from keras_mia.evaluation import plots
from keras_mia.evaluation.patients import aggregate_by_patient
from keras_mia.evaluation.reports import binary_report, multiclass_report
from keras_mia.evaluation.segmentation import (
    area_threshold,
    image_truth,
    pixel_counts,
    pixel_intervals,
    pixel_metrics,
)
from keras_mia.evaluation.thresholds import choose_threshold
from keras_mia.config.recipe import positive_class_index
from keras_mia.utils.atomic import atomic_path, write_text_atomic

__all__ = ["evaluate_run", "load_run_model", "to_class_probabilities", "outputs_are_logits"]

_CONFIDENCE = 0.95


def evaluate_run(
    run_dir: str | Path,
    manifest: str | Path | None = None,
    split: str = "test",
    *,
    batch_size: int | None = None,
    examples: int = 16,
    write_plots: bool = True,
    heatmap_images: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    verbose: bool = True,
) -> dict[str, Any]:
    """Evaluates a training run's ``best.keras`` on one split of a manifest.

    Args:
        run_dir: the run folder written by ``keras-mia train``.
        manifest: the manifest CSV; ``None`` uses the one recorded in ``config.yaml``.
            The recipe's ``label_map`` is applied to it, as in training.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size: inference batch size; ``None`` keeps the recipe's.
        examples: how many images the example grid / overlay figure shows.
        write_plots: write the PNG figures (``False``: only the CSV and JSON files).
        heatmap_images: patch classifiers only: whole images (files in original units) to
            draw sliding-window class heatmaps of, into ``eval/<split>/heatmaps/``.
        overrides: ``key=value`` changes to the run's configuration for this evaluation
            only (``--set`` syntax), e.g. ``["evaluation.threshold_rule=youden"]``; they
            are recorded in ``metrics.json``.
        verbose: print a summary.

    Returns:
        The content of ``metrics.json``.

    Raises:
        FileNotFoundError: the run folder has no ``config.yaml`` or ``best.keras``.
        keras_mia.config.typed.ConfigError: no manifest, an unknown positive class,
            or a threshold rule that cannot be applied.
        ValueError: the split has no rows, a label is not one of the classes.
    """
    from keras_mia.data.pipeline import resolve_classes
    from keras_mia.recipes import load_recipe
    from keras_mia.training.engine import prepare_manifest
    from keras_mia.training.run_dir import RunDir

    run = RunDir(Path(run_dir))
    if not run.config.is_file():
        raise FileNotFoundError(
            f"{run.config}: not found; is {run.root} a run folder written by `keras-mia train`?"
        )
    config = load_recipe(run.config, list(overrides))
    loaded = prepare_manifest(config, manifest)
    rows = loaded.select(split)
    if not rows:
        raise ValueError(f"Manifest {loaded.path} has no rows for split={split!r}")
    data = dataclasses.replace(
        config.data,
        cache=False,
        balance=False,
        shuffle=False,
        batch_size=batch_size or config.data.batch_size,
    )
    scale_warning = _pixel_size_warning(run.root, loaded.path)
    model = load_run_model(run.best_model)
    record = best_model_record(run.best_model)
    out_dir = run.eval / split
    out_dir.mkdir(parents=True, exist_ok=True)

    metrics: dict[str, Any] = {
        "recipe": config.name,
        "run_dir": str(run.root),
        "model": str(run.best_model),
        # Which epoch (and monitor value) the evaluated best.keras holds.
        "model_record": record,
        "manifest": str(loaded.path),
        "split": split,
        "task": data.task,
        "n_images": len(rows),
        "overrides": list(overrides),
        # E.g. a CBIS-DDSM model (0.66 scale) scored on 200 micron MIAS films.
        "warnings": [scale_warning] if scale_warning else [],
    }
    if data.task == "segmentation":
        # Four panels per image: more than six rows stop reading at a glance.
        metrics.update(_evaluate_segmentation(model, loaded, rows, data, config, split, out_dir,
                                              min(examples, 6) if write_plots else 0))
    else:
        classes = resolve_classes(loaded, data)
        metrics.update(_evaluate_classification(model, loaded, rows, data, config, classes, split,
                                                out_dir, examples if write_plots else 0))
        if heatmap_images:
            metrics["heatmaps"] = _heatmaps(model, data, classes, heatmap_images, out_dir)

    if write_plots and run.history.is_file():
        curves = plots.plot_training_curves(
            run.history, run.plots / "training_curves.png", title=f"{config.name}: training"
        )
        metrics["training_curves"] = str(curves) if curves else None
    metrics = _plain(metrics)
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    if verbose:
        print(_summary(metrics, out_dir))
    return metrics


def _pixel_size_warning(run_root: Path, manifest_path) -> str | None:
    """Warns (stderr, by name) when the manifest's images are at another pixel size than the
    run's training images, as far as their preparation records tell."""
    from keras_mia.preprocessing import find_preparation
    from keras_mia.preprocessing.record import pixel_size_mismatch

    try:
        trained, given = find_preparation(run_root), find_preparation(manifest_path)
    except ValueError:  # an unreadable record: training and predict report it themselves
        return None
    message = pixel_size_mismatch(trained and trained[0], given and given[0])
    if message is None:
        return None
    message = f"{manifest_path}: {message}"
    print(f"keras_mia: warning: {message}", file=sys.stderr)
    return message


def load_run_model(path: str | Path):
    """Loads a run's ``.keras`` model for inference (custom layers registered, not compiled).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
    """
    import keras

    import keras_mia.models  # noqa: F401  (registers the custom layers)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: model file not found; the run has no best model yet (train it first)."
        )
    return keras.saving.load_model(path, compile=False)


def best_model_record(path: str | Path) -> dict[str, Any] | None:
    """The record of which epoch a run's ``best.keras`` holds (``None``: none recorded).

    Raises:
        ValueError: the file is not a readable ``.keras`` archive.
    """
    from keras_mia.training.checkpoint import read_best_record

    return read_best_record(path)


def outputs_are_logits(model) -> bool:
    """Whether the model's output is raw logits (its last layer applies no sigmoid/softmax)."""
    activation = getattr(model.layers[-1], "activation", None)
    name = getattr(activation, "__name__", str(activation))
    return name not in ("sigmoid", "softmax")


def to_class_probabilities(outputs: np.ndarray, n_classes: int, logits: bool) -> np.ndarray:
    """Model outputs -> ``[n, n_classes]`` class probabilities.

    Args:
        outputs: ``[n, 1]`` (one sigmoid unit = the probability of class 1 of two) or
            ``[n, n_classes]`` (softmax).
        n_classes: number of classes.
        logits: the outputs are logits (apply the sigmoid / softmax here).

    Returns:
        float64 ``[n, n_classes]`` probabilities.

    Raises:
        ValueError: the output width fits neither case.
    """
    from scipy.special import expit, softmax

    outputs = np.asarray(outputs, dtype=np.float64)
    outputs = outputs.reshape(len(outputs), -1)
    if outputs.shape[1] == 1 and n_classes == 2:
        positive = expit(outputs[:, 0]) if logits else outputs[:, 0]
        return np.stack([1.0 - positive, positive], axis=1)
    if outputs.shape[1] == n_classes:
        return softmax(outputs, axis=1) if logits else outputs
    raise ValueError(
        f"The model gives {outputs.shape[1]} output(s) per image for {n_classes} classes; "
        f"expected 1 (sigmoid, two classes) or {n_classes}. Received: shape={outputs.shape}"
    )


# --------------------------------------------------------------------------------------
# Classification.


def _predict_split(model, manifest, data, split: str, n_classes: int) -> np.ndarray:
    from keras_mia.data.pipeline import build_dataset

    dataset = build_dataset(manifest, data, split=split, training=False)
    outputs = model.predict(dataset, verbose=0)
    return to_class_probabilities(outputs, n_classes, outputs_are_logits(model))


def _evaluate_classification(model, manifest, rows, data, config, classes, split, out_dir,
                             examples) -> dict[str, Any]:
    from keras_mia.config.typed import ConfigError

    evaluation = config.evaluation
    # The pipeline checks every label first and names the rows whose label is unknown.
    probabilities = _predict_split(model, manifest, data, split, len(classes))
    labels = np.array([classes.index(row["label"]) for row in rows], dtype=np.int64)
    positive = positive_class_index(config, classes)
    resamples, seed = evaluation.bootstrap, config.seed
    out: dict[str, Any] = {
        "classes": classes,
        "positive_class": classes[positive] if positive is not None else None,
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": _CONFIDENCE,
                      "method": "percentile"},
    }

    threshold_info: dict[str, Any] = {"rule": evaluation.threshold_rule, "value": None}
    if positive is not None:
        threshold = evaluation.threshold
        if evaluation.threshold_rule != "fixed":
            if not manifest.select("val"):
                raise ConfigError(
                    f"evaluation.threshold_rule={evaluation.threshold_rule!r} chooses the "
                    f"threshold on the validation split, but {manifest.path} has no val rows"
                )
            val_rows = manifest.select("val")
            val_labels = np.array([classes.index(r["label"]) == positive for r in val_rows])
            val_probs = _predict_split(model, manifest, data, "val", len(classes))
            threshold = choose_threshold(
                val_labels, val_probs[:, positive], evaluation.threshold_rule,
                evaluation.threshold, evaluation.target_sensitivity,
            )
            threshold_info["chosen_on"] = "val"
            if evaluation.threshold_rule == "sensitivity":
                threshold_info["target_sensitivity"] = evaluation.target_sensitivity
        threshold_info["value"] = float(threshold)
    out["threshold"] = threshold_info

    if positive is not None and len(classes) == 2:
        scores = probabilities[:, positive]
        predicted = np.where(scores >= threshold, positive, 1 - positive)
    else:
        predicted = probabilities.argmax(axis=1)

    patients = [row.get("patient_id", "") for row in rows]
    if positive is not None:
        y_true = (labels == positive).astype(np.int64)
        scores = probabilities[:, positive]
        out["image_level"] = binary_report(
            y_true, scores, threshold, resamples=resamples, seed=seed, confidence=_CONFIDENCE
        )
        ids, patient_true, patient_scores = aggregate_by_patient(
            patients, y_true, scores, evaluation.patient_aggregation
        )
        patient_report = binary_report(
            patient_true, patient_scores, threshold, resamples=resamples, seed=seed,
            confidence=_CONFIDENCE,
        )
        patient_report["aggregation"] = evaluation.patient_aggregation
        out["patient_level"] = patient_report
    else:
        out["patient_level"] = None
        out["patient_level_note"] = (
            "patient-level results need a positive class; set evaluation.positive_class"
        )
    if len(classes) > 2:
        out["multiclass"] = multiclass_report(
            labels, probabilities, classes, resamples=resamples, seed=seed,
            confidence=_CONFIDENCE,
        )

    _write_classification_csv(out_dir / "predictions.csv", manifest, rows, classes, labels,
                              probabilities, predicted)
    out["files"] = _classification_plots(
        out, out_dir, manifest, rows, classes, labels, probabilities, predicted, positive,
        config, examples,
    ) if examples else {}
    return out


def _write_classification_csv(path, manifest, rows, classes, labels, probabilities, predicted):
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image_path", "patient_id", "label", "predicted", "correct"]
                        + [f"prob_{name}" for name in classes])
        for row, label, probs, pred in zip(rows, labels, probabilities, predicted):
            writer.writerow(
                [str(manifest.resolve(row["image_path"])), row.get("patient_id", ""),
                 classes[label], classes[pred], int(label == pred)]
                + [f"{p:.8g}" for p in probs]
            )


def _classification_plots(out, out_dir, manifest, rows, classes, labels, probabilities,
                          predicted, positive, config, examples) -> dict[str, str]:
    files = {}
    name = config.name
    if positive is not None:
        y_true = (labels == positive).astype(np.int64)
        scores = probabilities[:, positive]
        curves = [{"label": f"{classes[positive]} (image level)", "y_true": y_true,
                   "scores": scores, "auc": out["image_level"]["roc_auc"],
                   "pr_auc": out["image_level"]["pr_auc"]}]
        image_level = out["image_level"]
        point = None
        if image_level["specificity"]["value"] is not None and \
                image_level["sensitivity"]["value"] is not None:
            point = (1 - image_level["specificity"]["value"], image_level["sensitivity"]["value"])
    else:
        curves = []
        point = None
    if "multiclass" in out:
        for k, class_name in enumerate(classes):
            curves.append({"label": class_name, "y_true": (labels == k).astype(np.int64),
                           "scores": probabilities[:, k],
                           "auc": out["multiclass"]["per_class"][class_name]["auc"]})
    if curves:
        files["roc"] = str(plots.plot_roc(curves, out_dir / "roc.png",
                                          title=f"{name}: ROC ({out_dir.name})",
                                          operating_point=point))
        files["pr"] = str(plots.plot_pr(curves, out_dir / "pr.png",
                                        title=f"{name}: precision-recall ({out_dir.name})"))
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(labels, predicted, labels=list(range(len(classes))))
    files["confusion_matrix"] = str(plots.plot_confusion_matrix(
        matrix, classes, out_dir / "confusion_matrix.png",
        title=f"{name}: confusion matrix ({out_dir.name}, n={len(labels)})"))
    files["examples"] = str(_example_grid(out_dir / "examples.png", manifest, rows, classes,
                                          labels, probabilities, predicted, config, examples))
    return files


def _example_grid(path, manifest, rows, classes, labels, probabilities, predicted, config,
                  examples):
    """Up to half the grid shows mistakes (they teach the most), the rest correct ones."""
    from keras_mia.io import read_image

    order = np.random.default_rng(config.seed).permutation(len(rows))
    wrong = [i for i in order if labels[i] != predicted[i]]
    right = [i for i in order if labels[i] == predicted[i]]
    take_wrong = wrong[: examples // 2]
    chosen = take_wrong + right[: examples - len(take_wrong)]
    chosen += wrong[len(take_wrong): len(take_wrong) + examples - len(chosen)]
    images, captions, correct = [], [], []
    for i in sorted(chosen):
        file = manifest.resolve(rows[i]["image_path"])
        images.append(read_image(file))
        captions.append(
            f"{Path(file).name[:28]}\ntrue: {classes[labels[i]]}\n"
            f"pred: {classes[predicted[i]]} (p={probabilities[i, predicted[i]]:.2f})"
        )
        correct.append(bool(labels[i] == predicted[i]))
    return plots.plot_examples(images, captions, correct, path,
                               title=f"{config.name}: example predictions")


def _heatmaps(model, data, classes, paths, out_dir) -> dict[str, Any]:
    """Sliding-window class heatmaps of whole images: ``<stem>.npz`` and one PNG per class."""
    from keras_mia.heatmaps import preprocess_whole_image, sliding_window_heatmap
    from keras_mia.io import read_image

    height, width = model.input_shape[1:3]
    stride = max(1, min(height, width) // 4)
    folder = out_dir / "heatmaps"
    folder.mkdir(parents=True, exist_ok=True)
    images: dict[str, Any] = {}
    for path in paths:
        raw = read_image(path)
        heatmap = sliding_window_heatmap(model, preprocess_whole_image(raw, data), stride=stride)
        stem = Path(path).stem
        array = folder / f"{stem}.npz"
        with atomic_path(array) as tmp:
            np.savez_compressed(tmp, heatmap=heatmap, stride=stride, window=[height, width],
                                classes=np.array(classes))
        figures = [
            str(plots.plot_heatmap(
                raw, heatmap[..., k], folder / f"{stem}_{name}.png",
                patch_size=(height, width), stride=stride, label=f"P({name})",
                title=f"{Path(path).name}: {name}"))
            for k, name in enumerate(classes)
        ]
        images[str(path)] = {"array": str(array), "figures": figures}
    return {"stride": stride, "window": [height, width], "images": images}


# --------------------------------------------------------------------------------------
# Segmentation.


def _evaluate_segmentation(model, manifest, rows, data, config, split, out_dir,
                           examples) -> dict[str, Any]:
    from scipy.special import expit

    from keras_mia.data.pipeline import build_dataset
    from keras_mia.config.typed import ConfigError

    evaluation = config.evaluation
    if evaluation.threshold_rule != "fixed":
        raise ConfigError(
            "evaluation.threshold_rule must be 'fixed' for segmentation (the pixel threshold "
            f"is evaluation.threshold). Received: {evaluation.threshold_rule!r}"
        )
    threshold = evaluation.threshold
    if evaluation.image_positive is not None:
        known = {row["label"] for row in manifest.rows}
        unknown = sorted(set(evaluation.image_positive) - known)
        if unknown or not evaluation.image_positive:
            raise ConfigError(
                f"evaluation.image_positive: expected labels of {manifest.path} "
                f"({sorted(known)}). Received: {evaluation.image_positive!r}"
            )
    logits = outputs_are_logits(model)
    per_image: list[dict[str, Any]] = []
    shown: list[tuple] = []
    shown_negative: list[tuple] = []
    dataset = build_dataset(manifest, data, split=split, training=False)
    index = 0
    for images, masks in dataset:
        outputs = np.asarray(model.predict_on_batch(images), dtype=np.float64)
        probabilities = expit(outputs) if logits else outputs
        for image, mask, prob in zip(np.asarray(images), np.asarray(masks), probabilities):
            mask, prob = mask[..., 0], prob[..., 0]
            predicted = prob >= threshold
            counts = pixel_counts(mask, predicted)
            own = pixel_metrics(**counts)
            limit = area_threshold(mask.shape, evaluation.area_divisor)
            area = int(predicted.sum())
            per_image.append({
                "has_mask": bool(mask.any()), "counts": counts, "area": area, "limit": limit,
                "positive": int(area > limit), "max_probability": float(prob.max()),
                "dice": own["dice"], "iou_foreground": own["iou_foreground"],
            })
            row = rows[index]
            caption = f"{Path(row['image_path']).name[:30]}  Dice {own['dice']:.2f}" \
                if not math.isnan(own["dice"]) else Path(row["image_path"]).name[:30]
            keep = (image[..., 0], mask, prob, caption)
            if mask.any() and len(shown) < examples:
                shown.append(keep)
            elif not mask.any() and len(shown_negative) < examples // 3:
                shown_negative.append(keep)
            index += 1

    names = [Path(row["image_path"]).name for row in rows]
    found = image_truth([row["label"] for row in rows], [p["has_mask"] for p in per_image],
                        evaluation.image_positive)
    truth = found.truth
    fallback_set = set(found.from_mask)
    if found.from_mask:
        fallback = [names[i] for i in found.from_mask]
        warnings.warn(
            f"evaluate: {len(fallback)} image(s) have a label that does not say normal or "
            f"abnormal; their image-level truth is mask.any(): {_name_list(fallback)}",
            stacklevel=2,
        )
    # A positive image without a mask has an unknown lesion outline: scoring its pixels as
    # background would count a correctly found lesion as false positives, so it stays out of
    # the pixel-level metrics (the seed reports no pixel-level MIAS figure to follow).
    unmasked = [i for i, p in enumerate(per_image) if truth[i] and not p["has_mask"]]
    excluded = set(unmasked)
    totals = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for i, p in enumerate(per_image):
        p["truth"] = int(truth[i])
        p["in_pixel_metrics"] = i not in excluded
        if p["in_pixel_metrics"]:
            for key in totals:
                totals[key] += p["counts"][key]
    ratio = np.array([p["area"] / p["limit"] for p in per_image])
    decided = np.array([p["positive"] for p in per_image])
    resamples, seed = evaluation.bootstrap, config.seed
    image_level = binary_report(truth, ratio, resamples=resamples, seed=seed,
                                confidence=_CONFIDENCE, y_pred=decided)
    image_level["rule"] = (f"positive when more than height*width/{evaluation.area_divisor:g} "
                           "pixels are predicted positive")
    image_level["truth"] = {
        "rule": found.rule,
        "from_label": len(rows) - len(found.from_mask),
        "from_mask": len(found.from_mask),
        "from_mask_images": [names[i] for i in found.from_mask],
        "positives_without_mask": len(unmasked),
        "positives_without_mask_images": [names[i] for i in unmasked],
        "negatives_with_mask_images": [names[i] for i, p in enumerate(per_image)
                                       if p["has_mask"] and not truth[i]],
    }
    patients = [row.get("patient_id", "") for row in rows]
    _, patient_truth, patient_ratio = aggregate_by_patient(
        patients, truth, ratio, evaluation.patient_aggregation
    )
    patient_level = binary_report(patient_truth, patient_ratio, resamples=resamples, seed=seed,
                                  confidence=_CONFIDENCE, y_pred=(patient_ratio > 1).astype(int))
    patient_level["aggregation"] = evaluation.patient_aggregation

    with atomic_path(out_dir / "predictions.csv") as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image_path", "mask_path", "patient_id", "label", "true_positive",
                         "truth_from", "in_pixel_metrics", "predicted_area", "area_threshold",
                         "predicted_positive", "max_probability", "dice", "iou_foreground"])
        for i, (row, p) in enumerate(zip(rows, per_image)):
            mask_cell = row.get("mask_path", "")
            writer.writerow([
                str(manifest.resolve(row["image_path"])),
                str(manifest.resolve(mask_cell)) if mask_cell else "",
                row.get("patient_id", ""), row["label"], p["truth"],
                "mask" if i in fallback_set else "label", int(p["in_pixel_metrics"]),
                p["area"], f"{p['limit']:.8g}",
                p["positive"], f"{p['max_probability']:.6g}",
                "" if math.isnan(p["dice"]) else f"{p['dice']:.6g}",
                "" if math.isnan(p["iou_foreground"]) else f"{p['iou_foreground']:.6g}",
            ])
    negatives = shown_negative[: examples // 3]
    examples_shown = shown[: examples - len(negatives)] + negatives
    files = {}
    if examples_shown:
        files["overlays"] = str(plots.plot_segmentation_overlays(
            [e[0] for e in examples_shown], [e[1] for e in examples_shown],
            [e[2] for e in examples_shown], out_dir / "overlays.png", threshold=threshold,
            captions=[e[3] for e in examples_shown],
            title=f"{config.name}: segmentation ({split})",
        ))
    pixel = dict(totals)
    pixel.update(pixel_metrics(**totals))
    scored = [p["counts"] for p in per_image if p["in_pixel_metrics"]]
    if scored:
        # Resampled by image, as the image-level intervals are (see pixel_intervals).
        pixel["intervals"], pixel["bootstrap_undefined"] = pixel_intervals(
            scored, resamples=resamples, seed=seed, confidence=_CONFIDENCE)
    pixel["threshold"] = threshold
    pixel["n_images"] = len(per_image) - len(unmasked)
    pixel["excluded_images"] = [names[i] for i in unmasked]
    pixel["excluded_reason"] = "truly positive (label) without a mask: lesion outline unknown"
    return {
        "pixel_level": pixel,
        "image_level": image_level,
        "patient_level": patient_level,
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": _CONFIDENCE,
                      "method": "percentile"},
        "threshold": {"rule": "fixed", "value": threshold},
        "files": files,
    }


# --------------------------------------------------------------------------------------
# Output.


def _plain(value):
    """JSON-ready: NumPy scalars to Python numbers, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _name_list(names: Sequence[str], limit: int = 10) -> str:
    """``a, b, c`` or ``a, b, ... and 5 more``."""
    shown = ", ".join(names[:limit])
    return shown + (f" ... and {len(names) - limit} more" if len(names) > limit else "")


def _format(entry) -> str:
    if not isinstance(entry, dict) or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.3f}"
    if entry.get("ci_low") is not None:
        text += f" [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
    return text


def _summary(metrics: dict, out_dir: Path) -> str:
    from keras_mia.training.checkpoint import describe_best_record

    lines = [f"keras_mia evaluate: {metrics['recipe']} on {metrics['split']} "
             f"({metrics['n_images']} images) -> {out_dir}",
             f"  {describe_best_record(metrics.get('model_record'))}"]
    if metrics["task"] == "segmentation":
        pixel = metrics["pixel_level"]
        intervals = pixel.get("intervals") or {}
        lines.append("  pixel level (pooled over images, 95% CI by image): " + ", ".join(
            f"{k} {_format(intervals[k])}" if k in intervals
            else f"{k} {pixel[k]:.3f}" if pixel[k] is not None else f"{k} n/a"
            for k in ("iou", "iou_foreground", "dice", "precision", "recall")))
        truth = metrics["image_level"]["truth"]
        lines.append(f"  image-level truth: {truth['rule']}")
        if truth["positives_without_mask"]:
            lines.append(
                f"  {truth['positives_without_mask']} positive image(s) without a mask count at "
                "image level, not in the pixel level: "
                f"{_name_list(truth['positives_without_mask_images'])}")
    if metrics.get("threshold", {}).get("value") is not None:
        lines.append(f"  threshold {metrics['threshold']['value']:.4g} "
                     f"({metrics['threshold']['rule']})")
    for level in ("image_level", "patient_level"):
        report = metrics.get(level)
        if report:
            lines.append(f"  {level.replace('_', ' ')} (n={report['n']}, 95% CI):")
            for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "roc_auc",
                         "pr_auc"):
                lines.append(f"    {name:<12} {_format(report[name])}")
            lines.append(f"    TP {report['tp']}  FP {report['fp']}  TN {report['tn']}  "
                         f"FN {report['fn']}")
    if "multiclass" in metrics:
        multi = metrics["multiclass"]
        lines.append(f"  multiclass accuracy {_format(multi['accuracy'])}, "
                     f"macro AUC {_format(multi['macro_auc'])}")
    return "\n".join(lines)
