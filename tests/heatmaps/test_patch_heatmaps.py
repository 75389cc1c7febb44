"""Tests for keras_mia.heatmaps: sliding-window and one-pass (FCN) patch heatmaps."""

import keras
import numpy as np
import pytest

from keras_mia.heatmaps import (
    fcn_exact,
    fcn_heatmap,
    fcn_model,
    network_stride,
    preprocess_whole_image,
    sliding_window_heatmap,
    window_starts,
)
from keras_mia.recipes import load_recipe

PATCH = 32


def _patch_classifier(seed=0, channels=3, head_dropout=False):
    """Unpadded strided convs (total stride 4) -> GAP -> [Dropout] -> Dense(5, softmax)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((PATCH, PATCH, channels))
    x = keras.layers.Conv2D(8, 3, padding="valid")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="valid", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if head_dropout:
        x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="tiny_patch")
    bn = model.layers[2]
    rng = np.random.default_rng(seed)
    bn.set_weights([w + 0.3 * rng.standard_normal(w.shape).astype("float32") ** 2
                    for w in bn.get_weights()])
    return model


@pytest.fixture(scope="module")
def tiny():
    return _patch_classifier()


@pytest.fixture(scope="module")
def image():
    # A smooth bright blob on noise: cells differ, so equal maps are a real agreement.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :64]
    blob = 3.0 * np.exp(-((yy - 40) ** 2 + (xx - 30) ** 2) / 200.0)
    grey = (blob + 0.5 * rng.standard_normal((96, 64))).astype("float32")
    return np.repeat(grey[..., None], 3, axis=-1)


@pytest.mark.parametrize("stride", [4, 8, 16, 32])
def test_sliding_window_and_fcn_agree(tiny, image, stride):
    sliding = sliding_window_heatmap(tiny, image, stride=stride, batch_size=5)
    one_pass = fcn_heatmap(tiny, image, stride=stride)
    rows, cols = (96 - PATCH) // stride + 1, (64 - PATCH) // stride + 1
    assert sliding.shape == one_pass.shape == (rows, cols, 5)
    assert np.abs(sliding - one_pass).max() <= 1e-4
    assert sliding[..., 0].std() > 1e-3  # the map is not flat


def test_agreement_on_a_size_that_is_not_a_stride_multiple(tiny):
    rng = np.random.default_rng(1)
    odd = rng.standard_normal((71, 45, 3)).astype("float32")
    fcn = fcn_model(tiny)
    sliding = sliding_window_heatmap(tiny, odd, stride=4)
    assert sliding.shape == ((71 - PATCH) // 4 + 1, (45 - PATCH) // 4 + 1, 5)
    assert np.abs(sliding - fcn_heatmap(tiny, odd, fcn=fcn)).max() <= 1e-4


def test_sliding_window_cells_are_the_classifier_on_each_window(tiny, image):
    heatmap = sliding_window_heatmap(tiny, image, stride=12, batch_size=4)
    starts_r, starts_c = window_starts(96, PATCH, 12), window_starts(64, PATCH, 12)
    assert heatmap.shape[:2] == (len(starts_r), len(starts_c))
    for r, c in [(0, 0), (2, 1), (len(starts_r) - 1, len(starts_c) - 1)]:
        window = image[starts_r[r] : starts_r[r] + PATCH, starts_c[c] : starts_c[c] + PATCH]
        expected = keras.ops.convert_to_numpy(tiny(window[None], training=False))[0]
        np.testing.assert_allclose(heatmap[r, c], expected, atol=1e-6)
    np.testing.assert_allclose(heatmap.sum(axis=-1), 1.0, atol=1e-5)
    # The batch size changes how windows are grouped, never the result.
    np.testing.assert_allclose(
        sliding_window_heatmap(tiny, image, stride=12, batch_size=1), heatmap, atol=1e-6)


def test_network_stride_and_exactness(tiny):
    assert network_stride(tiny) == 4
    assert fcn_exact(tiny)
    dropout = _patch_classifier(head_dropout=True)
    rng = np.random.default_rng(2)
    picture = rng.standard_normal((48, 40, 3)).astype("float32")
    np.testing.assert_allclose(sliding_window_heatmap(dropout, picture, stride=8),
                               fcn_heatmap(dropout, picture, stride=8), atol=1e-4)


def test_fcn_rejects_a_stride_off_the_network_grid(tiny, image):
    with pytest.raises(ValueError, match="multiple of 4"):
        fcn_heatmap(tiny, image, stride=6)


def test_unsupported_structures_are_named():
    inputs = keras.Input((PATCH, PATCH, 1))
    flat = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
        fcn_model(keras.Model(inputs, flat, name="no_gap"))
    x = keras.layers.UpSampling2D(2, name="upsample")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    up = keras.Model(inputs, keras.layers.Dense(2)(x), name="upsampling")
    with pytest.raises(ValueError, match="upsample"):
        network_stride(up)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    branch = keras.layers.Concatenate()([keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)])
    with pytest.raises(ValueError, match="position-wise"):
        fcn_model(keras.Model(inputs, branch, name="branched"))
    free = keras.Input((None, None, 1))
    gap = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(free))
    with pytest.raises(ValueError, match="no fixed input size"):
        sliding_window_heatmap(keras.Model(free, gap), np.zeros((40, 40), "float32"))


def test_window_starts_and_small_images(tiny):
    np.testing.assert_array_equal(window_starts(96, 32, 16), [0, 16, 32, 48, 64])
    np.testing.assert_array_equal(window_starts(32, 32, 5), [0])
    with pytest.raises(ValueError, match="smaller than the window"):
        window_starts(31, 32, 4)
    with pytest.raises(ValueError, match="stride"):
        window_starts(64, 32, 0)
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        sliding_window_heatmap(tiny, np.zeros((64, 64, 1), "float32"))


def test_resnet50_patch_rewrite_is_exact_on_one_window_and_documented_elsewhere():
    from keras_mia.models import build

    keras.utils.set_random_seed(0)
    model = build("resnet50_patch", input_shape=(PATCH, PATCH, 3), weights=None)
    assert network_stride(model) == 32
    # ResNet50 zero-pads every window at its border, so only a one-window image is exact.
    assert not fcn_exact(model)
    rng = np.random.default_rng(3)
    fcn = fcn_model(model)
    one = rng.standard_normal((PATCH, PATCH, 3)).astype("float32")
    np.testing.assert_allclose(fcn_heatmap(model, one, fcn=fcn),
                               sliding_window_heatmap(model, one), atol=1e-4)
    whole = rng.standard_normal((96, 64, 3)).astype("float32")
    one_pass = fcn_heatmap(model, whole, fcn=fcn)
    assert one_pass.shape == sliding_window_heatmap(model, whole, stride=32).shape == (3, 2, 5)
    np.testing.assert_allclose(one_pass.sum(axis=-1), 1.0, atol=1e-5)


def test_preprocess_whole_image_normalises_without_resizing():
    data = load_recipe("mammo_patch", ["data.mean=100.0"]).data
    raw = np.random.default_rng(4).uniform(0, 65535, (70, 50)).astype("float32")
    out = preprocess_whole_image(raw, data)
    assert out.shape == (70, 50, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 2], raw * data.rescale - 100.0, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
