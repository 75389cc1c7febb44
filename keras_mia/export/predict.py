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

Every result is kept. A file name that is not valid UTF-8 (``bad\xff.png`` on Linux) or
holds control characters is written in a printable, escaped form (:func:`printable_name`) in
the CSV, the table and the messages; the CSV is written row by row and flushed, so a killed
run leaves every row computed so far; a failure writing the CSV (a full disk) stops only the
CSV: the prediction goes on, the file and the reason are named on stderr, every result is
printed to stdout in CSV form, and the failure is returned with the others.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

from keras_mia.inference import (
    InferenceModel,
    InputError,
    Prediction,
    collect_files,
    load_serving_model,
)

__all__ = ["collect_files", "load_serving_model", "predict_files", "printable_name"]


def predict_files(
    model_dir: str | Path,
    paths: Sequence[str | bytes | os.PathLike],
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
        paths: image files and folders (walked recursively); ``bytes`` paths are decoded
            with ``os.fsdecode``.
        out_csv: the CSV to write (``path``, one ``prob_<class>`` column per class,
            ``predicted_class``; segmentation: ``predicted_positive``, ``predicted_area``,
            ``max_probability``; then ``warnings``), one row per predicted file, written and
            flushed as each file is predicted; ``None``: none. ``path`` is the file's name in
            printable form (:func:`printable_name`).
        heatmap_dir: patch classifiers: write ``<file stem>_<class>.png`` heatmaps here (of
            the prepared whole image when the model's training data was prepared).
        heatmap_stride: window stride of the heatmaps; ``None``: a quarter of the window.
        prepared: the files were written by ``keras-mia prepare`` already: feed them as
            read, without preparing them again.
        verbose: print the result table, the warnings (stderr) and the failures; when the
            CSV could not be written, also every result in CSV form.

    Returns:
        ``(rows, failures)``: one dict per predicted file (the CSV's columns, with ``path``
        the file's own name, which reopens it) and ``{"path", "error"}`` per file that could
        not be read or predicted, plus a last one for ``out_csv`` when writing it failed
        (the results are then in ``rows`` and, with ``verbose``, on stdout). A caller exits
        non-zero when ``failures`` is not empty.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_serving_model`; ``heatmap_dir`` for a
            model without a ``heatmap`` signature.
        IsADirectoryError: ``out_csv`` is a folder.
        NotADirectoryError: ``heatmap_dir`` is a file.
        OSError: ``out_csv`` cannot be created (checked before any file is predicted).
    """
    if out_csv is not None and Path(out_csv).is_dir():
        raise IsADirectoryError(
            f"the output CSV {printable_name(out_csv)} is a folder; give a file name such "
            f"as {printable_name(Path(out_csv) / 'predictions.csv')}."
        )
    if heatmap_dir is not None and Path(heatmap_dir).exists() and not Path(heatmap_dir).is_dir():
        raise NotADirectoryError(
            f"the heatmap folder {printable_name(heatmap_dir)} is a file; give a folder."
        )
    import tensorflow as tf

    from keras_mia.io import ImageReadError

    model = InferenceModel(model_dir, warn=False)
    metadata = model.metadata
    if heatmap_dir is not None and not model.has_heatmap:
        raise ValueError(
            f"{model_dir}: this '{metadata.get('model')}' model has no heatmap signature "
            "(only patch classifiers have one); drop --heatmap."
        )
    files, skipped, failures = collect_files(
        [os.fsdecode(p) if isinstance(p, bytes) else p for p in paths])
    segmentation = model.segmentation
    class_names = model.class_names
    columns = _columns(class_names, segmentation)
    if verbose:
        _warn(model_dir, model.model_warnings)
        if heatmap_dir is not None and model.heatmap_note:
            print(f"keras-mia predict: note: {model.heatmap_note}", file=sys.stderr)
    writer = None if out_csv is None else _CsvWriter(Path(out_csv), columns)
    rows: list[dict[str, Any]] = []
    used_stems: dict[str, int] = {}
    try:
        for path in files:
            try:
                model_input = model.read(path, heatmap=heatmap_dir is not None,
                                         prepared=prepared)
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
            if writer is not None:
                writer.write(rows[-1])
            if heatmap_dir is not None:
                stem = path.stem
                used_stems[stem] = used_stems.get(stem, 0) + 1
                if used_stems[stem] > 1:
                    stem = f"{stem}_{used_stems[stem]}"
                try:
                    rows[-1]["heatmaps"] = _write_heatmaps(
                        model, model_input, Path(heatmap_dir), stem, heatmap_stride)
                except (tf.errors.OpError, ValueError, OSError) as err:
                    message = getattr(err, "message", None) or str(err) or type(err).__name__
                    failures.append({"path": str(path),
                                     "error": f"heatmap failed: {message.strip().splitlines()[0]}"})
    finally:
        if writer is not None:
            writer.close()
    failed_files = len(failures)
    if writer is not None and writer.error is not None:
        failures.append({"path": str(out_csv), "error": writer.failure_message(len(rows))})
    if verbose:
        print(_table(rows, class_names, segmentation))
        if skipped:
            print(f"Skipped {len(skipped)} file(s) without an image suffix in the folders "
                  f"given (e.g. {printable_name(skipped[0])}).")
        for failure in failures[:failed_files]:
            print(f"FAILED {printable_name(failure['path'])}: {printable_name(failure['error'])}")
        warned = sum(bool(r["warnings"]) for r in rows)
        wrote = ""
        if writer is not None:
            wrote = (f" Wrote {printable_name(out_csv)}." if writer.error is None else
                     f" Could not write {printable_name(out_csv)}: every result follows as CSV.")
        print(f"Predicted {len(rows)} file(s); {failed_files} failed."
              + (f" {warned} with warnings (see stderr and the warnings column)."
                 if warned else "") + wrote)
        if writer is not None and writer.error is not None:
            print(f"keras-mia predict: error: {printable_name(out_csv)}: "
                  f"{writer.failure_message(len(rows))}; every result is printed to stdout "
                  "as CSV; free space or give another --out and run again.", file=sys.stderr)
            text = io.StringIO()
            _write_rows(text, columns, rows)
            sys.stdout.write(text.getvalue())
            sys.stdout.flush()
    return rows, failures


def printable_name(name: str | bytes | os.PathLike) -> str:
    """A file name (or message) as printable text that any UTF-8 stream accepts.

    A name that is not valid UTF-8 reaches Python with its undecodable bytes as lone
    surrogates (``os.fsdecode``'s ``surrogateescape``), which a UTF-8 CSV or terminal
    refuses; each such byte is written ``\\xNN`` (``bad\\xff.png``), and control characters
    (a newline, an escape sequence) are written as Python escapes (``\\n``, ``\\x1b``) so
    that one file stays one line. Printable names are returned unchanged.

    Args:
        name: a path (``str``, ``bytes`` or path-like) or a message holding one.

    Returns:
        The printable text.
    """
    text = os.fsdecode(name) if isinstance(name, (bytes, os.PathLike)) else str(name)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)


def _warn(name, reasons: Sequence[str]) -> None:
    for reason in reasons:
        print(f"keras-mia predict: warning: {printable_name(name)}: {printable_name(reason)}",
              file=sys.stderr)


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
            title=f"{printable_name(stem)}: {name}",
        )))
    return written


def _columns(class_names: list[str], segmentation: bool) -> list[str]:
    if segmentation:
        return ["path", "predicted_positive", "predicted_area", "max_probability", "warnings"]
    return ["path"] + [f"prob_{name}" for name in class_names] + ["predicted_class", "warnings"]


def _csv_cells(row: dict, columns: list[str]) -> list[str]:
    return [printable_name(v) if isinstance(v, str) else
            f"{v:.8g}" if isinstance(v, float) else "" if v is None else str(v)
            for v in (row.get(c) for c in columns)]


def _write_rows(stream: TextIO, columns: list[str], rows: list[dict]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_csv_cells(row, columns))


class _CsvWriter:
    """The predictions CSV, one flushed row per predicted file.

    Flushing each row means a killed process leaves every row computed so far (the
    operating system keeps what was flushed); the file is opened up front so that an
    unwritable ``--out`` is refused before any file is predicted. A write error later (a
    full disk) is kept in ``error`` and ends the writing, not the prediction.
    """

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = columns
        self.error: OSError | None = None
        self.written = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", newline="", encoding="utf-8")
        except OSError as err:
            raise type(err)(
                err.errno, f"cannot create the output CSV {printable_name(path)} "
                f"({err.strerror}); give a writable --out") from None
        self._writer = csv.writer(self._file)
        self._put(columns)

    def _put(self, cells: list[str]) -> bool:
        if self.error is not None:
            return False
        try:
            self._writer.writerow(cells)
            self._file.flush()
        except OSError as err:
            self.error = err
            return False
        return True

    def write(self, row: dict) -> None:
        if self._put(_csv_cells(row, self.columns)):
            self.written += 1

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as err:
            # A failed flush on close is still a lost row: keep the first error.
            self.error = self.error or err

    def failure_message(self, computed: int) -> str:
        """Why the CSV is incomplete and how much of it holds: one line."""
        reason = (self.error.strerror or str(self.error)) if self.error is not None else ""
        return (f"could not write the predictions CSV ({reason}): it holds {self.written} "
                f"of the {computed} result row(s)")


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
    return "" if value is None else printable_name(str(value))
