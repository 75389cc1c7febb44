import keras

from keras_mia.models.blocks import basic_block, bottleneck_block, conv_bn_relu


def _layer_names(outputs, inputs):
    return {layer.name for layer in keras.Model(inputs, outputs).layers}


def test_conv_bn_relu_names_and_options():
    inputs = keras.Input((16, 16, 3))
    out = conv_bn_relu(inputs, 8, strides=2, dilation_rate=1, name="stem")
    assert out.shape == (None, 8, 8, 8)
    model = keras.Model(inputs, out)
    assert {"stem_conv", "stem_bn", "stem_relu"} <= {layer.name for layer in model.layers}
    assert model.get_layer("stem_conv").use_bias is False


def test_bottleneck_block_with_stride_uses_a_projection():
    inputs = keras.Input((8, 8, 32))
    out = bottleneck_block(inputs, (4, 4, 16), strides=2, name="b")
    assert out.shape == (None, 4, 4, 16)
    names = _layer_names(out, inputs)
    assert {"b_0_conv", "b_1_conv", "b_2_conv", "b_3_conv", "b_add", "b_out"} <= names


def test_bottleneck_block_identity_when_shapes_match():
    inputs = keras.Input((8, 8, 16))
    out = bottleneck_block(inputs, (4, 4, 16), name="b")
    assert out.shape == (None, 8, 8, 16)
    assert "b_0_conv" not in _layer_names(out, inputs)


def test_basic_block_downsamples_like_torchvision():
    inputs = keras.Input((9, 9, 8))
    out = basic_block(inputs, 16, strides=2, name="layer2_0")
    # PyTorch: floor((9 + 2 - 3) / 2) + 1 = 5.
    assert out.shape == (None, 5, 5, 16)
    names = _layer_names(out, inputs)
    assert {"layer2_0_downsample_conv", "layer2_0_conv1", "layer2_0_conv2"} <= names
