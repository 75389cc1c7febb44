"""``keras-mia probe-aspect``: does a classifier read the film's shape instead of its content?

A model can be 100 % right on its validation set for the wrong reason. In the Open-I copy
of Lakhani et al.'s Hello World data, 38 of 39 chest films are square and 36 of 37 abdominal
films are not, so a network trained from scratch can separate the classes by the film's
aspect ratio alone (visible as a distortion after a stretching resize, or as padding bars
after an aspect-preserving one).

The probe re-frames every film of the chosen splits to the typical aspect ratios of the
*other* class(es), three ways, and checks that the predicted class stays the same:

- ``pad``: the whole film, with black (zero) bars added to reach the ratio;
- ``crop``: the largest centred crop with the ratio;
- ``stretch``: the whole film, resampled (bilinear) along one axis to the ratio.

The typical ratios of a class are quantiles (default 10 %, 50 %, 90 %) of width / height
over that class's **training** films, rounded to two decimals. Re-framed films are written as
PNG files in the original's pixel format (8-bit grey, 16-bit grey or colour: pad and crop copy
pixels exactly) and go, with the originals, through exactly the validation/test pipeline
of training (``build_dataset(..., training=False)``, as ``keras-mia evaluate``), so the
model sees them as it would see such films in practice.

Writes ``RUN/eval/aspect_probe/aspect_probe.json`` (the figures) and ``aspect_probe.csv``
(one row per re-framed film). The headline figure, ``unchanged``, is the fraction of
re-framed films whose predicted class equals the original's prediction; a classifier that
reads content scores close to 1, one that reads the shape far lower.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from keras_mia.utils.atomic import atomic_path, write_text_atomic

__all__ = [
    "VARIANTS",
    "DEFAULT_QUANTILES",
    "probe_aspect",
    "reframe",
    "typical_aspect_ratios",
    "image_aspect_ratio",
]

VARIANTS: tuple[str, ...] = ("pad", "crop", "stretch")
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
# Re-framing to a ratio within 2 % of the film's own would change next to nothing.
_SAME_RATIO = math.log(1.02)
_RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def reframe(pixels: np.ndarray, ratio: float, variant: str) -> np.ndarray:
    """Re-frames an image to the aspect ratio ``ratio`` (width / height).

    Args:
        pixels: ``[H, W]`` or ``[H, W, C]`` array (any dtype).
        ratio: the target width / height, > 0.
        variant: ``"pad"`` (zero bars on both sides of the short axis, centred), ``"crop"``
            (largest centred crop) or ``"stretch"`` (bilinear resampling of one axis; the
            other keeps its size, so no pixel is lost).

    Returns:
        The re-framed array, of ``pixels``' dtype and channel count.

    Raises:
        ValueError: an unknown variant or a ratio that is not positive.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}. Received: variant={variant!r}")
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0. Received: ratio={ratio!r}")
    pixels = np.asarray(pixels)
    height, width = pixels.shape[:2]
    wider = ratio > width / height
    if variant == "crop":
        if wider:
            new_height = max(1, min(height, round(width / ratio)))
            top = (height - new_height) // 2
            return pixels[top : top + new_height].copy()
        new_width = max(1, min(width, round(height * ratio)))
        left = (width - new_width) // 2
        return pixels[:, left : left + new_width].copy()
    if wider:
        new_height, new_width = height, max(width, round(height * ratio))
    else:
        new_height, new_width = max(height, round(width / ratio)), width
    if variant == "pad":
        top = (new_height - height) // 2
        left = (new_width - width) // 2
        pad = [(top, new_height - height - top), (left, new_width - width - left)]
        pad += [(0, 0)] * (pixels.ndim - 2)
        return np.pad(pixels, pad)
    import tensorflow as tf

    image = pixels if pixels.ndim == 3 else pixels[..., None]
    resized = tf.image.resize(
        tf.constant(image, tf.float32), [new_height, new_width], method="bilinear"
    ).numpy()
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        resized = np.clip(np.rint(resized), info.min, info.max)
    resized = resized.astype(pixels.dtype)
    return resized if pixels.ndim == 3 else resized[..., 0]


def image_aspect_ratio(path: str | Path) -> float:
    """Width / height of an image file (read from the header for PNG/JPEG/BMP).

    Args:
        path: the image file.

    Returns:
        The aspect ratio.
    """
    path = Path(path)
    if path.suffix.lower() in _RASTER_SUFFIXES:
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
    else:
        from keras_mia.io import read_image

        height, width = read_image(path).shape[:2]
    return width / height


def typical_aspect_ratios(
    manifest: Any,
    split: str = "train",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> dict[str, list[float]]:
    """Per class, quantiles of the films' width / height over one split.

    Args:
        manifest: a ``keras_mia.data.manifest.Manifest``.
        split: whose films to measure (the training split: the shapes the model learnt).
        quantiles: which quantiles, each in [0, 1].

    Returns:
        class name -> sorted distinct ratios, rounded to two decimals.

    Raises:
        ValueError: the split has no rows, or a quantile is outside [0, 1].
    """
    if not all(0 <= q <= 1 for q in quantiles):
        raise ValueError(f"quantiles must lie in [0, 1]. Received: quantiles={list(quantiles)}")
    rows = manifest.select(split)
    if not rows:
        raise ValueError(
            f"Manifest {manifest.path} has no {split!r} rows to measure the classes' typical "
            "aspect ratios on"
        )
    ratios: dict[str, list[float]] = {}
    for row in rows:
        ratios.setdefault(row["label"], []).append(
            image_aspect_ratio(manifest.resolve(row["image_path"]))
        )
    return {
        label: sorted({round(float(q), 2) for q in np.quantile(values, list(quantiles))})
        for label, values in sorted(ratios.items())
    }


def probe_aspect(
    run_dir: str | Path,
    manifest: str | Path | None = None,
    splits: Sequence[str] = ("val", "test"),
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    variants: Sequence[str] = VARIANTS,
    batch_size: int | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Re-frames a run's validation/test films to the other class's shapes and re-predicts.

    Args:
        run_dir: a classification run folder written by ``keras-mia train``.
        manifest: the manifest CSV; ``None`` uses the one recorded in ``config.yaml``.
            The recipe's ``label_map`` is applied, as in training.
        splits: the splits whose films are re-framed.
        quantiles: which quantiles of the other class's training-film ratios to re-frame to.
        variants: any of ``"pad"``, ``"crop"``, ``"stretch"``.
        batch_size: inference batch size; ``None`` keeps the recipe's.
        verbose: print a summary.

    Returns:
        The content of ``aspect_probe.json``: ``unchanged`` (fraction of re-framed films
        whose predicted class is the original's), ``still_correct``, the same per variant,
        per true class and per target ratio, the typical ratios, and the originals' own
        accuracy.

    Raises:
        FileNotFoundError: the run has no ``config.yaml`` or ``best.keras``.
        ValueError: not a classification run, no films in the splits, an unknown variant, or
            a film that is not a PNG/JPEG/BMP file (the message names it).
    """
    from keras_mia.data.manifest import write_manifest
    from keras_mia.data.pipeline import build_dataset, resolve_classes
    from keras_mia.evaluation.evaluate import (
        load_run_model,
        outputs_are_logits,
        to_class_probabilities,
    )
    from keras_mia.recipes import load_recipe
    from keras_mia.config.recipe import positive_class_index
    from keras_mia.training.engine import prepare_manifest
    from keras_mia.training.run_dir import RunDir

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"variants must be some of {VARIANTS}. Received: {list(variants)}")
    run = RunDir(Path(run_dir))
    if not run.config.is_file():
        raise FileNotFoundError(
            f"{run.config}: not found; is {run.root} a run folder written by `keras-mia train`?"
        )
    config = load_recipe(run.config)
    if config.data.task != "classification":
        raise ValueError(
            "The aspect probe compares predicted classes; it needs a classification run. "
            f"Received: data.task={config.data.task!r} in {run.config}"
        )
    loaded = prepare_manifest(config, manifest)
    films = [row for split in splits for row in loaded.select(split)]
    if not films:
        raise ValueError(f"Manifest {loaded.path} has no rows for splits={list(splits)}")
    data = dataclasses.replace(
        config.data, cache=False, balance=False, shuffle=False,
        batch_size=batch_size or config.data.batch_size,
    )
    classes = resolve_classes(loaded, data)
    typical = typical_aspect_ratios(loaded, "train", quantiles)
    model = load_run_model(run.best_model)
    positive = positive_class_index(config, classes)
    threshold = float(config.evaluation.threshold)

    out_dir = run.eval / "aspect_probe"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aspect_probe_") as tmp:
        rows, tests = _write_reframed(loaded, films, typical, variants, Path(tmp))
        probe_manifest = write_manifest(Path(tmp) / "manifest.csv", rows)
        dataset = build_dataset(probe_manifest, data, split=None, training=False)
        outputs = model.predict(dataset, verbose=0)
    probabilities = to_class_probabilities(outputs, len(classes), outputs_are_logits(model))
    if positive is not None and len(classes) == 2:
        # The operating rule of `keras-mia evaluate` with its fixed threshold.
        predicted = np.where(probabilities[:, positive] >= threshold, positive, 1 - positive)
    else:
        predicted = probabilities.argmax(axis=1)

    original = {}
    records = []
    for index, test in enumerate(tests):
        if test["variant"] == "original":
            original[test["film"]] = int(predicted[index])
    for index, test in enumerate(tests):
        if test["variant"] == "original":
            continue
        label = classes.index(test["label"])
        records.append({
            **test,
            "original_prediction": classes[original[test["film"]]],
            "prediction": classes[int(predicted[index])],
            "probability": float(probabilities[index, predicted[index]]),
            "unchanged": int(predicted[index]) == original[test["film"]],
            "correct": int(predicted[index]) == label,
        })
    originals_correct = [
        original[i] == classes.index(films[i]["label"]) for i in range(len(films))
    ]
    report = {
        "recipe": config.name,
        "run_dir": str(run.root),
        "model": str(run.best_model),
        "manifest": str(loaded.path),
        "splits": list(splits),
        "n_films": len(films),
        "n_reframed": len(records),
        "original_accuracy": _fraction(originals_correct),
        "typical_ratios": typical,
        "quantiles": [float(q) for q in quantiles],
        "threshold": threshold if positive is not None and len(classes) == 2 else None,
        "unchanged": _fraction([r["unchanged"] for r in records]),
        "still_correct": _fraction([r["correct"] for r in records]),
        "per_variant": _grouped(records, "variant"),
        "per_class": _grouped(records, "label"),
        "per_ratio": _grouped(records, "ratio"),
        "files": {"json": str(out_dir / "aspect_probe.json"),
                  "csv": str(out_dir / "aspect_probe.csv")},
    }
    _write_csv(out_dir / "aspect_probe.csv", records)
    write_text_atomic(out_dir / "aspect_probe.json", json.dumps(report, indent=2))
    if verbose:
        print(_summary(report))
    return report


# --------------------------------------------------------------------------------------
# Internals.


def _write_reframed(manifest, films, typical, variants, folder: Path):
    """Writes the re-framed films; returns the probe manifest's rows and what each row is."""
    from PIL import Image

    rows: list[dict[str, str]] = []
    tests: list[dict[str, Any]] = []
    for film, row in enumerate(films):
        path = manifest.resolve(row["image_path"])
        if path.suffix.lower() not in _RASTER_SUFFIXES:
            raise ValueError(
                "The aspect probe re-frames PNG, JPEG and BMP files (convert other formats "
                f"with `keras-mia prepare`). Received: {path}"
            )
        label = row["label"]
        common = {"label": label, "patient_id": f"film{film}", "split": "test"}
        rows.append({"image_path": str(path), **common})
        tests.append({"film": film, "image_path": str(path), "label": label,
                      "variant": "original", "ratio": None})
        with Image.open(path) as image:
            # Palette images are expanded, as TensorFlow's PNG decoder does.
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            pixels = np.asarray(image)
        own = pixels.shape[1] / pixels.shape[0]
        targets = sorted({r for other, ratios in typical.items() if other != label
                          for r in ratios})
        for ratio in targets:
            if abs(math.log(ratio / own)) < _SAME_RATIO:
                continue
            for variant in variants:
                out = folder / f"{film:05d}_{variant}_{ratio:.2f}.png"
                with atomic_path(out) as tmp:
                    Image.fromarray(reframe(pixels, ratio, variant)).save(tmp, format="PNG")
                rows.append({"image_path": str(out), **common})
                tests.append({"film": film, "image_path": str(path), "label": label,
                              "variant": variant, "ratio": ratio})
    return rows, tests


def _fraction(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def _grouped(records, key) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(str(record[key]), []).append(record)
    return {
        name: {"n": len(group),
               "unchanged": _fraction([r["unchanged"] for r in group]),
               "still_correct": _fraction([r["correct"] for r in group])}
        for name, group in sorted(groups.items())
    }


def _write_csv(path: Path, records) -> None:
    columns = ["image_path", "label", "variant", "ratio", "original_prediction", "prediction",
               "probability", "unchanged", "correct"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for record in records:
            writer.writerow([
                f"{record[c]:.6g}" if c == "probability" else
                int(record[c]) if isinstance(record[c], bool) else record[c]
                for c in columns
            ])


def _summary(report) -> str:
    def text(value):
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"keras_mia probe-aspect: {report['recipe']} on {'+'.join(report['splits'])} "
        f"({report['n_films']} films, {report['n_reframed']} re-framed) -> "
        f"{Path(report['files']['json']).parent}",
        f"  originals correct: {text(report['original_accuracy'])}",
        "  typical training ratios (width/height): " + "; ".join(
            f"{label} {', '.join(f'{r:.2f}' for r in ratios)}"
            for label, ratios in report["typical_ratios"].items()),
        f"  predicted class unchanged: {text(report['unchanged'])} "
        f"(still correct: {text(report['still_correct'])})",
    ]
    for name, group in report["per_variant"].items():
        lines.append(f"    {name:<8} unchanged {text(group['unchanged'])}  (n={group['n']})")
    for name, group in report["per_class"].items():
        lines.append(f"    {name}: unchanged {text(group['unchanged'])}  (n={group['n']})")
    return "\n".join(lines)
