import keras
import numpy as np
import pytest

from keras_mia import models

WEIGHT_LAYERS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)


@pytest.fixture(scope="module")
def native():
    return models.build("dense_prediction_28", input_shape=(640, 640))


def test_has_28_weight_layers(native):
    weight_layers = [layer for layer in native.layers if isinstance(layer, WEIGHT_LAYERS)]
    assert len(weight_layers) == 28
    transposed = [
        layer for layer in weight_layers if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert [(t.filters, t.kernel_size, t.strides) for t in transposed] == [
        (64, (4, 4), (2, 2)), (32, (4, 4), (1, 1))
    ]
    dilated = sorted(layer.name for layer in weight_layers if layer.dilation_rate != (1, 1))
    assert dilated == [f"block5_conv{i}_conv" for i in (1, 2, 3, 4)]
    regularised = sorted(layer.name for layer in weight_layers if layer.kernel_regularizer)
    assert regularised == ["bottleneck_conv", "head_logits"]
    assert native.get_layer("head_logits").kernel_regularizer.l2 == pytest.approx(2.5e-3)
    adds = [layer for layer in native.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 6


def test_spec_table_sizes_for_a_640_input(native):
    expected = {
        "block0_add": (320, 32),
        "pool0_relu": (160, 48),
        "block1_pool": (80, 48),
        "block2_pool": (40, 64),
        "block3_pool": (20, 128),
        "block4_add": (20, 256),
        "block5_add": (20, 512),
        "bottleneck_relu": (20, 256),
        "decoder_conv1_relu": (80, 128),
        "decoder_conv2_relu": (160, 64),
        "decoder_deconv1": (320, 64),
        "decoder_deconv2": (320, 32),
        "decoder_conv3_relu": (320, 16),
        "head_logits": (320, 1),
    }
    for name, (size, channels) in expected.items():
        assert native.get_layer(name).output.shape == (None, size, size, channels), name


def test_output_is_logits_at_the_input_size(native, rng):
    x = rng.normal(0, 0.3, (1, 640, 640, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(native.predict(x, verbose=0))
    assert out.shape == (1, 640, 640, 1)
    assert np.all(np.isfinite(out))
    # Logits: nothing squashes them into [0, 1]; the final resize is a pure x2 nearest copy.
    assert native.get_layer("head_logits").activation.__name__ == "linear"
    np.testing.assert_array_equal(out[0, ::2, ::2], out[0, 1::2, 1::2])


def test_default_accepts_any_size(rng, forward):
    model = models.build("dense_prediction_28")
    assert model.input_shape == (None, None, None, 1)
    for shape in [(1, 64, 96, 1), (1, 70, 45, 1)]:
        assert forward(model, rng.normal(size=shape).astype("float32")).shape == shape


def test_rejects_imagenet():
    with pytest.raises(ValueError, match="ImageNet"):
        models.build("dense_prediction_28", weights="imagenet")
