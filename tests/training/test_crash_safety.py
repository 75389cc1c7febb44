"""Crash-safe runs (issue 14, section 1): a kill at any point of an epoch's writes, re-run.

Each ``train`` call below is killed at one step of the epoch-end sequence (best model,
history, backup, promotion of the best, pruning, the end of a stage) by making that step's
rename (or call) raise, as a kill at that instant would leave the files; the next call
resumes. At every resume and at the end, ``best.keras`` evaluated on the validation split
must give the monitor (and tie-break) value that ``history.csv`` says is the best, and
``history.csv`` must have exactly one row per epoch the backup has passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_mia.evaluation.evaluate import evaluate_run, load_run_model
from keras_mia.recipes import load_recipe
from keras_mia.training import resume
from keras_mia.training.checkpoint import best_epoch, read_best_record
from keras_mia.training.engine import train
from keras_mia.training.run_dir import RunDir
from keras_mia.config.typed import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_tiny_model import TINY_OVERRIDES  # noqa: E402

TRAINING_TESTS = str(Path(__file__).resolve().parent)
# Two stages (3 + 2 epochs) so that a kill at a stage's end is covered too.
STAGES = (
    "training.stages=[{name: head, trainable: head, optimizer: adam, learning_rate: 0.01, "
    "epochs: 3}, {name: all, trainable: all, optimizer: adam, learning_rate: 0.01, epochs: 2}]",
    "training.epochs=5",
)


class Killed(BaseException):
    """Stands for a kill: nothing in the engine or Keras catches a BaseException."""


def _config(manifest, *extra):
    return load_recipe(
        "hello_world",
        [f"manifest={manifest}", *TINY_OVERRIDES, "training.tensorboard=false", "data.augment={}",
         *extra],
    )


def _kill_at_rename(monkeypatch, name: str, nth: int = 1) -> None:
    """The ``nth`` rename onto a path called ``name`` (file or backup folder) is killed."""
    real = os.replace
    seen = []

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name:
            seen.append(dst)
            if len(seen) == nth:
                raise Killed(f"killed before renaming onto {dst}")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def _kill_in_prune(monkeypatch, nth: int = 1) -> None:
    real = resume.prune_backups
    calls = []

    def prune(folder, keep=2):
        calls.append(folder)
        if len(calls) == nth:
            raise Killed("killed before removing old backups")
        return real(folder, keep)

    monkeypatch.setattr(resume, "prune_backups", prune)


def _kill_in_rmtree(monkeypatch, name: str) -> None:
    import shutil

    real = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if Path(path).name == name:
            raise Killed(f"killed before removing {path}")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)


def _best_model_scores(run: RunDir) -> tuple[float, float]:
    """``best.keras`` on the validation split: (val_auc, val_loss) as training computes them."""
    from keras_mia.data.pipeline import build_dataset
    from keras_mia.training.compile import make_loss, make_metrics
    from keras_mia.training.engine import prepare_manifest

    config = load_recipe(run.config)
    manifest = prepare_manifest(config)
    dataset = build_dataset(manifest, config.data, split="val", training=False)
    labels = np.concatenate([np.asarray(y) for _, y in dataset])
    predictions = load_run_model(run.best_model).predict(dataset, verbose=0)
    auc = next(m for m in make_metrics(config.training.metrics, config.data, 2, 1)
               if m.name == "auc")
    auc.update_state(labels, predictions)
    loss = make_loss(config.training.loss, config.training.loss_options)(labels, predictions)
    return float(auc.result()), float(keras.ops.convert_to_numpy(loss))


def _assert_consistent(run: RunDir, epochs_done: int) -> None:
    """history.csv has one row per epoch done; best.keras is the model of its best row."""
    rows = resume.read_history(run.history)
    assert [int(r["epoch"]) for r in rows] == list(range(epochs_done))
    epoch, value, _ = best_epoch(rows, "val_auc", "max", "val_loss")
    record = read_best_record(run.best_model)
    assert record["epoch"] == epoch, (record, epoch)
    assert record["value"] == value
    auc, loss = _best_model_scores(run)
    best_row = rows[epoch - 1]
    assert auc == pytest.approx(float(best_row["val_auc"]), abs=1e-6)
    assert loss == pytest.approx(float(best_row["val_loss"]), rel=1e-4)


class _CheckOnResume(keras.callbacks.Callback):
    """At the first epoch of a call (after the run folder was reconciled) checks the files."""

    def __init__(self, run: RunDir):
        super().__init__()
        self.run, self.checked, self.epochs = run, None, 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.checked is None:
            if epoch:
                _assert_consistent(self.run, epoch)
            self.checked = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


# (what kills the call, the epoch the call resumes after: None when it trains no epoch)
KILLS = [
    # Epoch 1 of a fresh run is always a new best: the best-model steps are reached.
    (lambda mp: _kill_at_rename(mp, "best_pending.keras"), 0),  # while writing the best
    (lambda mp: _kill_at_rename(mp, "best.keras"), 0),  # backup written, best not promoted
    (lambda mp: _kill_at_rename(mp, "history.csv"), 1),  # new history row not written
    (lambda mp: _kill_at_rename(mp, "epoch_0002"), 1),  # history written, backup not
    (lambda mp: _kill_in_prune(mp), 1),  # everything written but the clean-up
    (lambda mp: _kill_at_rename(mp, "stage0_done.weights.h5"), 2),  # the end of stage 0
    (lambda mp: _kill_in_rmtree(mp, "stage0_backup"), None),  # stage 0 marked done
    (lambda mp: _kill_in_prune(mp, nth=2), 3),  # after stage 1's 2nd epoch: two backups
]


def test_a_kill_at_any_step_of_an_epoch_end_keeps_the_files_in_agreement(
    tmp_path, hello_world_manifest, capsys
):
    config = _config(hello_world_manifest, *STAGES)
    run = RunDir(tmp_path / "run")
    for kill, resumes_after in KILLS:
        with pytest.MonkeyPatch.context() as mp:
            kill(mp)
            check = _CheckOnResume(run)
            with pytest.raises(Killed):
                train(config, run.root, verbose=0, callbacks=[check])
        assert check.checked == resumes_after
    # The backup's best model is checked against the best.keras of the last epoch
    # (not the other way round): a damaged newest backup makes the run fall back.
    newest = run.backup(1, 5) / resume.WEIGHTS_FILE
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    capsys.readouterr()

    check = _CheckOnResume(run)
    result = train(config, run.root, verbose=0, callbacks=[check])
    out, err = capsys.readouterr()
    assert f"backup {run.backup(1, 5)} cannot be read" in err
    assert "resuming stage 1 after epoch 4" in out
    assert check.checked == 4 and check.epochs == 1 == result.epochs_run
    assert "(1 epoch this call)" in out
    _assert_consistent(run, 5)
    assert (result.best_epoch, result.best_value) == best_epoch(
        resume.read_history(run.history), "val_auc", "max", "val_loss")[:2]
    assert not run.best_pending.exists() and not run.stage_backup(1).exists()
    assert not [p for p in run.root.rglob(".*") if ".tmp" in p.name]

    metrics = evaluate_run(run.root, split="val", write_plots=False)
    assert metrics["model_record"]["epoch"] == result.best_epoch
    assert f"best.keras: epoch {result.best_epoch}, val_auc" in capsys.readouterr().out


_KILLED_MID_BACKUP = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from engine_tiny_model import TINY_OVERRIDES, register
    register()
    from keras_mia.recipes import load_recipe
    from keras_mia.training.engine import train

    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "epoch_0002":
            # A kill -9 half-way through writing the weights of epoch 2's backup.
            weights = Path(src) / "model.weights.h5"
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
            os._exit(17)
        return real(src, dst, *args, **kwargs)

    os.replace = replace
    config = load_recipe("hello_world", [
        "manifest={manifest}", *TINY_OVERRIDES, "training.tensorboard=false",
        "data.augment={{}}", "training.epochs=2",
    ])
    train(config, {run!r}, verbose=0)
    """
)


def test_a_hard_kill_while_writing_a_backup_resumes(tmp_path, hello_world_manifest, capsys):
    run = RunDir(tmp_path / "run")
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_MID_BACKUP.format(
        tests=TRAINING_TESTS, manifest=hello_world_manifest, run=str(run.root)))
    killed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert killed.returncode == 17, killed.stderr[-2000:]
    # What the kill left: a half-written hidden backup folder, and epoch 2's history row.
    assert [p.name for p in run.stage_backup(0).iterdir() if p.name.startswith(".")]
    assert len(resume.read_history(run.history)) == 2

    config = _config(hello_world_manifest, "training.epochs=2")
    check = _CheckOnResume(run)
    result = train(config, run.root, verbose=0, callbacks=[check])
    out = capsys.readouterr().out
    assert "resuming stage 0 after epoch 1" in out
    assert "dropped the row(s) of epoch(s) 2" in out
    assert check.checked == 1 and result.epochs_run == 1
    _assert_consistent(run, 2)


def test_a_failed_start_does_not_block_a_corrected_rerun(tmp_path, hello_world_manifest,
                                                         capsys):
    run = RunDir(tmp_path / "run")
    # Too small for the tiny model's two strided convolutions: the build fails after the
    # run folder got its config.yaml.
    with pytest.raises(ConfigError, match="model: "):
        train(_config(hello_world_manifest, "data.image_size=[4, 4]"), run.root, verbose=0)
    assert run.config.is_file() and not run.history.exists()
    result = train(_config(hello_world_manifest, "training.epochs=1"), run.root, verbose=0)
    assert "never finished an epoch; replaced by this configuration" in capsys.readouterr().out
    assert result.epochs_run == 1
    assert load_recipe(run.config).data.image_size == (32, 32)
    # Once an epoch has run, a different configuration is refused as before.
    with pytest.raises(ConfigError, match="different configuration"):
        train(_config(hello_world_manifest, "training.epochs=2", "data.image_size=[4, 4]"),
              run.root, verbose=0)


def test_train_refuses_a_folder_that_is_not_a_run(tmp_path, hello_world_manifest):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.png").write_bytes(b"not a run")
    with pytest.raises(FileExistsError, match="not a keras_mia run folder.*'holiday.png'"):
        train(_config(hello_world_manifest), folder, verbose=0)
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.png"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        train(_config(hello_world_manifest), tmp_path / "file", verbose=0)


def test_best_keras_carries_its_epoch_and_mismatches_are_reported(tmp_path, capsys):
    from keras_mia.training.checkpoint import best_record, save_model_with_record

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    run = RunDir(tmp_path).create()
    resume.write_history(run.history, [
        {"epoch": "0", "val_auc": "0.5", "val_loss": "0.7"},
        {"epoch": "1", "val_auc": "0.9", "val_loss": "0.4"},
    ])
    # best.keras still holds epoch 1, history's best row is epoch 2: the case.
    save_model_with_record(model, run.best_model, best_record(1, "val_auc", "max", 0.5,
                                                              "val_loss", 0.7))
    state = resume.reconcile(run, 2, None, "val_auc", "max", "val_loss", has_val=True)
    err = capsys.readouterr().err
    assert "best.keras: epoch 1, val_auc 0.5000" in err
    assert "history.csv's best is epoch 2 (val_auc 0.9000)" in err
    assert "model of epoch 2 was not saved" in err
    assert (state.best_value, state.best_tie) == (0.5, 0.7)  # the bar is what was saved

    run.best_model.unlink()
    state = resume.reconcile(run, 2, None, "val_auc", "max", "val_loss", has_val=True)
    assert "best.keras is missing" in capsys.readouterr().err and state.best_value is None
