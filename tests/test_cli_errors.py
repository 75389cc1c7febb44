"""The command line's error boundary: a user's mistake is one line on stderr and exit 2.

Most cases run in-process through ``keras_mia.cli.main``; one runs ``python -m
keras_mia.cli`` so that TensorFlow really starts and its C++ start-up lines could show.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from keras_mia import cli, errors
from keras_mia.data.manifest import Manifest, ManifestError
from keras_mia.synth import generate

TINY = ["--set", "model.options.weights=null", "--set", "data.image_size=[32,32]"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A tiny hello_world set, broken copies of its manifest and some obstacles."""
    root = tmp_path_factory.mktemp("cli_errors")
    manifest = generate("hello_world", root / "hw", n=12, seed=0, image_size=32)
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))

    def write(name, rows, drop=None):
        columns = [c for c in rows[0] if c != drop]
        with open(root / "hw" / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    write("no_label.csv", rows, drop="label")
    write("no_split.csv", rows, drop="split")
    write("one_class.csv", [dict(r, label="openI_CXR") for r in rows])
    train_row = next(i for i, r in enumerate(rows) if r["split"] == "train")
    write("unknown_label.csv",
          [dict(r, label="chest") if i == train_row else r for i, r in enumerate(rows)])
    (root / "nonempty").mkdir()
    (root / "nonempty" / "keep.txt").write_text("x")
    (root / "a_file.txt").write_text("x")
    (root / "a_folder").mkdir()
    (root / "run").mkdir()  # only what the command line checks before TensorFlow starts
    (root / "run" / "config.yaml").write_text("name: hello_world\n")
    return root


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"keras-mia {command}: error: "), err
    return lines[0]


# (id, argv with {root} / {tmp} placeholders, fragments the line must contain,
#  a path under {tmp} that must not have been created)
MISTAKES = [
    ("synth_into_non_empty_folder", ["synth", "hello_world", "{root}/nonempty"],
     ["not empty", "nonempty"], None),
    ("synth_unknown_recipe", ["synth", "no_such_recipe", "{tmp}/out"],
     ["Unknown synthetic recipe", "'no_such_recipe'", "hello_world"], "out"),
    ("synth_n_0", ["synth", "hello_world", "{tmp}/out", "--n", "0"],
     ["n=0", "--n 12"], "out"),
    ("synth_mammo_too_few", ["synth", "mammo", "{tmp}/out", "--n", "24"],
     ["n=24", "n >= 29", "--n 29"], "out"),
    ("train_missing_column", ["train", "hello_world", "--manifest", "{root}/hw/no_label.csv",
                              "--out", "{tmp}/run", *TINY],
     ["no_label.csv", "missing required column", "'label'"], "run"),
    ("train_no_split_column", ["train", "hello_world", "--manifest",
                               "{root}/hw/no_split.csv", "--out", "{tmp}/run", *TINY],
     ["no_split.csv", "'split' column"], "run"),
    ("train_one_class", ["train", "hello_world", "--manifest", "{root}/hw/one_class.csv",
                         "--out", "{tmp}/run", *TINY],
     ["one_class.csv", "only one class", "'openI_CXR'"], "run"),
    ("train_unknown_label", ["train", "hello_world", "--manifest",
                             "{root}/hw/unknown_label.csv", "--out", "{tmp}/run", *TINY],
     ["unknown_label.csv", "line ", "'chest'", "data.classes"], "run"),
    ("train_missing_manifest", ["train", "hello_world", "--manifest", "{tmp}/nowhere.csv",
                                "--out", "{tmp}/run", *TINY],
     ["nowhere.csv", "not found"], "run"),
    ("train_out_is_a_file", ["train", "hello_world", "--manifest", "{root}/hw/manifest.csv",
                             "--out", "{root}/a_file.txt", *TINY],
     ["a_file.txt", "existing file"], None),
    ("export_out_is_a_file", ["export", "{root}/run", "--out", "{root}/a_file.txt"],
     ["a_file.txt", "existing file"], None),
    ("export_not_a_run", ["export", "{root}/hw", "--out", "{tmp}/model"],
     ["config.yaml", "keras-mia train"], "model"),
    ("evaluate_not_a_run", ["evaluate", "{tmp}/nowhere"], ["config.yaml"], None),
    ("predict_not_a_model", ["predict", "{root}/run", "{root}/hw"],
     ["saved_model.pb", "keras-mia export"], None),
    ("predict_out_is_a_folder", ["predict", "{root}/hw", "{root}/hw", "--out",
                                 "{root}/a_folder"],
     ["a_folder", "is a folder", "predictions.csv"], None),
]


@pytest.mark.parametrize("argv, fragments, not_created",
                         [pytest.param(*case[1:], id=case[0]) for case in MISTAKES])
def test_mistake_is_one_line_and_exit_2(root, tmp_path, capsys, argv, fragments,
                                        not_created):
    argv = [a.format(root=root, tmp=tmp_path) for a in argv]
    assert cli.main(argv) == 2
    line = _one_error_line(capsys, argv[0])
    for fragment in fragments:
        assert fragment in line, line
    if not_created:
        assert not (tmp_path / not_created).exists()


def test_every_mistake_is_found_before_tensorflow_starts(root, tmp_path):
    calls = [[a.format(root=root, tmp=tmp_path / case[0]) for a in case[1]]
             for case in MISTAKES]
    probe = ("import json, sys; from keras_mia.cli import main; "
             "codes = [main(argv) for argv in json.loads(sys.argv[1])]; "
             "print(json.dumps(codes)); sys.exit(10 if 'tensorflow' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", probe, json.dumps(calls)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [2] * len(MISTAKES)
    assert len(result.stderr.strip().splitlines()) == len(MISTAKES), result.stderr


def _raiser(err):
    def fail(*args, **kwargs):
        raise err
    return fail


# (id, target to patch, the error (built from the output folder), fragments)
STORAGE = [
    # A write on an open file does not know its name: the command's output folder is named.
    ("full_disk_without_a_name", "PIL.Image.Image.save",
     lambda out: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
     ["no space left", "under '{out}'", "run the command again"]),
    ("full_disk_writing_the_manifest", "keras_mia.synth.hello_world.write_manifest_csv",
     lambda out: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{out}/manifest.csv"),
     ["no space left", "'{out}/manifest.csv'"]),
    ("read_only_file_system", "keras_mia.synth.hello_world.prepare_out_dir",
     lambda out: OSError(errno.EROFS, os.strerror(errno.EROFS), str(out)),
     ["read-only file system", "'{out}'", "writable"]),
    ("permission_denied", "keras_mia.synth.hello_world.prepare_out_dir",
     lambda out: PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out)),
     ["permission denied", "'{out}'"]),
    ("quota_exceeded", "PIL.Image.Image.save",
     lambda out: OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), f"{out}/x.png"),
     ["quota exceeded", "'{out}/x.png'"]),
]


@pytest.mark.parametrize("target, make_error, fragments",
                         [pytest.param(*case[1:], id=case[0]) for case in STORAGE])
def test_full_disk_and_read_only_are_one_line(tmp_path, capsys, monkeypatch, target,
                                              make_error, fragments):
    out = tmp_path / "data"
    monkeypatch.setattr(target, _raiser(make_error(out)))
    assert cli.main(["synth", "hello_world", str(out), "--n", "12"]) == 2
    line = _one_error_line(capsys, "synth")
    for fragment in fragments:
        assert fragment.format(out=out) in line, line


def test_train_on_a_full_disk_names_the_file(root, tmp_path, capsys, monkeypatch):
    # A stand-in engine whose save fails: the real one would start TensorFlow for nothing.
    best = tmp_path / "run" / "best.keras"
    engine = types.ModuleType("keras_mia.training.engine")
    engine.train = _raiser(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(best)))
    monkeypatch.setitem(sys.modules, "keras_mia.training.engine", engine)
    argv = ["train", "hello_world", "--manifest", str(root / "hw" / "manifest.csv"),
            "--out", str(tmp_path / "run"), *TINY]
    assert cli.main(argv) == 2
    assert f"'{best}'" in _one_error_line(capsys, "train")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root is not restricted by folder permissions")
def test_synth_into_a_read_only_folder(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["synth", "hello_world", str(locked / "data"), "--n", "12"]) == 2
    finally:
        locked.chmod(0o700)
    line = _one_error_line(capsys, "synth")
    assert "permission denied" in line and str(locked / "data") in line


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch):
    import keras_mia.synth

    argv = ["synth", "hello_world", str(tmp_path / "out")]
    monkeypatch.setattr(keras_mia.synth, "generate", _raiser(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(argv)
    # A ValueError from outside keras_mia (here: this test module) is a bug too ...
    monkeypatch.setattr(keras_mia.synth, "generate", _raiser(ValueError("not ours")))
    with pytest.raises(ValueError, match="not ours"):
        cli.main(argv)
    # ... and so is an OSError that is not about the disk or permissions.
    monkeypatch.setattr(keras_mia.synth, "generate", _raiser(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError):
        cli.main(argv)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_prints_the_traceback_too(root, capsys, where):
    argv = ["synth", "hello_world", str(root / "nonempty")]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "FileExistsError" in err
    assert err.strip().splitlines()[-1].startswith("keras-mia synth: error: ")


def test_multi_line_messages_become_one_line(tmp_path):
    assert errors.one_line("2 problem(s):\n  line 2: a\n\n  line 3: b\n") == (
        "2 problem(s): line 2: a; line 3: b")
    assert errors.one_line("head\n" + "\n".join(f"d{i}" for i in range(13)),
                           max_details=2) == "head: d0; d1; and 11 more"
    bad = tmp_path / "bad.csv"
    bad.write_text("image_path,patient_id\na.png,P1\n")
    with pytest.raises(ManifestError) as caught:
        Manifest.load(bad)
    assert "\n" in str(caught.value)
    message = errors.user_message(caught.value)
    assert "\n" not in message and "missing required column" in message


@pytest.mark.parametrize("err, words", [
    # h5py's wording of a failed write (Keras saving best.keras on a full disk).
    (OSError("Can't write data (file write failed: filename = '/r/best.keras', errno = 28, "
             "error message = 'No space left on device')"), "no space left"),
    # TensorFlow's file errors carry the system's text only.
    (RuntimeError("/r/saved_model/variables/variables.data-00000-of-00001; Read-only file "
                  "system"), "read-only file system"),
])
def test_library_worded_storage_errors_are_recognised(err, words):
    message = errors.user_message(err, output="/r")
    assert message is not None and message.startswith(words), message
    assert "/r/" in message
    assert errors.user_message(RuntimeError("Read-only access requested")) is None


def test_imagenet_download_failure_is_one_line_without_tensorflow_chatter(root, tmp_path):
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"), PYTHONUNBUFFERED="1")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command line's own default must hold
    # No network: every download goes through a proxy on a port nobody listens on.
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        env[name] = "http://127.0.0.1:9"
    for name in ("no_proxy", "NO_PROXY"):
        env[name] = ""
    argv = [sys.executable, "-m", "keras_mia.cli", "train", "hello_world", "--manifest",
            str(root / "hw" / "manifest.csv"), "--out", str(tmp_path / "run"),
            "--set", "data.image_size=[75,75]", "--set", "training.epochs=1"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    line = lines[0]
    assert line.startswith("keras-mia train: error: Could not download the ImageNet weights")
    assert str(tmp_path / "keras_home" / "models") in line
    assert "--set model.options.weights=null" in line
