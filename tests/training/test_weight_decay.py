"""Coupled (PyTorch ``Adam(weight_decay=w)``) and decoupled (Keras/AdamW) weight decay.

Each mode's first update of a tiny variable is compared with the update written out in numpy.
Model/optimizer code is keras.ops only, so this file also runs under ``KERAS_BACKEND=jax``
(``BACKEND_AGNOSTIC_TESTS`` in the Makefile).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_mia.recipes import load_recipe
from keras_mia.training.compile import (
    CoupledWeightDecayAdam,
    CoupledWeightDecaySGD,
    make_optimizer,
)
from keras_mia.config.recipe import StageConfig
from keras_mia.config.typed import ConfigError, from_dict

PARAM = np.array([1.5, -2.0, 0.25, 4.0], dtype="float32")
GRAD = np.array([0.1, 0.3, -0.2, 0.0], dtype="float32")
LR, DECAY, MOMENTUM = 0.1, 0.05, 0.9
# Keras' Adam defaults (keras.optimizers.Adam): the update below is Keras' own formula.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def _adam_first_step(param: np.ndarray, grad: np.ndarray) -> np.ndarray:
    m = (1 - BETA_1) * grad
    v = (1 - BETA_2) * grad**2
    alpha = LR * np.sqrt(1 - BETA_2) / (1 - BETA_1)
    return param - alpha * m / (np.sqrt(v) + EPSILON)


def _sgd_first_step(param: np.ndarray, grad: np.ndarray, momentum: float) -> np.ndarray:
    velocity = momentum * 0.0 - LR * grad  # the momentum buffer starts at zero
    return param + velocity


EXPECTED = {
    # coupled: the decay joins the gradient before the moment estimates (PyTorch).
    ("adam", "coupled"): _adam_first_step(PARAM, GRAD + DECAY * PARAM),
    # decoupled: param -= lr * w * param, then the plain Adam step (Keras, AdamW).
    ("adam", "decoupled"): _adam_first_step(PARAM - LR * DECAY * PARAM, GRAD),
    ("sgd", "coupled"): _sgd_first_step(PARAM, GRAD + DECAY * PARAM, MOMENTUM),
    ("sgd", "decoupled"): _sgd_first_step(PARAM - LR * DECAY * PARAM, GRAD, MOMENTUM),
}


def _one_step(optimizer: keras.optimizers.Optimizer) -> np.ndarray:
    variable = keras.Variable(PARAM, name="param")
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(GRAD), variable)])
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize("optimizer, mode", sorted(EXPECTED))
def test_each_mode_matches_the_hand_computed_first_step(optimizer, mode):
    stage = StageConfig(optimizer=optimizer, learning_rate=LR, weight_decay=DECAY,
                        weight_decay_mode=mode, momentum=MOMENTUM)
    built = make_optimizer(stage)
    coupled_class = CoupledWeightDecayAdam if optimizer == "adam" else CoupledWeightDecaySGD
    assert isinstance(built, coupled_class) == (mode == "coupled")
    np.testing.assert_allclose(_one_step(built), EXPECTED[(optimizer, mode)], rtol=1e-5,
                               atol=1e-6)


def test_the_modes_differ_for_adam_and_vanish_without_decay():
    coupled, decoupled = EXPECTED[("adam", "coupled")], EXPECTED[("adam", "decoupled")]
    # Adam normalises the coupled term away where the gradient is small: not the same step.
    assert np.abs(coupled - decoupled).max() > 1e-3
    for mode in ("coupled", "decoupled"):
        plain = make_optimizer(StageConfig(learning_rate=LR, weight_decay=0.0,
                                           weight_decay_mode=mode))
        np.testing.assert_allclose(_one_step(plain), _adam_first_step(PARAM, GRAD), rtol=1e-5,
                                   atol=1e-6)


def test_coupled_optimizer_round_trips_its_config():
    optimizer = CoupledWeightDecayAdam(learning_rate=LR, coupled_weight_decay=DECAY)
    config = keras.optimizers.serialize(optimizer)
    again = keras.optimizers.deserialize(config)
    assert isinstance(again, CoupledWeightDecayAdam)
    assert again.coupled_weight_decay == pytest.approx(DECAY) and again.weight_decay is None
    with pytest.raises(ValueError, match="decoupled form"):
        CoupledWeightDecaySGD(learning_rate=LR, weight_decay=DECAY)
    with pytest.raises(ValueError, match="coupled_weight_decay=-1"):
        CoupledWeightDecaySGD(learning_rate=LR, coupled_weight_decay=-1)


def test_stage_config_checks_the_mode_and_the_decay():
    with pytest.raises(ConfigError, match="weight_decay_mode: expected one of 'coupled'"):
        from_dict(StageConfig, {"weight_decay_mode": "l2"}, "training.stages[0]")
    with pytest.raises(ConfigError, match="weight_decay must be >= 0"):
        from_dict(StageConfig, {"weight_decay": -1e-4}, "training.stages[0]")


@pytest.mark.parametrize("recipe, decay", [("mammo_patch", 1e-4), ("mammo_whole_image", 1e-3)])
def test_shen_recipes_use_the_seeds_coupled_decay(recipe, decay):
    stages = load_recipe(recipe).training.stages
    assert [s.weight_decay_mode for s in stages] == ["coupled"] * len(stages)
    assert [s.weight_decay for s in stages] == pytest.approx([decay] * len(stages))


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_sgd_with_momentum_two_steps(mode):
    # One step of SGD cannot tell the modes apart; with momentum the second step does.
    optimizer = make_optimizer(StageConfig(optimizer="sgd", learning_rate=LR, momentum=MOMENTUM,
                                           weight_decay=DECAY, weight_decay_mode=mode))
    variable = keras.Variable(PARAM, name="param")
    param, velocity = PARAM.astype("float64"), np.zeros(4)
    for _ in range(2):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(GRAD), variable)])
        if mode == "coupled":
            velocity = MOMENTUM * velocity - LR * (GRAD + DECAY * param)
        else:
            param = param - LR * DECAY * param
            velocity = MOMENTUM * velocity - LR * GRAD
        param = param + velocity
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), param, rtol=1e-5, atol=1e-6)
