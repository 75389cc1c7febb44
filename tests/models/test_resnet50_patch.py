import numpy as np

from keras_mia import models


def test_native_patch_classifier():
    model = models.build("resnet50_patch")
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 5)
    assert model.get_layer("head_predictions").activation.__name__ == "softmax"
    # ResNet50 without top (23,587,712) + Dense(2048 -> 5).
    assert model.count_params() == 23_587_712 + 2048 * 5 + 5


def test_shen_three_stages():
    model = models.build("resnet50_patch", input_shape=(32, 32))
    assert models.list_stages(model) == ["head", "top_block", "all"]
    stage1 = {layer.name for layer in models.get_stage_layers(model, "head")}
    assert stage1 == {"head_gap", "head_predictions"}
    stage2 = {layer.name for layer in models.get_stage_layers(model, "top_block")}
    assert stage1 < stage2
    assert {"conv5_block3_1_conv", "conv5_block3_3_bn", "conv5_block3_out"} <= stage2
    assert not any(name.startswith(("conv5_block2", "conv4_", "conv1_")) for name in stage2)
    models.set_trainable_stage(model, "top_block")
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"head_predictions", "conv5_block3_1_conv", "conv5_block3_1_bn",
                         "conv5_block3_2_conv", "conv5_block3_2_bn", "conv5_block3_3_conv",
                         "conv5_block3_3_bn"}


def test_gray_patch_model(rng, forward):
    model = models.build("resnet50_patch", input_shape=(32, 32), input_channels=1)
    assert model.get_layer("conv1_conv").kernel.shape == (7, 7, 1, 64)
    out = forward(model, rng.normal(size=(1, 32, 32, 1)).astype("float32"))
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)
