"""``keras-mia predict``: inference from an exported SavedModel alone.

Only ``tf.saved_model.load`` and ``keras_mia.io.read_image`` are used: no Keras model code,
no recipe, so an exported folder can be copied to a machine with TensorFlow and this
package's readers and used as is. Each file is read in original units and fed to the
``serving_default`` signature, which preprocesses it in-graph.

A file that cannot be read or predicted is reported by name with the reason and the others
are still predicted; the command exits non-zero when any failed. Files found by walking a
folder that do not look like images (``keras_mia.io.is_image_file``) are skipped and
counted.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from keras_mia.io.files import is_image_file

__all__ = ["collect_files", "load_serving_model", "predict_files"]


def collect_files(inputs: Sequence[str | Path]) -> tuple[list[Path], list[Path], list[dict]]:
    """Expands files and folders (recursively, sorted) into the files to predict.

    Args:
        inputs: files and folders. A named file is always predicted; in folders, the
            files ``keras_mia.io.is_image_file`` accepts are, and so is every file without
            a suffix (a DICOM file may lack the ``DICM`` marker; an unreadable one is
            reported as failed); hidden files and other suffixes are skipped.

    Returns:
        ``(files, skipped, failures)``: the files to predict, the files skipped in folders,
        and ``{"path", "error"}`` for inputs that do not exist.
    """
    files: list[Path] = []
    skipped: list[Path] = []
    failures: list[dict] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    candidate = Path(root) / name
                    if name.startswith(".") or not (
                        candidate.suffix == "" or is_image_file(candidate)
                    ):
                        skipped.append(candidate)
                    else:
                        files.append(candidate)
        elif path.is_file():
            files.append(path)
        else:
            failures.append({"path": str(path), "error": "no such file or folder"})
    return files, skipped, failures


def load_serving_model(model_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """Loads an exported SavedModel and its metadata.

    Returns:
        ``(loaded, metadata)``: the object from ``tf.saved_model.load`` and the decoded
        ``metadata`` signature's JSON.

    Raises:
        FileNotFoundError: ``model_dir`` holds no SavedModel.
        ValueError: it is a SavedModel but not one written by ``keras-mia export``.
    """
    import tensorflow as tf

    model_dir = Path(model_dir)
    if not (model_dir / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no saved_model.pb; expected a folder written by `keras-mia export`."
        )
    loaded = tf.saved_model.load(str(model_dir))
    if "metadata" not in loaded.signatures or "serving_default" not in loaded.signatures:
        raise ValueError(
            f"{model_dir}: the SavedModel has no 'metadata'/'serving_default' signatures; it was "
            f"not written by `keras-mia export`. Received signatures: {list(loaded.signatures)}"
        )
    raw = loaded.signatures["metadata"]()["metadata_json"].numpy()
    return loaded, json.loads(raw.decode("utf-8"))


def predict_files(
    model_dir: str | Path,
    paths: Sequence[str | Path],
    out_csv: str | Path | None = None,
    heatmap_dir: str | Path | None = None,
    *,
    heatmap_stride: int | None = None,
    verbose: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Predicts every image file with an exported SavedModel.

    Args:
        model_dir: the folder written by ``keras-mia export``.
        paths: image files and folders (walked recursively).
        out_csv: the CSV to write (``path``, one ``prob_<class>`` column per class,
            ``predicted_class``; segmentation: ``predicted_positive``, ``predicted_area``,
            ``max_probability``); ``None``: none.
        heatmap_dir: patch classifiers: write ``<file stem>_<class>.png`` heatmaps here.
        heatmap_stride: window stride of the heatmaps; ``None``: a quarter of the window.
        verbose: print the result table and the failures.

    Returns:
        ``(rows, failures)``: one dict per predicted file (the CSV's columns) and
        ``{"path", "error"}`` per file that could not be read or predicted. A caller exits
        non-zero when ``failures`` is not empty.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_serving_model`; ``heatmap_dir`` for a
            model without a ``heatmap`` signature.
    """
    import tensorflow as tf

    from keras_mia.io import ImageReadError, read_image

    loaded, metadata = load_serving_model(model_dir)
    if heatmap_dir is not None and "heatmap" not in loaded.signatures:
        raise ValueError(
            f"{model_dir}: this '{metadata.get('model')}' model has no heatmap signature "
            "(only patch classifiers have one); drop --heatmap."
        )
    serve = loaded.signatures["serving_default"]
    files, skipped, failures = collect_files(paths)
    segmentation = metadata.get("task") == "segmentation"
    class_names = list(metadata["class_names"])
    rows: list[dict[str, Any]] = []
    used_stems: dict[str, int] = {}
    for path in files:
        try:
            image = read_image(path)
        except ImageReadError as err:
            failures.append({"path": str(path), "error": err.reason})
            continue
        except (OSError, ValueError) as err:
            failures.append({"path": str(path), "error": f"{type(err).__name__}: {err}"})
            continue
        try:
            outputs = serve(images=tf.constant(image[None, :, :, None], tf.float32))
        except (tf.errors.OpError, ValueError) as err:
            message = getattr(err, "message", str(err)).strip().splitlines()[0]
            failures.append({"path": str(path), "error": f"prediction failed: {message}"})
            continue
        rows.append(_row(path, outputs, class_names, segmentation))
        if heatmap_dir is not None:
            stem = path.stem
            used_stems[stem] = used_stems.get(stem, 0) + 1
            if used_stems[stem] > 1:
                stem = f"{stem}_{used_stems[stem]}"
            try:
                rows[-1]["heatmaps"] = _write_heatmaps(
                    loaded, image, Path(heatmap_dir), stem, class_names,
                    metadata["model_input"][:2], heatmap_stride,
                )
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
        print(f"Predicted {len(rows)} file(s); {len(failures)} failed."
              + (f" Wrote {out_csv}." if out_csv is not None else ""))
    return rows, failures


def _row(path: Path, outputs: dict, class_names: list[str], segmentation: bool) -> dict:
    row: dict[str, Any] = {"path": str(path)}
    if segmentation:
        probabilities = outputs["probabilities"].numpy()[0]
        row["predicted_positive"] = int(outputs["predicted_positive"].numpy()[0])
        row["predicted_area"] = int(outputs["predicted_area"].numpy()[0])
        row["max_probability"] = float(probabilities.max())
        return row
    probabilities = outputs["probabilities"].numpy()[0]
    for name, value in zip(class_names, probabilities):
        row[f"prob_{name}"] = float(value)
    row["predicted_class"] = class_names[int(outputs["predicted_class"].numpy()[0])]
    return row


def _write_heatmaps(loaded, image: np.ndarray, folder: Path, stem: str,
                    class_names: list[str], window: Sequence[int],
                    stride: int | None) -> list[str]:
    import tensorflow as tf

    from keras_mia.evaluation.plots import plot_heatmap

    heatmap_fn = loaded.signatures["heatmap"]
    if stride is None:
        stride = max(1, int(window[0]) // 4)
    result = heatmap_fn(image=tf.constant(image[:, :, None], tf.float32),
                        stride=tf.constant(int(stride), tf.int32))
    maps = result["heatmap"].numpy()
    written = []
    for k, name in enumerate(class_names):
        written.append(str(plot_heatmap(
            image, maps[..., k], folder / f"{stem}_{name}.png",
            patch_size=(int(window[0]), int(window[1])), stride=int(stride),
            label=f"P({name})", title=f"{stem}: {name}",
        )))
    return written


def _columns(class_names: list[str], segmentation: bool) -> list[str]:
    if segmentation:
        return ["path", "predicted_positive", "predicted_area", "max_probability"]
    return ["path"] + [f"prob_{name}" for name in class_names] + ["predicted_class"]


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
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
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
