"""``keras-mia export``: a run's best model -> a self-contained TensorFlow SavedModel.

Signatures:

- ``serving_default(images)``: ``images`` float32 ``[batch, height, width]`` or
  ``[batch, height, width, 1]`` raw grey images in original intensity units (what
  ``keras_mia.io.read_image`` returns), any height and width (one size per batch). The
  recipe's inference preprocessing (resize, normalisation, centre crop, channel replication)
  runs inside the graph. Returns
  ``probabilities`` ``[batch, n_classes]``, ``predicted_class`` (int32) and
  ``predicted_label`` (string); segmentation models return per-pixel ``probabilities``
  ``[batch, h, w]``, ``predicted_mask``, ``predicted_area`` and ``predicted_positive`` (the
  image-level area rule).
- ``serving_png(png_bytes)``: the same from a batch of encoded 8- or 16-bit PNG files.
- ``metadata()``: ``metadata_json`` (recipe, classes, threshold, input description,
  preprocessing, and for mammography models the training data's ``preparation`` record and
  what ``serving_default`` expects: see ``keras_mia.export.contract``), ``class_names`` and
  ``threshold``. The same JSON is written to
  ``assets/metadata.json``. It records which epoch of the run ``best.keras`` held
  (``source_model_record``: epoch, monitor and its value), which the export also prints.
- ``heatmap(image, stride)`` (patch classifiers only): the patch classifier slid over one
  whole image ``[H, W, 1]`` (original units, at the scale the patches were cut from) at
  ``stride`` pixels, returning ``heatmap`` ``[rows, cols, n_classes]`` and ``window``.

The SavedModel is written to a temporary folder beside ``out_dir`` and renamed into place
(``keras_mia.utils.atomic.atomic_dir``): a kill leaves the previous export or the new one.

Backends: the ``.keras`` file is backend-independent, so the export always loads it in a
TensorFlow-backend process and traces the graph there. Called from a process running
another Keras backend (a run trained on JAX, say), :func:`export_run` re-runs itself in a
subprocess with ``KERAS_BACKEND=tensorflow``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["export_run", "PATCH_MODELS", "METADATA_FILE"]

# Models whose export gets a ``heatmap`` signature.
PATCH_MODELS: tuple[str, ...] = ("resnet50_patch",)
METADATA_FILE = "metadata.json"
_FORMAT_VERSION = 1


def export_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    threshold: float | None = None,
    heatmap_batch_size: int = 32,
) -> Path:
    """Exports a training run's ``best.keras`` as a SavedModel with serving signatures.

    Args:
        run_dir: the run folder (``config.yaml`` and ``best.keras``).
        out_dir: the SavedModel folder to write; ``None``: ``RUN_DIR/saved_model``. An
            existing folder is replaced only if it is empty or holds a SavedModel.
        threshold: the operating threshold to save; ``None``: the one ``evaluate`` reported
            last (``RUN_DIR/eval/test/metrics.json``, else another split's), else the
            recipe's ``evaluation.threshold``.
        heatmap_batch_size: windows per model call in the ``heatmap`` signature.

    Returns:
        The SavedModel folder.

    Raises:
        FileNotFoundError: ``config.yaml`` or ``best.keras`` is missing.
        FileExistsError: ``out_dir`` exists and is not a SavedModel folder.
        RuntimeError: the TensorFlow-backend subprocess failed (its error is included).
    """
    import keras

    from keras_mia.training.run_dir import RunDir

    run = RunDir(Path(run_dir))
    out = Path(out_dir) if out_dir is not None else run.saved_model
    for required in (run.config, run.best_model):
        if not required.is_file():
            raise FileNotFoundError(
                f"{required}: not found; export needs a trained run folder "
                f"(config.yaml and best.keras). Received: run_dir={str(run_dir)!r}"
            )
    if out.exists() and any(out.iterdir()) and not (out / "saved_model.pb").is_file():
        raise FileExistsError(
            f"{out} exists and is not a SavedModel folder; choose another --out. "
            f"Received: out_dir={str(out)!r}"
        )
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]. Received: threshold={threshold}")
    if keras.backend.backend() != "tensorflow":
        return _export_in_subprocess(run.root, out, threshold, heatmap_batch_size)
    return _export(run, out, threshold, heatmap_batch_size)


def _export_in_subprocess(run_root: Path, out: Path, threshold: float | None,
                          heatmap_batch_size: int) -> Path:
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    command = [sys.executable, "-m", "keras_mia.export.saved_model", str(run_root),
               "--out", str(out), "--heatmap-batch-size", str(heatmap_batch_size)]
    if threshold is not None:
        command += ["--threshold", repr(float(threshold))]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode == 2 and result.stderr.strip():
        from keras_mia.errors import UserError

        # The subprocess printed a user's mistake as one line (see main below).
        raise UserError(result.stderr.strip().splitlines()[-1])
    if result.returncode != 0:
        raise RuntimeError(
            f"Export of {run_root} in a TensorFlow-backend subprocess failed "
            f"(exit {result.returncode}):\n{result.stderr[-4000:]}"
        )
    sys.stdout.write(result.stdout)
    return out


def _export(run, out: Path, threshold: float | None, heatmap_batch_size: int) -> Path:
    import keras
    import tensorflow as tf

    from keras_mia.evaluation.evaluate import (
        best_model_record,
        load_run_model,
        outputs_are_logits,
    )
    from keras_mia.export.serving import ServingFunctions
    from keras_mia.recipes import load_recipe

    from keras_mia.training.checkpoint import describe_best_record
    from keras_mia.config.recipe import positive_class_index
    from keras_mia.utils.atomic import atomic_dir

    config = load_recipe(run.config)
    data = config.data
    model = load_run_model(run.best_model)
    record = best_model_record(run.best_model)
    print(f"keras_mia export: {describe_best_record(record, str(run.best_model))}")
    segmentation = data.task == "segmentation"
    if segmentation:
        class_names = ["foreground"]
        positive = None
    else:
        if not data.classes:
            raise ValueError(
                f"{run.config}: data.classes is empty; a trained run's config lists its classes"
            )
        class_names = list(data.classes)
        positive = positive_class_index(config, class_names)
    threshold, rule, source = _threshold(run, config, threshold)
    metadata = _metadata(config, run, class_names, positive, (threshold, rule, source), model)
    metadata["source_model_record"] = record
    functions = ServingFunctions(
        model, data, class_names, threshold, positive, outputs_are_logits(model),
        config.evaluation.area_divisor, json.dumps(metadata, sort_keys=True),
    )

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", functions.serve_images,
        # Unknown rank: [B, H, W] and [B, H, W, 1] are both accepted (checked in-graph).
        input_signature=[tf.TensorSpec(None, tf.float32, name="images")],
    )
    archive.add_endpoint(
        "serving_png", functions.serve_png,
        input_signature=[tf.TensorSpec([None], tf.string, name="png_bytes")],
    )
    archive.add_endpoint("metadata", functions.metadata, input_signature=[])
    if config.model.name in PATCH_MODELS and not segmentation:
        archive.add_endpoint(
            "heatmap", functions.heatmap_function(heatmap_batch_size),
            input_signature=[tf.TensorSpec([None, None, 1], tf.float32, name="image"),
                             tf.TensorSpec([], tf.int32, name="stride")],
        )
    with atomic_dir(out) as tmp:
        archive.write_out(str(tmp), verbose=False)
        assets = tmp / "assets"
        assets.mkdir(exist_ok=True)
        with open(assets / METADATA_FILE, "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
    print(f"keras_mia export: {run.best_model} -> {out} (signatures: "
          f"{', '.join(metadata['signatures'])})")
    return out


def _threshold(run, config, explicit: float | None) -> tuple[float, str, str]:
    """The operating threshold, the rule that chose it, and where it came from.

    The exported model decides as ``evaluate`` reported: a data-driven rule (``youden``,
    ``sensitivity``, chosen on the validation split) or an ``evaluate`` override is read back
    from the run's ``eval/<split>/metrics.json`` (the test split's first).
    """
    evaluation = config.evaluation
    if explicit is not None:
        return float(explicit), "fixed", "export --threshold"
    candidates = sorted(run.eval.glob("*/metrics.json"),
                        key=lambda p: (p.parent.name != "test", p.parent.name != "val",
                                       p.parent.name))
    for path in candidates:
        try:
            with open(path, encoding="utf-8") as f:
                chosen = json.load(f).get("threshold") or {}
        except (OSError, ValueError):
            continue
        if chosen.get("value") is not None:
            return float(chosen["value"]), str(chosen.get("rule") or "fixed"), str(path)
    if evaluation.threshold_rule == "fixed":
        return float(evaluation.threshold), "fixed", "evaluation.threshold"
    print(
        f"keras_mia export: warning: threshold_rule={evaluation.threshold_rule!r} but no "
        f"evaluate results in {run.eval}; using evaluation.threshold={evaluation.threshold}. "
        "Run `keras-mia evaluate` before exporting to keep the chosen threshold.",
        file=sys.stderr,
    )
    return (float(evaluation.threshold), "fixed",
            "evaluation.threshold (no evaluate results found)")


def _metadata(config, run, class_names, positive, threshold, model) -> dict[str, Any]:
    import keras

    import keras_mia
    from keras_mia.export.contract import input_contract
    from keras_mia.training.backbone import backbone_record

    data = config.data
    # None, None: whole images at their own sizes (data.image_size: null).
    height, width = data.eval_size() or (None, None)
    signatures = ["serving_default", "serving_png", "metadata"]
    if config.model.name in PATCH_MODELS and data.task != "segmentation":
        signatures.append("heatmap")
    # Mammography: the training data's preparation record and what each signature expects.
    inputs, preparation = input_contract(
        config, run.root, heatmap="heatmap" in signatures, eval_size=(height, width)
    )
    return {
        "format_version": _FORMAT_VERSION,
        "recipe": config.name,
        "model": config.model.name,
        "task": data.task,
        "class_names": class_names,
        "positive_class": class_names[positive] if positive is not None else None,
        "threshold": threshold[0],
        "threshold_rule": threshold[1],
        "threshold_source": threshold[2],
        "area_divisor": config.evaluation.area_divisor if data.task == "segmentation" else None,
        "input": inputs,
        "preparation": preparation,
        "model_input": [height, width, data.channels],
        "preprocessing": {
            key: value for key, value in data.to_dict().items()
            if key in ("image_size", "resize", "antialias", "channels", "minmax", "rescale",
                       "mean", "std", "center_crop_eval")
        },
        "eval_size": [height, width],
        "signatures": signatures,
        "source_model": str(run.best_model),
        "keras_mia_version": keras_mia.__version__,
        "keras_version": keras.__version__,
        "model_name": model.name,
        # What the model's body started from (whole-image models: the patch run); None for
        # models that do not stand on another run.
        "backbone": backbone_record(config),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m keras_mia.export.saved_model RUN_DIR --out DIR`` (the subprocess route)."""
    parser = argparse.ArgumentParser(description="Export a keras_mia run as a SavedModel.")
    parser.add_argument("run_dir")
    parser.add_argument("--out", default=None)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--heatmap-batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    from keras_mia.errors import user_message

    try:
        export_run(args.run_dir, args.out, threshold=args.threshold,
                   heatmap_batch_size=args.heatmap_batch_size)
    except Exception as err:  # noqa: BLE001 - the parent reports a user's mistake in one line
        message = user_message(err, args.out)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
