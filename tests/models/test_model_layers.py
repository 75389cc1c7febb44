import keras
import numpy as np
import pytest

from keras_mia.models import ResizeToMatch


def _reference_nearest(images, height, width):
    rows = np.minimum(((np.arange(height) + 0.5) * images.shape[1] / height).astype(int),
                      images.shape[1] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * images.shape[2] / width).astype(int),
                      images.shape[2] - 1)
    return images[:, rows][:, :, cols]


@pytest.mark.parametrize("source, target", [((4, 6), (8, 12)), ((5, 3), (7, 10)), ((9, 9), (4, 5))])
def test_resize_matches_half_pixel_nearest(source, target, rng):
    images = rng.normal(size=(2, *source, 3)).astype("float32")
    reference = np.zeros((2, *target, 1), "float32")
    out = keras.ops.convert_to_numpy(ResizeToMatch()([images, reference]))
    np.testing.assert_array_equal(out, _reference_nearest(images, *target))


def test_integer_factor_equals_upsampling2d(rng):
    images = rng.normal(size=(1, 5, 7, 2)).astype("float32")
    out = ResizeToMatch()([images, np.zeros((1, 10, 14, 1), "float32")])
    expected = keras.layers.UpSampling2D(2, interpolation="nearest")(images)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(expected)
    )


def test_works_inside_a_model_with_unknown_sizes(tmp_path, rng):
    inputs = keras.Input((None, None, 1))
    small = keras.layers.MaxPooling2D(2, padding="same")(inputs)
    outputs = ResizeToMatch(name="resize")([small, inputs])
    model = keras.Model(inputs, outputs)
    assert model.output_shape == (None, None, None, 1)
    assert model.predict(rng.normal(size=(1, 13, 6, 1)), verbose=0).shape == (1, 13, 6, 1)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.predict(np.ones((2, 8, 8, 1)), verbose=0).shape == (2, 8, 8, 1)
