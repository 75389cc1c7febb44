"""Choosing how training is spread over devices, per backend.

TensorFlow: ``tf.distribute.MirroredStrategy`` over every visible GPU (or given devices), or
``MultiWorkerMirroredStrategy`` for several machines (cluster from ``TF_CONFIG``).
JAX: ``keras.distribution.DataParallel`` over every visible accelerator.
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import keras

__all__ = ["distribution_scope", "describe_devices", "describe_strategy"]


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
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
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
