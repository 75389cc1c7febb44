"""Choosing how training is spread over devices, per backend.

TensorFlow: ``tf.distribute.MirroredStrategy`` over every visible GPU (or given devices), or
``MultiWorkerMirroredStrategy`` for several machines (cluster from ``TF_CONFIG``).
JAX: ``keras.distribution.DataParallel`` over every visible accelerator.

With several workers only the chief writes the run folder: every worker runs the same
command with the same ``--out``, and the others write their own copy of the run (logs,
backups, models) to a folder beside it (:func:`worker_out_dir`), as TensorFlow's
multi-worker guide recommends; two workers saving ``best.keras`` or the backup weights to
one path at once would corrupt them. :func:`is_chief` and :func:`worker_out_dir` read
``TF_CONFIG`` only, so they work before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, ContextManager, Iterator

import keras

__all__ = [
    "distribution_scope",
    "describe_devices",
    "describe_strategy",
    "is_chief",
    "worker_task",
    "worker_out_dir",
    "worker_run_dir",
    "multi_worker_strategy",
]


def worker_task(tf_config: str | None = None) -> tuple[str | None, int]:
    """This process's task in a ``TF_CONFIG`` cluster.

    Args:
        tf_config: the ``TF_CONFIG`` JSON; ``None``: the environment's.

    Returns:
        ``(task_type, task_index)``, e.g. ``("worker", 1)``; ``(None, 0)`` without a
        cluster (one process trains alone).

    Raises:
        ValueError: ``TF_CONFIG`` is not JSON, or its ``task`` is not in its ``cluster``.
    """
    raw = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not raw.strip():
        return None, 0
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}). Received: {raw[:200]!r}") from None
    cluster = spec.get("cluster") or {}
    task = spec.get("task") or {}
    if not cluster:
        return None, 0
    task_type, index = task.get("type"), int(task.get("index", 0))
    if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
        raise ValueError(
            f"TF_CONFIG: task {task!r} is not one of the cluster's "
            f"{ {k: len(v) for k, v in cluster.items()} } tasks; set task.type to one of "
            f"{sorted(cluster)} and task.index below its count."
        )
    return task_type, index


def is_chief(tf_config: str | None = None) -> bool:
    """Whether this process writes the run folder.

    The ``chief`` task when the cluster has one, otherwise ``worker`` 0 (TensorFlow's
    rule); a process without a ``TF_CONFIG`` cluster is its own chief.

    Args:
        tf_config: the ``TF_CONFIG`` JSON; ``None``: the environment's.
    """
    task_type, index = worker_task(tf_config)
    if task_type is None or task_type == "chief":
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config)
    return task_type == "worker" and index == 0 and "chief" not in cluster["cluster"]


def worker_out_dir(out: str | Path, tf_config: str | None = None) -> Path:
    """The folder this process writes its run to: ``out`` for the chief.

    Any other worker gets ``.<out name>.<task type><index>`` beside ``out`` (the same name
    on every start, so that a worker re-run after a crash finds its own backup).

    Args:
        out: the run folder every worker was given.
        tf_config: the ``TF_CONFIG`` JSON; ``None``: the environment's.
    """
    out = Path(out)
    if is_chief(tf_config):
        return out
    task_type, index = worker_task(tf_config)
    return out.parent / f".{out.name}.{task_type}{index}"


@contextlib.contextmanager
def worker_run_dir(out: str | Path, tf_config: str | None = None) -> Iterator[Path]:
    """``with worker_run_dir(out) as folder:`` train into ``folder``.

    The chief's ``folder`` is ``out``. Another worker's is :func:`worker_out_dir`, removed
    when the block succeeds (its content duplicates the chief's) and kept when it fails, so
    that the worker resumes from its own backup when the same command is run again.
    """
    folder = worker_out_dir(out, tf_config)
    yield folder
    if folder != Path(out):
        shutil.rmtree(folder, ignore_errors=True)


def describe_devices() -> str:
    """One line naming the backend and the devices training will see."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return f"tensorflow, {len(gpus)} GPU(s)" + (
            ": " + ", ".join(g.name for g in gpus) if gpus else " (CPU)"
        )
    if backend == "jax":
        import jax

        return f"jax, devices: {', '.join(str(d) for d in jax.devices())}"
    return backend


def describe_strategy(strategy: Any) -> str:
    """``MirroredStrategy over 2 replicas`` or ``DataParallel over 4 devices``."""
    replicas = getattr(strategy, "num_replicas_in_sync", None)
    if replicas is not None:
        return f"{type(strategy).__name__} over {replicas} replicas"
    devices = getattr(getattr(strategy, "device_mesh", None), "devices", None)
    count = getattr(devices, "size", None)
    return f"{type(strategy).__name__}" + (f" over {count} devices" if count else "")


# One per process: TensorFlow configures collective ops once, and a second strategy would
# start a second server on this worker's port.
_MULTI_WORKER_STRATEGY: list = []


def multi_worker_strategy():
    """This process's ``tf.distribute.MultiWorkerMirroredStrategy``, created on first use.

    TensorFlow configures the collective ops a strategy needs only before it runs anything
    (listing devices included), so a training program creates it first: :func:`train
    <keras_mia.training.engine.train>` calls this before it reads any data. Later calls
    return the same strategy.

    Returns:
        The strategy (cluster from ``TF_CONFIG``).

    Raises:
        RuntimeError: TensorFlow already ran something in this process, saying what to do.
    """
    if not _MULTI_WORKER_STRATEGY:
        import tensorflow as tf

        worker_task()  # a malformed TF_CONFIG is named before TensorFlow's own error
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:
            raise RuntimeError(
                "training.distribution=multi_worker: TensorFlow ran before the "
                f"MultiWorkerMirroredStrategy could be created ({err}); create it first "
                "(keras_mia.training.distribute.multi_worker_strategy()) in a fresh process."
            ) from None
        _reduce_nested_values(strategy)
        _MULTI_WORKER_STRATEGY.append(strategy)
    return _MULTI_WORKER_STRATEGY[0]


def _reduce_nested_values(strategy) -> None:
    """Makes ``strategy.reduce`` take what Keras 3's ``fit`` gives it across workers.

    Two Keras 3 calls fail on ``MultiWorkerMirroredStrategy`` with more than one worker
    (keras-team/keras#20585; Keras 3.15, TF 2.21): ``fit``/``evaluate`` reduce a whole
    ``(x, y, sample_weight)`` batch in one call to learn its shapes
    (``_maybe_symbolic_build``: "Attempt to convert a value (PerReplica...) ... to a
    Tensor"), and every step reduces its scalar logs (loss, metrics) with ``axis=0``
    ("Invalid reduction dimension 0 for input with 0 dimensions"). Here a structure is
    reduced leaf by leaf and a scalar across the replicas only, which is what one value
    and a vector get; every worker makes the same calls in the same order, as the
    collectives need.
    """
    import tensorflow as tf

    reduce = strategy.reduce

    def rank(value) -> int | None:
        if isinstance(value, tf.distribute.DistributedValues):
            value = strategy.experimental_local_results(value)[0]
        shape = getattr(value, "shape", None)
        return None if shape is None else shape.rank

    def reduce_leaf(reduce_op, value, axis):
        return reduce(reduce_op, value, axis=None if rank(value) == 0 else axis)

    def nested_reduce(reduce_op, value, axis=None):
        if isinstance(value, tf.distribute.DistributedValues) or not tf.nest.is_nested(value):
            return reduce_leaf(reduce_op, value, axis)
        return tf.nest.map_structure(lambda leaf: reduce_leaf(reduce_op, leaf, axis), value)

    strategy.reduce = nested_reduce


def distribution_scope(mode: str, devices: list[str] | None = None) -> tuple[ContextManager, Any]:
    """Returns ``(scope, strategy)``: build and compile the model inside ``scope``.

    Args:
        mode: ``"auto"``, ``"none"``, ``"mirrored"`` or ``"multi_worker"``
            (``TrainingConfig.distribution``).
        devices: device names for ``"mirrored"`` (default: all GPUs).

    Returns:
        A context manager and the strategy (TensorFlow) or distribution (JAX) object;
        ``None`` for the default placement.
    """
    backend = keras.backend.backend()
    if mode == "none":
        return contextlib.nullcontext(), None
    if backend == "tensorflow":
        import tensorflow as tf

        if mode == "multi_worker":
            strategy = multi_worker_strategy()
            return strategy.scope(), strategy
        gpus = tf.config.list_logical_devices("GPU")
        if mode == "mirrored" or (mode == "auto" and len(gpus) > 1):
            strategy = tf.distribute.MirroredStrategy(devices=devices or None)
            return strategy.scope(), strategy
        return contextlib.nullcontext(), None
    if backend == "jax":
        if mode == "multi_worker":
            raise ValueError(
                "distribution='multi_worker' is a TensorFlow strategy; on JAX use "
                "keras.distribution with jax.distributed. Received: backend=jax"
            )
        import jax

        accelerators = [d for d in jax.devices() if d.platform != "cpu"]
        if mode == "mirrored" or (mode == "auto" and len(accelerators) > 1):
            distribution = keras.distribution.DataParallel(
                devices=devices or keras.distribution.list_devices()
            )
            keras.distribution.set_distribution(distribution)
            return contextlib.nullcontext(), distribution
        return contextlib.nullcontext(), None
    return contextlib.nullcontext(), None
