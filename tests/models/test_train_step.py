"""Every model of the zoo takes one optimizer step on tiny inputs (both Keras backends)."""

import numpy as np
import pytest

from keras_mia import models
from keras_mia.losses import WeightedSigmoidCrossEntropy


def _classifier_batch(rng, shape, labels):
    return rng.normal(0, 1, (len(labels), *shape)).astype("float32"), np.asarray(labels)


def _mask_batch(rng, shape):
    x = rng.normal(0, 0.3, (2, *shape)).astype("float32")
    y = np.zeros((2, *shape[:2], 1), "float32")
    y[:, 20:30, 20:30] = 1
    return x, y


# name -> (build options, batch maker, loss). Sizes are the smallest each backbone accepts.
CASES = {
    "inception_v3_gap": (
        {"input_shape": (75, 75)},
        lambda rng: _classifier_batch(rng, (75, 75, 3), [[0.0], [1.0]]),
        "binary_crossentropy",
    ),
    "resnet18": (
        {"input_shape": (32, 32), "dropout": 0.1},
        lambda rng: _classifier_batch(rng, (32, 32, 1), [0, 1]),
        "sparse_categorical_crossentropy",
    ),
    "resnet50_patch": (
        {"input_shape": (32, 32)},
        lambda rng: _classifier_batch(rng, (32, 32, 3), [0, 3]),
        "sparse_categorical_crossentropy",
    ),
    "resnet50_whole_image": (
        {"input_shape": (64, 48)},
        lambda rng: _classifier_batch(rng, (64, 48, 3), [0, 1]),
        "sparse_categorical_crossentropy",
    ),
    "dense_prediction_28": (
        {"input_shape": (64, 64)},
        lambda rng: _mask_batch(rng, (64, 64, 1)),
        WeightedSigmoidCrossEntropy(pos_weight=15),
    ),
}


def test_every_registered_model_has_a_train_step_case():
    assert sorted(CASES) == models.list_models()


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_one_step_on_tiny_inputs(name, train_one_step, rng):
    options, make_batch, loss = CASES[name]
    model = models.build(name, **options)
    x, y = make_batch(rng)
    assert train_one_step(model, x, y, loss) > 0
