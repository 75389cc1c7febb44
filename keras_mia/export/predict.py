"""``keras-mia predict``: inference from an exported SavedModel alone.

Built on ``keras_mia.inference`` (the same path from Python): only ``tf.saved_model.load``,
``keras_mia.io`` and ``keras_mia.preprocessing`` are used, no Keras model code and no
recipe, so an exported folder can be copied to a machine with TensorFlow and this package
and used as is. Each file is read in original units; a mammography model whose training
data came from ``keras-mia prepare cbis-ddsm`` gets it prepared exactly as that data was
(bit depth, resize with padding, breast segmentation: the record in the model's metadata),
other models get it as read; ``serving_default`` then applies the recipe's resize and
normalisation in-graph.

A file that cannot be read or predicted is reported by name with the reason and the others
are still predicted; the command exits non-zero when any failed. Input a mammography model
cannot have been meant for (a colour photograph, a thumbnail, a non-``MG`` DICOM, ...) is
predicted but warned about, by file and reason, on stderr and in the CSV's ``warnings``
column. Files found by walking a folder that do not look like images
(``keras_mia.io.is_image_file``) are skipped and counted.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, Sequence

from keras_mia.inference import (
    InferenceModel,
    InputError,
    Prediction,
    collect_files,
    load_serving_model,
)

__all__ = ["collect_files", "load_serving_model", "predict_files"]


def predict_files(
    model_dir: str | Path,
    paths: Sequence[str | Path],
    out_csv: str | Path | None = None,
    heatmap_dir: str | Path | None = None,
    *,
    heatmap_stride: int | None = None,
    prepared: bool = False,
    verbose: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Predicts every image file with an exported SavedModel.

    Args:
        model_dir: the folder written by ``keras-mia export``.
        paths: image files and folders (walked recursively).
        out_csv: the CSV to write (``path``, one ``prob_<class>`` column per class,
            ``predicted_class``; segmentation: ``predicted_positive``, ``predicted_area``,
            ``max_probability``; then ``warnings``); ``None``: none.
        heatmap_dir: patch classifiers: write ``<file stem>_<class>.png`` heatmaps here (of
            the prepared whole image when the model's training data was prepared).
        heatmap_stride: window stride of the heatmaps; ``None``: a quarter of the window.
        prepared: the files were written by ``keras-mia prepare`` already: feed them as
            read, without preparing them again.
        verbose: print the result table, the warnings (stderr) and the failures.

    Returns:
        ``(rows, failures)``: one dict per predicted file (the CSV's columns) and
        ``{"path", "error"}`` per file that could not be read or predicted. A caller exits
        non-zero when ``failures`` is not empty.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_serving_model`; ``heatmap_dir`` for a
            model without a ``heatmap`` signature.
    """
    import tensorflow as tf

    from keras_mia.io import ImageReadError

    model = InferenceModel(model_dir, warn=False)
    metadata = model.metadata
    if heatmap_dir is not None and not model.has_heatmap:
        raise ValueError(
            f"{model_dir}: this '{metadata.get('model')}' model has no heatmap signature "
            "(only patch classifiers have one); drop --heatmap."
        )
    files, skipped, failures = collect_files(paths)
    segmentation = model.segmentation
    class_names = model.class_names
    if verbose:
        _warn(model_dir, model.model_warnings)
    rows: list[dict[str, Any]] = []
    used_stems: dict[str, int] = {}
    for path in files:
        try:
            model_input = model.read(path, heatmap=heatmap_dir is not None, prepared=prepared)
        except (ImageReadError, InputError) as err:
            failures.append({"path": str(path), "error": err.reason})
            continue
        except (OSError, ValueError) as err:
            failures.append({"path": str(path), "error": f"{type(err).__name__}: {err}"})
            continue
        if verbose:
            _warn(path, model_input.warnings)
        try:
            prediction = model.predict(model_input)
        except (tf.errors.OpError, ValueError) as err:
            message = getattr(err, "message", str(err)).strip().splitlines()[0]
            failures.append({"path": str(path), "error": f"prediction failed: {message}"})
            continue
        rows.append(_row(path, prediction, class_names, segmentation))
        if heatmap_dir is not None:
            stem = path.stem
            used_stems[stem] = used_stems.get(stem, 0) + 1
            if used_stems[stem] > 1:
                stem = f"{stem}_{used_stems[stem]}"
            try:
                rows[-1]["heatmaps"] = _write_heatmaps(
                    model, model_input, Path(heatmap_dir), stem, heatmap_stride)
            except (tf.errors.OpError, ValueError) as err:
                message = getattr(err, "message", str(err)).strip().splitlines()[0]
                failures.append({"path": str(path), "error": f"heatmap failed: {message}"})
    if out_csv is not None:
        _write_csv(Path(out_csv), rows, class_names, segmentation)
    if verbose:
        print(_table(rows, class_names, segmentation))
        if skipped:
            print(f"Skipped {len(skipped)} file(s) without an image suffix in the folders "
                  f"given (e.g. {skipped[0]}).")
        for failure in failures:
            print(f"FAILED {failure['path']}: {failure['error']}")
        warned = sum(bool(r["warnings"]) for r in rows)
        print(f"Predicted {len(rows)} file(s); {len(failures)} failed."
              + (f" {warned} with warnings (see stderr and the warnings column)."
                 if warned else "")
              + (f" Wrote {out_csv}." if out_csv is not None else ""))
    return rows, failures


def _warn(name, reasons: Sequence[str]) -> None:
    for reason in reasons:
        print(f"keras-mia predict: warning: {name}: {reason}", file=sys.stderr)


def _row(path: Path, prediction: Prediction, class_names: list[str],
         segmentation: bool) -> dict:
    outputs = prediction.outputs
    row: dict[str, Any] = {"path": str(path)}
    if segmentation:
        row["predicted_positive"] = int(outputs["predicted_positive"])
        row["predicted_area"] = int(outputs["predicted_area"])
        row["max_probability"] = float(outputs["probabilities"].max())
    else:
        for name, value in zip(class_names, outputs["probabilities"]):
            row[f"prob_{name}"] = float(value)
        row["predicted_class"] = class_names[int(outputs["predicted_class"])]
    row["warnings"] = " | ".join(prediction.warnings)
    return row


def _write_heatmaps(model: InferenceModel, model_input, folder: Path, stem: str,
                    stride: int | None) -> list[str]:
    from keras_mia.evaluation.plots import plot_heatmap

    window = model.window
    if stride is None:
        stride = max(1, int(window[0]) // 4)
    maps = model.heatmap(model_input, stride)
    written = []
    for k, name in enumerate(model.class_names):
        written.append(str(plot_heatmap(
            model_input.whole, maps[..., k], folder / f"{stem}_{name}.png",
            patch_size=window, stride=int(stride), label=f"P({name})",
            title=f"{stem}: {name}",
        )))
    return written


def _columns(class_names: list[str], segmentation: bool) -> list[str]:
    if segmentation:
        return ["path", "predicted_positive", "predicted_area", "max_probability", "warnings"]
    return ["path"] + [f"prob_{name}" for name in class_names] + ["predicted_class", "warnings"]


def _write_csv(path: Path, rows: list[dict], class_names: list[str], segmentation: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = _columns(class_names, segmentation)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v)
                             for k, v in row.items()})


def _table(rows: list[dict], class_names: list[str], segmentation: bool) -> str:
    columns = _columns(class_names, segmentation)
    # The reasons are on stderr and in the CSV; the table counts them.
    cells = [[_cell(row.get(c)) if c != "warnings" else
              str(len(row["warnings"].split(" | ")) if row.get("warnings") else "")
              for c in columns] for row in rows]
    header = [c.removeprefix("prob_") for c in columns]
    widths = [max([len(header[i])] + [len(r[i]) for r in cells]) for i in range(len(columns))]
    widths[0] = min(widths[0], 60)
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        r[0] = r[0] if len(r[0]) <= 60 else "…" + r[0][-59:]
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)
