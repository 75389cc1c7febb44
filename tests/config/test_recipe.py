"""Training configuration: stage epochs rescaled by training.epochs."""

import pytest

from keras_mia.config.recipe import StageConfig, TrainingConfig
from keras_mia.config.typed import ConfigError, from_dict


def _training(epochs, total=None):
    return TrainingConfig(epochs=total, stages=[StageConfig(epochs=e) for e in epochs])


@pytest.mark.parametrize(
    "planned, total, expected",
    [
        ([3, 10, 37], None, [3, 10, 37]),
        ([3, 10, 37], 50, [3, 10, 37]),
        ([3, 10, 37], 5, [1, 1, 3]),
        ([3, 10, 37], 2, [1, 1, 0]),
        ([20, 10, 5, 5], 80, [40, 20, 10, 10]),
        ([100], 7, [7]),
    ],
)
def test_stage_epochs(planned, total, expected):
    assert _training(planned, total).stage_epochs() == expected


def test_total_is_exact_after_rounding():
    for total in range(3, 60):
        assert sum(_training([3, 10, 37], total).stage_epochs()) == total


def test_validation_errors():
    with pytest.raises(ConfigError, match="class_weight"):
        from_dict(TrainingConfig, {"class_weight": "inverse"}, "training")
    with pytest.raises(ConfigError, match="learning_rate must be > 0"):
        from_dict(TrainingConfig, {"stages": [{"learning_rate": 0}]}, "training")
    with pytest.raises(ConfigError, match="training.loss: expected one of"):
        from_dict(TrainingConfig, {"loss": "mse"}, "training")
