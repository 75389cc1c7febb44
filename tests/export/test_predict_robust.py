"""``predict`` keeps every result: hostile file names, a killed run, a full disk.

Issue 14 section 4: one file name that is not UTF-8 used to fail the whole batch and leave
a CSV with only its header. Now every file gets its row, with its name in a printable
form; rows are on disk as soon as they are predicted; and a CSV that cannot be written
(a full disk: ``/dev/full``, or ``RLIMIT_FSIZE`` part way) loses no result.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from keras_mia.export.predict import predict_files, printable_name
from keras_mia.export.saved_model import export_run
from keras_mia.inference import InferenceModel
from keras_mia.io import write_png

CLASSES = ["openI_CXR", "openI_abd_xray"]
BAD = os.fsdecode(b"bad\xff.png")  # the byte 0xff is no UTF-8: a lone surrogate in Python
BROKEN = os.fsdecode(b"broken\xfe.png")
NEWLINE = "new\nline.png"

pytestmark = pytest.mark.skipif(sys.platform != "linux",
                                reason="file names of arbitrary bytes are a Linux case")


@pytest.fixture(scope="module")
def binary_export(binary_run, tmp_path_factory):
    return export_run(binary_run, tmp_path_factory.mktemp("robust_export") / "model")


@pytest.fixture
def hostile_folder(tmp_path):
    """``a.png`` and ``bad\\xff.png`` (the same pixels), ``new\\nline.png``, ``z.png`` and a
    corrupt ``broken\\xfe.png``."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "inputs"
    same = rng.integers(0, 256, (40, 40)).astype(np.float64)
    write_png(folder / "a.png", same, bit_depth=8)
    write_png(folder / BAD, same, bit_depth=8)
    write_png(folder / NEWLINE, rng.integers(0, 256, (40, 40)).astype(np.float64), bit_depth=8)
    write_png(folder / "z.png", rng.integers(0, 256, (40, 40)).astype(np.float64), bit_depth=8)
    (folder / BROKEN).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    return folder


def _read_csv(path):
    # Strict UTF-8: a name written with a lone surrogate would not even have been written.
    with open(path, newline="", encoding="utf-8", errors="strict") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name, shown", [
    ("plain/scan.dcm", "plain/scan.dcm"),
    ("über/乳房.png", "über/乳房.png"),
    (BAD, "bad\\xff.png"),
    (b"bad\xff.png", "bad\\xff.png"),
    (Path(NEWLINE), "new\\nline.png"),
    ("tab\there\x1b[31m.png", "tab\\there\\x1b[31m.png"),
])
def test_printable_name(name, shown):
    assert printable_name(name) == shown
    printable_name(name).encode("utf-8")  # never raises


def test_every_file_gets_its_row_whatever_its_name(binary_export, hostile_folder, tmp_path,
                                                   capsys):
    out_csv = tmp_path / "predictions.csv"
    rows, failures = predict_files(binary_export, [hostile_folder], out_csv)
    printed = capsys.readouterr()

    names = ["a.png", BAD, NEWLINE, "z.png"]
    assert [Path(r["path"]).name for r in rows] == names
    assert all(Path(r["path"]).is_file() for r in rows)  # the returned path reopens the file
    assert [f["path"] for f in failures] == [str(hostile_folder / BROKEN)]

    written = _read_csv(out_csv)
    assert [r["path"] for r in written] == [printable_name(hostile_folder / n) for n in names]
    assert written[1]["path"].endswith("/bad\\xff.png")
    by_name = {Path(r["path"]).name: r for r in rows}
    for row, name in zip(written, names):
        for c in CLASSES:
            assert float(row[f"prob_{c}"]) == pytest.approx(by_name[name][f"prob_{c}"], abs=1e-7)
    # The same pixels under a hostile name get the same probabilities.
    assert written[0]["prob_openI_CXR"] == written[1]["prob_openI_CXR"]

    out = printed.out
    assert "bad\\xff.png" in out and "new\\nline.png" in out
    assert f"FAILED {printable_name(hostile_folder / BROKEN)}:" in out
    table = out.split("FAILED")[0].strip().splitlines()
    assert len(table) == 2 + len(names)  # header, rule, one line per file
    assert "Predicted 4 file(s); 1 failed. Wrote" in out


def test_a_bytes_path_is_accepted(binary_export, hostile_folder):
    rows, failures = predict_files(
        binary_export, [os.fsencode(hostile_folder / BAD)], verbose=False)
    assert failures == [] and [Path(r["path"]).name for r in rows] == [BAD]


def test_each_row_is_on_disk_before_the_next_file_is_predicted(
        binary_export, hostile_folder, tmp_path, monkeypatch):
    out_csv = tmp_path / "predictions.csv"
    on_disk = []
    predict = InferenceModel.predict

    def predict_and_look(self, model_input):
        # What another process (or a reader after kill -9) sees at this instant.
        on_disk.append(len(_read_csv(out_csv)))
        return predict(self, model_input)

    monkeypatch.setattr(InferenceModel, "predict", predict_and_look)
    rows, _ = predict_files(binary_export, [hostile_folder], out_csv, verbose=False)
    assert on_disk == [0, 1, 2, 3]
    assert len(_read_csv(out_csv)) == len(rows) == 4


def test_a_full_disk_loses_no_result(binary_export, hostile_folder, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    rows, failures = predict_files(binary_export, [hostile_folder], "/dev/full")
    printed = capsys.readouterr()
    assert len(rows) == 4
    assert failures[-1]["path"] == "/dev/full"
    assert "could not write the predictions CSV (No space left on device)" in failures[-1]["error"]
    assert "it holds 0 of the 4 result row(s)" in failures[-1]["error"]
    error_lines = [line for line in printed.err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and "/dev/full" in error_lines[0]
    assert "every result is printed to stdout as CSV" in error_lines[0]
    # Every result, at full precision, on stdout as CSV.
    dump = printed.out[printed.out.index("path,prob_openI_CXR"):]
    dumped = list(csv.DictReader(dump.splitlines()))
    assert [r["path"] for r in dumped] == [printable_name(r["path"]) for r in rows]
    for line, row in zip(dumped, rows):
        assert float(line["prob_openI_CXR"]) == pytest.approx(row["prob_openI_CXR"], abs=1e-7)


_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    from keras_mia.export.predict import predict_files
    from keras_mia.inference import InferenceModel

    model_dir, folder, out_csv = sys.argv[1:4]
    # The disk "fills up" once the first row is written: no byte more can be written to
    # any file (EFBIG), as on a full disk; SIGXFSZ would kill the process instead.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    predict, calls = InferenceModel.predict, []

    def predict_then_fill(self, model_input):
        calls.append(1)
        if len(calls) == 2:
            size = os.path.getsize(out_csv)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        return predict(self, model_input)

    InferenceModel.predict = predict_then_fill
    rows, failures = predict_files(model_dir, [folder], out_csv)
    print("RESULT " + json.dumps({"rows": [r["prob_openI_CXR"] for r in rows],
                                  "failures": failures}))
    """
)


def test_a_disk_full_part_way_keeps_the_rows_written_and_prints_all(
        binary_export, hostile_folder, tmp_path):
    out_csv = tmp_path / "predictions.csv"
    done = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT, str(binary_export), str(hostile_folder),
         str(out_csv)],
        capture_output=True, text=True, timeout=240,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ")[-1])
    assert len(result["rows"]) == 4
    csv_failure = result["failures"][-1]
    assert csv_failure["path"] == str(out_csv)
    assert "File too large" in csv_failure["error"]
    assert "it holds 1 of the 4 result row(s)" in csv_failure["error"]
    # The file keeps its header and the row written before the disk filled, intact.
    written = _read_csv(out_csv)
    assert [r["path"] for r in written] == [str(hostile_folder / "a.png")]
    assert float(written[0]["prob_openI_CXR"]) == pytest.approx(result["rows"][0], abs=1e-7)
    assert f"keras-mia predict: error: {out_csv}: could not write" in done.stderr
    dump = done.stdout[done.stdout.index("path,prob_openI_CXR"):].split("RESULT ")[0]
    dumped = list(csv.DictReader(dump.splitlines()))
    assert [float(r["prob_openI_CXR"]) for r in dumped] == pytest.approx(result["rows"],
                                                                         abs=1e-7)


def test_an_output_that_is_a_folder_is_refused_before_loading(tmp_path):
    # tmp_path holds no model: the output is checked first.
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name"):
        predict_files(tmp_path, [tmp_path], out_csv=tmp_path, verbose=False)
    (tmp_path / "maps").write_text("")
    with pytest.raises(NotADirectoryError, match="heatmap folder .* is a file"):
        predict_files(tmp_path, [tmp_path], heatmap_dir=tmp_path / "maps", verbose=False)


def test_an_output_that_cannot_be_created_is_refused_before_predicting(
        binary_export, hostile_folder, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    calls = []
    monkeypatch.setattr(InferenceModel, "predict", lambda *a: calls.append(1))
    with pytest.raises(OSError, match="cannot create the output CSV .*give a writable --out"):
        predict_files(binary_export, [hostile_folder], tmp_path / "file" / "p.csv",
                      verbose=False)
    assert calls == []
