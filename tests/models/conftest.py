"""Shared helpers of the model tests (imports keras and numpy only: also run on JAX)."""

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest

if keras.backend.backend() == "jax":
    import jax

    # XLA's CPU optimisation passes dominate these tests' time (every initializer shape and
    # every train step is compiled once); the tests check shapes and values, not speed.
    jax.config.update("jax_disable_most_optimizations", True)
    # Compiled executables are shared between the pytest-xdist workers and kept for the next
    # run: without this, each worker recompiles every initializer and layer shape.
    user_id = getattr(os, "getuid", lambda: 0)()
    jax.config.update(
        "jax_compilation_cache_dir",
        str(Path(tempfile.gettempdir()) / f"keras_mia_jax_cache_{user_id}"),
    )
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _forward(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Inference on one batch, as NumPy, the fastest way on each backend.

    TensorFlow runs it eagerly (tracing a graph of a large model costs more than it saves);
    JAX compiles the whole model once, as eager JAX compiles every operation separately.
    """
    if keras.backend.backend() == "jax":
        return np.asarray(model.predict_on_batch(x))
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.fixture
def forward():
    """``forward(model, x) -> np.ndarray``: inference on one batch."""
    return _forward


def _train_one_step(model: keras.Model, x: np.ndarray, y: np.ndarray, loss) -> float:
    """Runs one optimizer step and checks that it is finite and reaches the stem."""
    # TensorFlow traces and optimises a whole-model graph before the first step, which costs
    # minutes for ResNet50/InceptionV3 on 2 CPU cores; one eager step tests the same math.
    # JAX's jit compile is far cheaper than its op-by-op mode, so it keeps the default.
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=loss,
        run_eagerly=keras.backend.backend() == "tensorflow",
    )
    first, last = model.trainable_weights[0], model.trainable_weights[-1]
    before = [keras.ops.convert_to_numpy(w).copy() for w in (first, last)]
    logs = model.train_on_batch(x, y, return_dict=True)
    after = [keras.ops.convert_to_numpy(w) for w in (first, last)]
    assert np.isfinite(logs["loss"]), logs
    assert not np.allclose(before[0], after[0]), f"{first.path} did not change"
    assert not np.allclose(before[1], after[1]), f"{last.path} did not change"
    return float(logs["loss"])


@pytest.fixture(autouse=True)
def _seeded():
    """Seeds Keras' initializers and dropout so every test sees the same weights."""
    keras.utils.set_random_seed(0)


@pytest.fixture
def train_one_step():
    """``train_one_step(model, x, y, loss) -> loss``: one Adam step, checked."""
    return _train_one_step


@pytest.fixture
def rng():
    return np.random.default_rng(0)
