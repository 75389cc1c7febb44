"""``training.distribution: multi_worker``: two TensorFlow workers on localhost, one run.

The two-worker test starts two processes with a ``TF_CONFIG`` each (two free local ports),
trains the tiny engine model on the tiny synthetic hello_world set for one epoch, and checks
that both finish with the same weights, that the chief's run folder holds them, and that the
other worker wrote nothing into it (its own folder beside the run is gone at the end).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from engine_tiny_model import TINY_OVERRIDES
from keras_mia.recipes import load_recipe
from keras_mia.training import engine
from keras_mia.training.distribute import (
    is_chief,
    worker_out_dir,
    worker_run_dir,
    worker_task,
)

TRAINING_TESTS = str(Path(__file__).resolve().parent)


def _tf_config(ports, task_type="worker", index=0, chief=False):
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    if chief:
        cluster["chief"] = ["localhost:1"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_without_a_cluster_this_process_is_the_chief(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_task() == (None, 0)
    assert is_chief()
    assert worker_out_dir(tmp_path / "run") == tmp_path / "run"


def test_worker_zero_is_the_chief_unless_the_cluster_has_one(tmp_path):
    run = tmp_path / "run"
    first, second = _tf_config([1, 2], index=0), _tf_config([1, 2], index=1)
    assert is_chief(first) and not is_chief(second)
    assert worker_out_dir(run, first) == run
    assert worker_out_dir(run, second) == tmp_path / ".run.worker1"
    with_chief = _tf_config([1, 2], index=0, chief=True)
    assert not is_chief(with_chief)
    assert worker_out_dir(run, with_chief) == tmp_path / ".run.worker0"
    assert is_chief(_tf_config([1, 2], task_type="chief", index=0, chief=True))


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    (_tf_config([1, 2], index=2), "is not one of the cluster's"),
    (_tf_config([1, 2], task_type="ps"), "set task.type to one of"),
])
def test_a_malformed_tf_config_is_named(tf_config, message):
    with pytest.raises(ValueError, match=message):
        worker_task(tf_config)


def test_a_worker_folder_is_removed_on_success_and_kept_for_a_resume(tmp_path):
    run = tmp_path / "run"
    second = _tf_config([1, 2], index=1)
    with worker_run_dir(run, second) as folder:
        (folder / "checkpoints").mkdir(parents=True)
    assert not folder.exists() and not run.exists()
    with pytest.raises(RuntimeError):
        with worker_run_dir(run, second) as folder:
            (folder / "checkpoints").mkdir(parents=True)
            raise RuntimeError("killed mid-epoch")
    assert (folder / "checkpoints").is_dir()  # the same name on the next start
    with worker_run_dir(run, _tf_config([1, 2], index=0)) as chief_folder:
        chief_folder.mkdir()
    assert chief_folder == run and run.is_dir()  # the chief's run is the result


def test_engine_train_routes_a_non_chief_worker_beside_the_run(
        tmp_path, hello_world_manifest, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _tf_config([1, 2], index=1))
    # No cluster is started: the strategy and the training itself are replaced.
    monkeypatch.setattr(engine, "multi_worker_strategy", lambda: None, raising=False)
    seen = {}

    def fake_train(config, run, verbose, callbacks):
        seen["root"] = run.root
        seen["exists"] = run.root.is_dir()
        return "trained"

    monkeypatch.setattr(engine, "_train", fake_train)
    config = load_recipe("hello_world", [f"manifest={hello_world_manifest}", *TINY_OVERRIDES,
                                         "training.distribution=multi_worker"])
    assert engine.train(config, tmp_path / "run", verbose=0) == "trained"
    assert seen == {"root": tmp_path / ".run.worker1", "exists": True}
    assert list(tmp_path.iterdir()) == []  # nothing left in or beside the run


_WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from engine_tiny_model import TINY_OVERRIDES, register
    register()
    import keras
    import numpy as np
    from keras_mia.recipes import load_recipe
    from keras_mia.training import engine

    manifest, out, weights = sys.argv[1:4]
    config = load_recipe("hello_world", [
        f"manifest={{manifest}}", *TINY_OVERRIDES, "training.epochs=1",
        "training.distribution=multi_worker",
    ])


    class KeepWeights(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            np.savez(weights, *[np.asarray(w) for w in self.model.get_weights()])


    # The same call on every worker: engine.train routes a non-chief worker's writes.
    engine.train(config, out, verbose=0, callbacks=[KeepWeights()])
    """
)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="MultiWorkerMirroredStrategy is TensorFlow's; the backend is "
                           f"{keras.backend.backend()}")
def test_two_cpu_workers_train_one_run_with_identical_weights(tmp_path, hello_world_manifest):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(tests=TRAINING_TESTS))
    runs = tmp_path / "runs"
    out = runs / "run"
    ports = _free_ports(2)
    workers = []
    for index in range(2):
        # oneDNN's CPU convolution fails under a distribution strategy on some processors
        # (see test_mirrored_strategy_on_two_logical_cpus); the strategy is under test.
        env = dict(os.environ, TF_CONFIG=_tf_config(ports, index=index),
                   TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
        workers.append(subprocess.Popen(
            [sys.executable, str(script), str(hello_world_manifest), str(out),
             str(tmp_path / f"weights{index}.npz")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=240))
    finally:
        for worker in workers:
            if worker.poll() is None:  # one worker died and the other waits on it
                worker.kill()
                worker.communicate()
    for index, (worker, (stdout, stderr)) in enumerate(zip(workers, outputs)):
        assert worker.returncode == 0, f"worker {index}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
        assert "CollectiveAllReduceStrategy over 2 replicas" in stdout

    first, second = (np.load(tmp_path / f"weights{i}.npz") for i in range(2))
    assert len(first.files) == len(second.files) > 0
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])

    # Only the chief wrote the run: one training in its log, one row in its history, and
    # its best model holds the weights both workers ended with.
    assert (out / "log.txt").read_text().count("Training finished") == 1
    assert len((out / "history.csv").read_text().strip().splitlines()) == 2
    best = keras.saving.load_model(out / "best.keras", compile=False)
    for key, weight in zip(first.files, best.get_weights()):
        np.testing.assert_array_equal(first[key], weight)
    # The other worker's own folder (beside the run) was removed when it finished.
    assert sorted(p.name for p in runs.iterdir()) == ["run"]
