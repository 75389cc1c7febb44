"""A tiny synthetic data set for engine tests; the tiny model lives in engine_tiny_model.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from keras_mia.synth import generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_tiny_model  # noqa: E402


@pytest.fixture(autouse=True)
def tiny_model_registered():
    engine_tiny_model.register()
    yield
    engine_tiny_model.unregister()


@pytest.fixture(scope="session")
def hello_world_manifest(tmp_path_factory):
    out = tmp_path_factory.mktemp("hello_world")
    return generate("hello_world", out, n=40, seed=0, image_size=32)
