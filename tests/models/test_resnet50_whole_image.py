import keras
import numpy as np
import pytest

from keras_mia import models


@pytest.fixture(scope="module")
def tiny_patch():
    """A 32 px patch classifier: the whole-image builder only reads it."""
    return models.build("resnet50_patch", input_shape=(32, 32))


def _numpy_weights(layer):
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


def _assert_backbone_copied(patch, whole):
    copied = 0
    for layer in patch.layers:
        if not layer.weights or layer.name.startswith("head_"):
            continue
        for a, b in zip(_numpy_weights(layer), _numpy_weights(whole.get_layer(layer.name))):
            np.testing.assert_array_equal(a, b)
        copied += isinstance(layer, keras.layers.Conv2D)
    assert copied == 53  # every convolution of ResNet50


def test_whole_image_at_native_size_reuses_every_patch_kernel(rng):
    patch = models.build("resnet50_patch")
    whole = models.build("resnet50_whole_image", patch_model=patch)
    assert whole.input_shape == (None, 1152, 896, 3)
    _assert_backbone_copied(patch, whole)
    assert whole.get_layer("extra_block1_0_conv").strides == (2, 2)
    filters = [whole.get_layer(f"extra_block1_{i}_conv").filters for i in (1, 2, 3)]
    assert filters == [512, 512, 1024]
    assert whole.get_layer("extra_block2_3_conv").filters == 1024
    x = rng.normal(0, 50, (1, 1152, 896, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(whole.predict(x, verbose=0))
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)


def test_from_saved_patch_file_any_size_and_stages(tmp_path, rng, tiny_patch, forward):
    patch = tiny_patch
    path = tmp_path / "patch.keras"
    patch.save(path)
    whole = models.build("resnet50_whole_image", patch_model=str(path), input_shape=(64, 48))
    _assert_backbone_copied(patch, whole)
    assert models.list_stages(whole) == ["head", "new_layers", "all"]
    head = {layer.name for layer in models.get_stage_layers(whole, "head")}
    assert head == {"head_gap", "head_predictions"}
    new = {layer.name for layer in models.get_stage_layers(whole, "new_layers")}
    assert head < new and "extra_block1_0_conv" in new and "extra_block2_out" in new
    assert not any(name.startswith("conv") for name in new)
    out = forward(whole, rng.normal(0, 50, (2, 64, 48, 3)).astype("float32"))
    assert out.shape == (2, 2)


def test_unknown_size_gray_model_from_rgb_patch(rng, tiny_patch, forward):
    patch = tiny_patch
    whole = models.build(
        "resnet50_whole_image", patch_model=patch, input_shape=(None, None), input_channels=1
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(whole.get_layer("conv1_conv").kernel),
        keras.ops.convert_to_numpy(patch.get_layer("conv1_conv").kernel).sum(
            axis=2, keepdims=True
        ),
        rtol=1e-6,
    )
    assert forward(whole, rng.normal(size=(1, 70, 50, 1)).astype("float32")).shape == (1, 2)


def test_invalid_patch_model_and_conflicting_options(tmp_path, tiny_patch):
    other = models.build("resnet18", input_shape=(32, 32))
    with pytest.raises(ValueError, match="resnet18"):
        models.build("resnet50_whole_image", patch_model=other, input_shape=(64, 64))
    with pytest.raises(FileNotFoundError, match="nope.keras"):
        models.build("resnet50_whole_image", patch_model=tmp_path / "nope.keras")
    with pytest.raises(ValueError, match="not both"):
        models.build("resnet50_whole_image", patch_model=tiny_patch, weights="imagenet")


def test_backbone_is_stated_explicitly(tiny_patch):
    with pytest.raises(ValueError, match="backbone='patch' needs `patch_model`"):
        models.build("resnet50_whole_image", backbone="patch", input_shape=(64, 48))
    with pytest.raises(ValueError, match="does not take a `patch_model`"):
        models.build("resnet50_whole_image", backbone="random", patch_model=tiny_patch)
    with pytest.raises(ValueError, match="sets the weights itself"):
        models.build("resnet50_whole_image", backbone="random", weights="imagenet")
    with pytest.raises(ValueError, match="must be one of"):
        models.build("resnet50_whole_image", backbone="scratch")
    whole = models.build("resnet50_whole_image", backbone="patch", patch_model=tiny_patch,
                         input_shape=(64, 48))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(whole.get_layer("conv1_conv").kernel),
        keras.ops.convert_to_numpy(tiny_patch.get_layer("conv1_conv").kernel),
    )
