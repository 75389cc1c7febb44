"""WeightedSigmoidCrossEntropy against a NumPy reference (runs on both Keras backends)."""

import keras
import numpy as np
import pytest

from keras_mia.losses import WeightedSigmoidCrossEntropy, weighted_sigmoid_cross_entropy


def _reference_from_logits(y, z, w):
    """Mean over pixels of -[w*y*log s(z) + (1-y)*log(1-s(z))], in float64, as written."""
    z = np.asarray(z, np.float64)
    sigmoid = 1.0 / (1.0 + np.exp(-z))
    per_pixel = -(w * y * np.log(sigmoid) + (1.0 - y) * np.log(1.0 - sigmoid))
    return per_pixel.mean()


def _stable_reference_from_logits(y, z, w):
    """The same formula with -log s(z) = log(1 + e^-z) written overflow-free (np.logaddexp)."""
    z = np.asarray(z, np.float64)
    per_pixel = w * y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z)
    return per_pixel.mean()


def _numpy(x):
    return float(keras.ops.convert_to_numpy(x))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def batch(rng):
    y = (rng.uniform(size=(3, 8, 8, 1)) < 0.2).astype("float32")
    z = rng.normal(0, 3, size=(3, 8, 8, 1)).astype("float32")
    return y, z


def test_equals_the_numpy_reference_on_logits(batch):
    y, z = batch
    loss = WeightedSigmoidCrossEntropy(pos_weight=15, from_logits=True)
    expected = _reference_from_logits(y, z, 15.0)
    assert _numpy(loss(y, z)) == pytest.approx(expected, rel=1e-5)
    # The per-pixel function is the unreduced version of the same formula.
    per_pixel = keras.ops.convert_to_numpy(weighted_sigmoid_cross_entropy(y, z, pos_weight=15.0))
    assert per_pixel.shape == z.shape
    assert per_pixel.mean() == pytest.approx(expected, rel=1e-5)


def test_positive_pixels_weigh_pos_weight_times_more():
    z = np.zeros((1, 2, 2, 1), "float32")
    negatives = np.zeros_like(z)
    positives = np.ones_like(z)
    loss = WeightedSigmoidCrossEntropy(pos_weight=15)
    assert _numpy(loss(negatives, z)) == pytest.approx(np.log(2.0), rel=1e-6)
    assert _numpy(loss(positives, z)) == pytest.approx(15 * np.log(2.0), rel=1e-6)


def test_pos_weight_one_equals_keras_binary_crossentropy(batch):
    y, z = batch
    ours = WeightedSigmoidCrossEntropy(pos_weight=1.0)(y, z)
    keras_bce = keras.losses.BinaryCrossentropy(from_logits=True)(y, z)
    assert _numpy(ours) == pytest.approx(_numpy(keras_bce), rel=1e-5)


def test_numerically_stable_for_large_logits():
    z = np.array([100.0, -100.0, 100.0, -100.0, 0.0], "float32").reshape(1, 5, 1, 1)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0], "float32").reshape(1, 5, 1, 1)
    per_pixel = keras.ops.convert_to_numpy(weighted_sigmoid_cross_entropy(y, z, pos_weight=15.0))
    assert np.all(np.isfinite(per_pixel))
    # Right answers, not only finite ones: confident and right costs ~0, confident and wrong
    # costs |z| (times w for a missed positive).
    np.testing.assert_allclose(
        per_pixel.ravel(), [0.0, 0.0, 100.0, 1500.0, 15 * np.log(2.0)], rtol=1e-6, atol=1e-6
    )
    loss = WeightedSigmoidCrossEntropy(pos_weight=15)
    assert _numpy(loss(y, z)) == pytest.approx(_stable_reference_from_logits(y, z, 15.0), 1e-6)


def test_gradient_is_finite_for_large_logits():
    z = keras.Variable(np.array([[100.0], [-100.0], [100.0], [-100.0]], "float32"))
    y = np.array([[1.0], [0.0], [0.0], [1.0]], "float32")
    loss = WeightedSigmoidCrossEntropy(pos_weight=15)
    if keras.backend.backend() == "jax":
        import jax

        grad = jax.grad(lambda v: loss(y, v))(z.value)
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(y, z)
        grad = tape.gradient(value, z.value)
    grad = keras.ops.convert_to_numpy(grad).ravel()
    # d/dz = (1 - y) s(z) - w y (1 - s(z)), averaged over the 4 pixels.
    np.testing.assert_allclose(grad, np.array([0.0, 0.0, 1.0, -15.0]) / 4, atol=1e-6)


def test_probabilities_path(batch):
    y, z = batch
    probs = (1.0 / (1.0 + np.exp(-z.astype(np.float64)))).astype("float32")
    loss = WeightedSigmoidCrossEntropy(pos_weight=15, from_logits=False)
    assert _numpy(loss(y, probs)) == pytest.approx(_reference_from_logits(y, z, 15.0), rel=1e-4)


def test_probabilities_of_exactly_zero_and_one_are_clipped_to_finite_losses():
    y = np.array([1.0, 0.0], "float32").reshape(1, 2, 1, 1)
    p = np.array([0.0, 1.0], "float32").reshape(1, 2, 1, 1)
    value = _numpy(WeightedSigmoidCrossEntropy(pos_weight=15, from_logits=False)(y, p))
    eps = keras.config.epsilon()
    assert np.isfinite(value)
    assert value == pytest.approx(-(15 * np.log(eps) + np.log(eps)) / 2, rel=1e-3)


def test_mask_without_channel_axis_and_sample_weights(batch):
    y, z = batch
    loss = WeightedSigmoidCrossEntropy(pos_weight=15)
    assert _numpy(loss(y[..., 0], z)) == pytest.approx(_numpy(loss(y, z)), rel=1e-6)
    weights = np.array([1.0, 0.0, 2.0], "float32")
    per_image = [_reference_from_logits(y[i], z[i], 15.0) for i in range(3)]
    expected = np.dot(weights, per_image) / 3  # Keras' sum_over_batch_size
    assert _numpy(loss(y, z, sample_weight=weights)) == pytest.approx(expected, rel=1e-5)


def test_invalid_pos_weight_is_rejected():
    with pytest.raises(ValueError, match="pos_weight=0"):
        WeightedSigmoidCrossEntropy(pos_weight=0)


def test_get_config_and_keras_serialization_round_trip(batch):
    y, z = batch
    loss = WeightedSigmoidCrossEntropy(pos_weight=14.5, from_logits=False, name="wce")
    config = loss.get_config()
    assert config["pos_weight"] == 14.5 and config["from_logits"] is False
    assert config["name"] == "wce"
    again = WeightedSigmoidCrossEntropy.from_config(config)
    assert again.get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, WeightedSigmoidCrossEntropy)
    assert restored.get_config() == config
    probs = 1.0 / (1.0 + np.exp(-z))
    assert _numpy(restored(y, probs)) == pytest.approx(_numpy(loss(y, probs)), rel=1e-6)


def test_compiled_model_round_trips_through_a_keras_file(tmp_path, batch):
    y, z = batch
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    model.compile(optimizer="adam", loss=WeightedSigmoidCrossEntropy(pos_weight=14.0))
    model.fit(z, y, epochs=1, verbose=0)  # builds the optimizer, which is saved too
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.loss, WeightedSigmoidCrossEntropy)
    assert reloaded.loss.pos_weight == 14.0 and reloaded.loss.from_logits is True
    original = model.evaluate(z, y, verbose=0, return_dict=True)["loss"]
    assert reloaded.evaluate(z, y, verbose=0, return_dict=True)["loss"] == pytest.approx(
        original, rel=1e-6
    )
