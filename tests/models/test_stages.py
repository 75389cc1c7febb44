import keras
import numpy as np
import pytest

from keras_mia import models


@pytest.fixture(scope="module")
def small_resnet18():
    return models.build("resnet18", input_shape=(32, 32))


def _trainable_names(model):
    return sorted(layer.name for layer in model.layers if layer.trainable and layer.weights)


def test_stages_are_listed_in_training_order(small_resnet18):
    assert models.list_stages(small_resnet18) == ["head", "top_block", "all"]


def test_head_stage_trains_only_the_classifier(small_resnet18):
    models.set_trainable_stage(small_resnet18, "head")
    assert _trainable_names(small_resnet18) == ["head_predictions"]
    assert sum(int(np.prod(w.shape)) for w in small_resnet18.trainable_weights) == 512 * 2 + 2


def test_top_block_stage_adds_the_last_basic_block(small_resnet18):
    trainable = models.set_trainable_stage(small_resnet18, "top_block")
    names = {layer.name for layer in trainable}
    assert {"head_predictions", "layer4_1_conv1", "layer4_1_bn2"} <= names
    assert not any(name.startswith(("layer4_0_", "layer3_", "conv1")) for name in names)
    assert all(layer.trainable == (layer.name in names) for layer in small_resnet18.layers)


def test_all_stage_and_stage_numbers(small_resnet18):
    models.set_trainable_stage(small_resnet18, 1)
    assert _trainable_names(small_resnet18) == ["head_predictions"]
    models.set_trainable_stage(small_resnet18, "all")
    assert all(layer.trainable for layer in small_resnet18.layers)
    assert models.get_stage_layers(small_resnet18, 3) == list(small_resnet18.layers)


@pytest.mark.parametrize("stage", ["middle", 0, 4, True])
def test_unknown_stage_is_rejected(small_resnet18, stage):
    with pytest.raises(ValueError, match="Unknown stage"):
        models.set_trainable_stage(small_resnet18, stage)


def test_model_without_registered_stages_is_rejected():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="dense")(inputs), name="custom")
    with pytest.raises(ValueError, match="custom"):
        models.set_trainable_stage(model, "head")


def test_frozen_batch_norm_keeps_its_statistics_while_the_head_learns(small_resnet18, rng):
    model = small_resnet18
    models.set_trainable_stage(model, "head")
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="sparse_categorical_crossentropy",
        run_eagerly=keras.backend.backend() == "tensorflow",
    )
    bn = model.get_layer("bn1")
    mean_before = keras.ops.convert_to_numpy(bn.moving_mean).copy()
    head_before = keras.ops.convert_to_numpy(model.get_layer("head_predictions").kernel).copy()
    model.train_on_batch(rng.normal(5.0, 1.0, (2, 32, 32, 1)).astype("float32"), np.array([0, 1]))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), mean_before)
    head_after = keras.ops.convert_to_numpy(model.get_layer("head_predictions").kernel)
    assert not np.allclose(head_after, head_before)
    models.set_trainable_stage(model, "all")


# name -> (tiny input size, stages, head layers, layer-name prefixes of the middle stage).
STAGE_CASES = {
    "inception_v3_gap": (
        (75, 75), ["head", "all"], {"head_gap", "head_dense", "head_dropout", "head_predictions"},
        None,
    ),
    "resnet18": ((32, 32), ["head", "top_block", "all"], {"head_gap", "head_predictions"},
                 ("layer4_1_",)),
    "resnet50_patch": ((32, 32), ["head", "top_block", "all"], {"head_gap", "head_predictions"},
                       ("conv5_block3_",)),
    "resnet50_whole_image": ((64, 48), ["head", "new_layers", "all"],
                             {"head_gap", "head_predictions"}, ("extra_block1_", "extra_block2_")),
    "dense_prediction_28": ((32, 32), ["head", "decoder", "all"], {"head_logits", "head_resize"},
                            ("decoder_", "bottleneck_")),
}


def test_stage_cases_cover_every_model():
    assert sorted(STAGE_CASES) == models.list_models()


def _stage_names(model):
    return {stage: {layer.name for layer in models.get_stage_layers(model, stage)}
            for stage in models.list_stages(model)}


def _check_frozen_exactly_outside(model, names):
    for layer in model.layers:
        # Keras does not save an InputLayer's flag; it has no weights either way.
        if not isinstance(layer, keras.layers.InputLayer):
            assert layer.trainable == (layer.name in names), layer.name
    expected = {id(w) for layer in model.layers if layer.name in names
                for w in layer.trainable_weights}
    assert {id(w) for w in model.trainable_weights} == expected


@pytest.mark.parametrize("name", sorted(STAGE_CASES))
def test_stages_freeze_and_unfreeze_fresh_and_reloaded(name, tmp_path):
    size, stages, head, middle_prefixes = STAGE_CASES[name]
    model = models.build(name, input_shape=size)
    all_trainable = len(model.trainable_weights)
    assert models.list_stages(model) == stages
    groups = _stage_names(model)
    assert groups["head"] == head
    if middle_prefixes is not None:
        middle = groups[stages[1]]
        assert head < middle
        new = middle - head
        assert new and all(n.startswith(middle_prefixes) for n in new)
        # Every layer of those groups belongs to the stage, not only some of them.
        assert new == {layer.name for layer in model.layers
                       if layer.name.startswith(middle_prefixes)}
    assert groups["all"] == {layer.name for layer in model.layers}

    for stage in stages:
        models.set_trainable_stage(model, stage)
        _check_frozen_exactly_outside(model, groups[stage])
    assert len(model.trainable_weights) == all_trainable

    # Freeze, save and reload: the frozen state is kept, and the stages resolve identically.
    models.set_trainable_stage(model, "head")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    _check_frozen_exactly_outside(reloaded, head)
    assert _stage_names(reloaded) == groups
    # Unfreezing and freezing again, in both orders.
    for stage in [*stages, *reversed(stages[:-1])]:
        models.set_trainable_stage(reloaded, stage)
        _check_frozen_exactly_outside(reloaded, groups[stage])
    models.set_trainable_stage(reloaded, "all")
    assert len(reloaded.trainable_weights) == all_trainable
