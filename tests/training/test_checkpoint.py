"""Tests for keras_mia.training.checkpoint (best.keras with a tie-break)."""

import keras
import numpy as np
import pytest

from keras_mia.training.checkpoint import BestModelCheckpoint, best_epoch, is_better

# val_auc saturates at 1.0 in epoch 2; epoch 3 ties it with a lower val_loss; epoch 5 has the
# lowest loss of all but a lower AUC. Epoch 4 has no AUC (e.g. a NaN).
LOGS = [
    {"val_auc": 0.9, "val_loss": 0.5},
    {"val_auc": 1.0, "val_loss": 0.4},
    {"val_auc": 1.0, "val_loss": 0.2},
    {"val_auc": float("nan"), "val_loss": 0.1},
    {"val_auc": 0.95, "val_loss": 0.01},
    {"val_auc": 1.0, "val_loss": 0.3},
]


def test_is_better():
    assert is_better(0.5, None, None, None, "max")
    assert is_better(0.6, 9.0, 0.5, 0.1, "max") and not is_better(0.6, 0.0, 0.5, 0.1, "min")
    assert is_better(1.0, 0.2, 1.0, 0.4, "max") and not is_better(1.0, 0.4, 1.0, 0.2, "max")
    assert not is_better(1.0, None, 1.0, 0.4, "max")  # no tie-break value: keep the first
    with pytest.raises(ValueError, match="Received: mode='maximum'"):
        is_better(1.0, None, 0.5, None, "maximum")


@pytest.mark.parametrize("tie_break, expected", [("val_loss", 3), (None, 2)])
def test_history_and_callback_pick_the_same_epoch(tmp_path, tie_break, expected):
    rows = [dict(row, epoch=str(i)) for i, row in enumerate(LOGS)]
    assert best_epoch(rows, "val_auc", "max", tie_break)[0] == expected

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")])
    path = tmp_path / "best.keras"
    callback = BestModelCheckpoint(path, "val_auc", "max", tie_break)
    callback.set_model(model)
    for epoch, logs in enumerate(LOGS):
        # Each epoch's kernel is filled with its 1-based number, to see which one was saved.
        model.get_layer("dense").kernel.assign(np.full((2, 1), epoch + 1.0, np.float32))
        callback.on_epoch_end(epoch, logs)
    assert callback.best_epoch == expected and callback.best_value == 1.0
    saved = keras.saving.load_model(path).get_layer("dense").kernel
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), expected)


def test_resumed_callback_keeps_the_best_from_history(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.keras"
    callback = BestModelCheckpoint(path, "val_loss", "min", best_value=0.2, best_tie=0.2)
    callback.set_model(model)
    callback.on_epoch_end(7, {"val_loss": 0.3})
    assert not path.exists()
    callback.on_epoch_end(8, {"val_loss": 0.1})
    assert path.is_file() and callback.best_epoch == 9
