import numpy as np
import pytest

from keras_mia import models


def test_parameter_count_at_native_size():
    model = models.build("inception_v3_gap")
    assert model.input_shape == (None, 299, 299, 3)
    assert model.output_shape == (None, 1)
    assert model.count_params() == 22_327_585
    assert model.get_layer("head_predictions").activation.__name__ == "sigmoid"
    assert model.get_layer("head_dropout").rate == 0.5
    assert model.get_layer("head_dense").units == 256
    assert models.list_stages(model) == ["head", "all"]
    head = {layer.name for layer in models.get_stage_layers(model, "head")}
    assert head == {"head_gap", "head_dense", "head_dropout", "head_predictions"}


def test_gray_variant_with_a_multiclass_head_returns_probabilities(rng, forward):
    model = models.build(
        "inception_v3_gap", input_shape=(75, 75), input_channels=1, num_classes=3, dropout=0.2
    )
    assert model.input_shape == (None, 75, 75, 1)
    assert model.get_layer("head_predictions").activation.__name__ == "softmax"
    assert model.get_layer("head_dropout").rate == 0.2
    out = forward(model, rng.normal(size=(2, 75, 75, 1)).astype("float32"))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_softmax_over_one_unit_is_rejected():
    with pytest.raises(ValueError, match="single unit"):
        models.build("inception_v3_gap", input_shape=(75, 75), classifier_activation="softmax")


def test_conflicting_channels_are_rejected():
    with pytest.raises(ValueError, match="input_channels"):
        models.build("inception_v3_gap", input_shape=(75, 75, 3), input_channels=1)
    with pytest.raises(ValueError, match="input_channels=2"):
        models.build("inception_v3_gap", input_channels=2)
