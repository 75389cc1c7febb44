import keras
import numpy as np
import pytest

from keras_mia import models


@pytest.fixture(scope="module")
def native():
    return models.build("resnet18")


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_trainable_parameters_equal_torchvision_resnet18_with_gray_stem_and_two_classes(native):
    model = native
    assert model.input_shape == (None, 224, 224, 1)
    assert model.output_shape == (None, 2)
    # torchvision resnet18: 11,689,512 - conv1 (64*2*49) - fc (512*998 + 998).
    assert _count(model.trainable_weights) == 11_171_266
    # BatchNorm running mean/variance are buffers in PyTorch, non-trainable weights here.
    bn_channels = sum(
        layer.moving_mean.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert _count(model.non_trainable_weights) == 2 * bn_channels == 9_600


def test_torchvision_geometry_and_naming(native):
    model = native
    assert model.get_layer("conv1").kernel.shape == (7, 7, 1, 64)
    assert model.get_layer("conv1").use_bias is False
    assert model.get_layer("maxpool").output.shape == (None, 56, 56, 64)
    assert model.get_layer("layer2_0_out").output.shape == (None, 28, 28, 128)
    assert model.get_layer("layer4_1_out").output.shape == (None, 7, 7, 512)
    downsampled = [layer.name for layer in model.layers if layer.name.endswith("downsample_conv")]
    assert downsampled == ["layer2_0_downsample_conv", "layer3_0_downsample_conv",
                           "layer4_0_downsample_conv"]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 16 + 3 and not any(conv.use_bias for conv in convs)


def test_softmax_by_default_and_logits_on_request(rng, forward):
    x = rng.normal(size=(2, 32, 32, 1)).astype("float32")
    probs = forward(models.build("resnet18", input_shape=(32, 32)), x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    logits_model = models.build("resnet18", input_shape=(32, 32), classifier_activation=None)
    assert logits_model.get_layer("head_predictions").activation.__name__ == "linear"
