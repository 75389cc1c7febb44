"""Shared fixtures of the metric tests (keras and numpy only: also run on JAX)."""

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest

if keras.backend.backend() == "jax":
    import jax

    # Eager metric updates compile every new op shape with XLA; its optimisation passes would
    # dominate these tests' time, which check values, not speed.
    jax.config.update("jax_disable_most_optimizations", True)
    # Compiled executables are shared between the pytest-xdist workers and kept for the next
    # run (the same folder as tests/models uses).
    user_id = getattr(os, "getuid", lambda: 0)()
    jax.config.update(
        "jax_compilation_cache_dir",
        str(Path(tempfile.gettempdir()) / f"keras_mia_jax_cache_{user_id}"),
    )
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(autouse=True)
def _seeded():
    """Seeds Keras' initializers so the tiny models of the compile tests are reproducible."""
    keras.utils.set_random_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
