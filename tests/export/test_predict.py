"""Tests for keras_mia.export.predict: inference from the SavedModel alone."""

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_mia.data.pipeline import preprocess_image
from keras_mia.evaluation.evaluate import load_run_model
from keras_mia.export.predict import collect_files, predict_files
from keras_mia.export.saved_model import export_run
from keras_mia.heatmaps import preprocess_whole_image, sliding_window_heatmap
from keras_mia.io import read_image, write_dicom, write_png
from keras_mia.recipes import load_recipe

CLASSES = ["0_background", "1_malignant_calcification", "2_benign_calcification",
           "3_malignant_mass", "4_benign_mass"]


@pytest.fixture(scope="module")
def patch_export(patch_run, tmp_path_factory):
    return export_run(patch_run, tmp_path_factory.mktemp("patch_export") / "model")


@pytest.fixture
def mixed_folder(tmp_path):
    """A 16-bit MONOCHROME1 DICOM (no suffix), a 16-bit PNG, a corrupt file, a text file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "inputs"
    write_dicom(folder / "scan_dicom", rng.integers(0, 40000, (40, 36)).astype(np.uint16),
                modality="MG", photometric="MONOCHROME1", study_date="20240101")
    write_png(folder / "nested" / "patch16.png",
              rng.integers(0, 65536, (48, 48)).astype(np.float64), bit_depth=16)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    (folder / "notes.txt").write_text("not an image")
    return folder


def _expected(run, path):
    """The Keras model on the tf.data preprocessing of read_image's pixels."""
    config = load_recipe(run / "config.yaml")
    model = load_run_model(run / "best.keras")
    image = preprocess_image(read_image(path), config.data)
    return keras.ops.convert_to_numpy(model(image[None], training=False))[0]


def test_mixed_folder_names_the_corrupt_file_and_predicts_the_others(
        patch_run, patch_export, mixed_folder, tmp_path, capsys):
    out_csv = tmp_path / "predictions.csv"
    rows, failures = predict_files(patch_export, [mixed_folder], out_csv)
    printed = capsys.readouterr().out
    assert [f["path"] for f in failures] == [str(mixed_folder / "broken.png")]
    assert "broken.png" in printed and "FAILED" in printed
    assert "Skipped 1 file(s)" in printed  # notes.txt
    with open(out_csv, newline="") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == (["path"] + [f"prob_{c}" for c in CLASSES]
                                + ["predicted_class", "warnings"])
    # The synthetic patch set has no preparation record: said once per row, not applied.
    assert all("no preparation record" in r["warnings"] for r in written)
    # A folder's own files first, then its sub-folders, each sorted by name.
    assert [r["path"] for r in written] == [str(mixed_folder / "scan_dicom"),
                                            str(mixed_folder / "nested" / "patch16.png")]
    for row in written:
        probabilities = np.array([float(row[f"prob_{c}"]) for c in CLASSES])
        np.testing.assert_allclose(probabilities, _expected(patch_run, row["path"]), atol=1e-4)
        assert row["predicted_class"] == CLASSES[int(probabilities.argmax())]
        assert Path(row["path"]).name in printed


def test_inputs_that_do_not_exist_are_failures(patch_export, mixed_folder):
    rows, failures = predict_files(
        patch_export, [mixed_folder / "nested" / "patch16.png", mixed_folder / "missing.dcm"],
        verbose=False)
    assert len(rows) == 1
    assert failures == [{"path": str(mixed_folder / "missing.dcm"),
                         "error": "no such file or folder"}]


def test_collect_files_walks_folders_sorted(mixed_folder):
    (mixed_folder / ".hidden.png").write_bytes(b"")
    files, skipped, failures = collect_files([mixed_folder])
    assert [f.name for f in files] == ["broken.png", "scan_dicom", "patch16.png"]
    assert sorted(p.name for p in skipped) == [".hidden.png", "notes.txt"]
    assert failures == []


def test_collect_files_finds_dicom_files_named_by_uid(tmp_path):
    write_dicom(tmp_path / "1.2.840.113619.2.55.3.604688", np.zeros((4, 4), np.uint16))
    (tmp_path / "backup.bak").write_bytes(b"x")
    files, skipped, _ = collect_files([tmp_path])
    assert [f.name for f in files] == ["1.2.840.113619.2.55.3.604688"]
    assert [p.name for p in skipped] == ["backup.bak"]


def test_heatmaps_for_a_patch_model(patch_run, patch_export, tmp_path):
    rng = np.random.default_rng(1)
    whole = rng.integers(0, 65536, (80, 64)).astype(np.float64)
    write_png(tmp_path / "in" / "mammogram.png", whole, bit_depth=16)
    write_png(tmp_path / "in" / "tiny.png", whole[:16, :16], bit_depth=16)
    rows, failures = predict_files(patch_export, [tmp_path / "in"], heatmap_dir=tmp_path / "hm",
                                   heatmap_stride=8, verbose=False)
    # The image smaller than a window is predicted (resized), but has no heatmap.
    assert len(rows) == 2
    assert [f["path"] for f in failures] == [str(tmp_path / "in" / "tiny.png")]
    assert "heatmap failed" in failures[0]["error"]
    written = sorted(p.name for p in (tmp_path / "hm").iterdir())
    assert written == sorted(f"mammogram_{c}.png" for c in CLASSES)
    assert all((tmp_path / "hm" / name).stat().st_size > 5000 for name in written)

    # The in-graph heatmap signature is the sliding window of the Keras model.
    loaded = tf.saved_model.load(str(patch_export))
    served = loaded.signatures["heatmap"](image=tf.constant(whole[:, :, None], tf.float32),
                                          stride=tf.constant(8))
    config = load_recipe(patch_run / "config.yaml")
    expected = sliding_window_heatmap(load_run_model(patch_run / "best.keras"),
                                      preprocess_whole_image(whole, config.data), stride=8)
    assert served["heatmap"].shape == expected.shape == ((80 - 32) // 8 + 1, (64 - 32) // 8 + 1, 5)
    np.testing.assert_allclose(served["heatmap"].numpy(), expected, atol=1e-4)


def test_heatmap_needs_a_patch_model(binary_run, tmp_path):
    out = export_run(binary_run, tmp_path / "model")
    with pytest.raises(ValueError, match="no heatmap signature"):
        predict_files(out, [tmp_path], heatmap_dir=tmp_path / "hm", verbose=False)


def test_not_a_saved_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        predict_files(tmp_path, [tmp_path], verbose=False)


_ISOLATED = textwrap.dedent("""
    import json, sys
    from keras_mia.export.predict import predict_files
    rows, failures = predict_files(sys.argv[1], [sys.argv[2]], verbose=False)
    model_code = [m for m in sys.modules if m.startswith((
        "keras_mia.models", "keras_mia.training", "keras_mia.recipes", "keras_mia.heatmaps",
        "keras_mia.evaluation.evaluate", "keras_mia.data.pipeline"))]
    print(json.dumps({"rows": len(rows), "failures": len(failures), "model_code": model_code}))
""")


def test_predict_loads_no_model_code(patch_export, mixed_folder):
    result = subprocess.run([sys.executable, "-c", _ISOLATED, str(patch_export),
                             str(mixed_folder)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"rows": 2, "failures": 1, "model_code": []}
