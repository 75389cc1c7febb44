import keras
import numpy as np
import pytest

from keras_mia import models
from keras_mia.models import weights as weights_module


def _kernel(model, name):
    return keras.ops.convert_to_numpy(model.get_layer(name).kernel)


def test_adapt_input_conv_sums_rgb(rng):
    kernel = rng.normal(size=(7, 7, 3, 4))
    adapted = models.adapt_input_conv(kernel, 1)
    assert adapted.shape == (7, 7, 1, 4)
    np.testing.assert_allclose(
        adapted[:, :, 0], kernel[:, :, 0] + kernel[:, :, 1] + kernel[:, :, 2]
    )
    np.testing.assert_array_equal(models.adapt_input_conv(kernel, 3), kernel)
    with pytest.raises(ValueError, match="3-channel -> 1-channel"):
        models.adapt_input_conv(kernel[:, :, :1], 3)


def test_gray_response_equals_rgb_response_of_replicated_image(rng):
    kernel = rng.normal(size=(3, 3, 3, 2)).astype("float32")
    gray = rng.normal(size=(1, 6, 6, 1)).astype("float32")
    rgb_out = keras.ops.conv(np.repeat(gray, 3, axis=-1), kernel)
    gray_out = keras.ops.conv(gray, models.adapt_input_conv(kernel, 1))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gray_out),
        keras.ops.convert_to_numpy(rgb_out),
        rtol=1e-4,
        atol=1e-4,
    )


def test_weights_option_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        models.build("resnet18", input_shape=(32, 32), weights=tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="weights=42"):
        models.build("resnet18", input_shape=(32, 32), weights=42)
    with pytest.raises(ValueError, match="ImageNet"):
        models.build("resnet18", weights="imagenet")
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="Unsupported weights file"):
        models.build("resnet18", input_shape=(32, 32), weights=bad)


def _numpy(layer):
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


# One case per model, alternating the two file formats: (name, input size, file suffix).
GRAY_FROM_RGB_CASES = [
    ("resnet18", (32, 32), ".keras"),
    ("dense_prediction_28", (32, 32), ".weights.h5"),
    ("resnet50_patch", (32, 32), ".weights.h5"),
    ("resnet50_whole_image", (64, 48), ".keras"),
    ("inception_v3_gap", (75, 75), ".keras"),
]


def test_gray_from_rgb_cases_cover_every_model():
    assert sorted(name for name, _, _ in GRAY_FROM_RGB_CASES) == models.list_models()


@pytest.mark.parametrize("name, size, suffix", GRAY_FROM_RGB_CASES)
def test_saved_rgb_weights_load_into_gray_model_with_summed_stem(tmp_path, name, size, suffix):
    rgb = models.build(name, input_shape=size, input_channels=3)
    path = tmp_path / f"rgb{suffix}"
    if suffix == ".keras":
        rgb.save(path)
    else:
        rgb.save_weights(path)
    gray = models.build(name, input_shape=size, input_channels=1, weights=path)
    assert gray.input_shape[-1] == 1
    sources = [layer for layer in rgb.layers if layer.weights]
    targets = [layer for layer in gray.layers if layer.weights]
    assert len(sources) == len(targets)
    stem_rgb, stem_gray = sources[0], targets[0]
    assert isinstance(stem_gray, keras.layers.Conv2D) and stem_gray.kernel.shape[2] == 1
    # timm's adapt_input_conv: the gray kernel is the sum of the three RGB kernels.
    np.testing.assert_allclose(
        _numpy(stem_gray)[0], _numpy(stem_rgb)[0].sum(axis=2, keepdims=True), rtol=1e-6
    )
    # Every other weight (BatchNorm statistics included) is copied unchanged.
    for source, target in zip(sources[1:], targets[1:]):
        for a, b in zip(_numpy(source), _numpy(target)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: {target.name}")


def test_same_architecture_round_trip_and_mismatch(tmp_path):
    source = models.build("resnet18", input_shape=(32, 32), num_classes=3)
    path = tmp_path / "three.weights.h5"
    source.save_weights(path)
    copy = models.build("resnet18", input_shape=(32, 32), num_classes=3, weights=path)
    for a, b in zip(source.weights, copy.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match="three.weights.h5"):
        models.build("resnet18", input_shape=(32, 32), num_classes=2, weights=path)


class _RecordingApplication:
    """Stands in for keras.applications.ResNet50: records calls, never downloads."""

    def __init__(self, real):
        self.real = real
        self.calls = []
        self.built = []

    def __call__(self, **kwargs):
        self.calls.append(dict(kwargs))
        model = self.real(**{**kwargs, "weights": None})
        self.built.append(model)
        return model


@pytest.fixture
def recording_resnet50(monkeypatch):
    recorder = _RecordingApplication(keras.applications.ResNet50)
    monkeypatch.setattr(keras.applications, "ResNet50", recorder)
    return recorder


def test_imagenet_reaches_keras_applications_for_rgb(recording_resnet50):
    models.build("resnet50_patch", input_shape=(32, 32), weights="imagenet")
    assert len(recording_resnet50.calls) == 1
    call = recording_resnet50.calls[0]
    assert call["weights"] == "imagenet" and call["include_top"] is False


def test_imagenet_for_gray_model_adapts_an_rgb_copy(recording_resnet50):
    model = models.build(
        "resnet50_patch", input_shape=(32, 32), input_channels=1, weights="imagenet"
    )
    assert [call["weights"] for call in recording_resnet50.calls] == [None, "imagenet"]
    assert recording_resnet50.calls[1]["input_shape"][-1] == 3
    source = recording_resnet50.built[1]
    np.testing.assert_allclose(
        _kernel(model, "conv1_conv"), _kernel(source, "conv1_conv").sum(axis=2, keepdims=True),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        _kernel(model, "conv5_block3_3_conv"), _kernel(source, "conv5_block3_3_conv")
    )


def test_transfer_weights_reports_architecture_mismatch():
    a = models.build("resnet18", input_shape=(32, 32))
    b = models.build("dense_prediction_28", input_shape=(32, 32))
    with pytest.raises(ValueError, match="Architecture mismatch"):
        weights_module.transfer_weights(a.layers, b.layers, description="resnet18")
