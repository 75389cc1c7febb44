"""A tiny registered model for engine tests (imported by name, also from subprocesses)."""

from __future__ import annotations

import keras

from keras_mia.models import list_models, register_model, register_stages
from keras_mia.models import registry, stages

TINY_MODEL = "tiny_engine_cnn"


def tiny_engine_cnn(input_shape=(32, 32, 1), num_classes=1, **_):
    """Two convolutions and a sigmoid head; stages ``head`` then ``all``."""
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    activation = "sigmoid" if num_classes == 1 else "softmax"
    outputs = keras.layers.Dense(num_classes, activation=activation, name="head_dense")(x)
    return keras.Model(inputs, outputs, name=TINY_MODEL)


def register() -> None:
    """Adds the tiny model to the registry (tests remove it again: the model zoo's own tests
    check that exactly the five systems are registered)."""
    if TINY_MODEL not in list_models():
        register_model(TINY_MODEL)(tiny_engine_cnn)
        register_stages(TINY_MODEL, [("head", ["head_"])])


def unregister() -> None:
    registry._BUILDERS.pop(TINY_MODEL, None)
    stages._STAGES.pop(TINY_MODEL, None)


TINY_OVERRIDES = [
    "data.image_size=[32, 32]",
    "data.channels=1",
    "data.batch_size=8",
    f"model.name={TINY_MODEL}",
    "model.options={}",
    "training.epochs=2",
    "training.stages.0.learning_rate=0.01",
]
