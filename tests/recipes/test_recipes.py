"""Recipe YAML files: each loads into a typed config with the seed's hyper-parameters."""

import pytest

from keras_mia.recipes import dump_recipe, list_recipes, load_recipe
from keras_mia.config.typed import ConfigError

RECIPES = ["hello_world", "breast_mri", "mammo_patch", "mammo_whole_image", "mammo_dense"]


def test_every_recipe_is_listed_with_a_description():
    recipes = list_recipes()
    assert sorted(recipes) == sorted(RECIPES)
    assert all(description for description in recipes.values())


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_and_its_demo_load_and_round_trip(name, tmp_path):
    config = load_recipe(name)
    assert config.name == name and config.reference
    demo = load_recipe(name, config.demo)
    path = dump_recipe(demo, tmp_path / "config.yaml")
    assert load_recipe(path) == demo


def test_seed_hyper_parameters():
    hello = load_recipe("hello_world")
    assert hello.data.batch_size == 5 and hello.training.stage_epochs() == [20]
    assert hello.training.stages[0].learning_rate == pytest.approx(1e-4)
    assert hello.data.augment.rotation == 20 and hello.data.augment.horizontal_flip

    mri = load_recipe("breast_mri")
    assert mri.training.stages[0].optimizer == "sgd" and mri.data.batch_size == 200
    assert mri.training.stage_epochs() == [100]

    patch = load_recipe("mammo_patch")
    assert [s.learning_rate for s in patch.training.stages] == pytest.approx([1e-3, 1e-4, 1e-5])
    assert [s.trainable for s in patch.training.stages] == ["head", "top_block", "all"]
    assert patch.training.stage_epochs() == [3, 10, 37]
    assert load_recipe("mammo_patch", ["variant=s"]).training.stage_epochs() == [3, 10, 200]

    whole = load_recipe("mammo_whole_image")
    assert whole.training.stage_epochs() == [30, 20] and whole.data.batch_size == 12
    assert whole.data.image_size == (1152, 896) and whole.data.resize == "pad"

    dense = load_recipe("mammo_dense")
    assert [tuple(s.crop) for s in dense.training.stages] == [
        (320, 320), (480, 480), (640, 640), (840, 840)]
    assert dense.training.loss_options["pos_weight"] == 15.0
    assert dense.training.stages[0].schedule.factor == pytest.approx(0.85)


def test_mammo_dense_mias_dev_reduction_loads(tmp_path):
    dense = load_recipe("mammo_dense", ["variant=mias_dev"])
    # Native 1024 x 1024 MIAS, crops well inside it, the 840 stage dropped, short from-scratch.
    assert dense.data.image_size is None and dense.data.batch_size == 4
    assert [(s.name, tuple(s.crop)) for s in dense.training.stages[:3]] == [
        ("crop256", (256, 256)), ("crop320", (320, 320)), ("crop480", (480, 480))]
    assert dense.training.stage_epochs() == [8, 4, 2, 0]
    assert dense.training.batchnorm_momentum == pytest.approx(0.9)
    assert dense.training.loss_options["pos_weight"] == 15.0  # the seed's loss is kept
    assert load_recipe(dump_recipe(dense, tmp_path / "config.yaml")) == dense


def test_overrides_reach_the_stable_keys():
    config = load_recipe("mammo_patch", ["training.epochs=6", "data.image_size=[64, 64]"])
    assert config.data.image_size == (64, 64)
    assert sum(config.training.stage_epochs()) == 6
    assert all(e >= 1 for e in config.training.stage_epochs())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["training.epohcs=3"], "training.epohcs: unknown key"),
        (["training.epochs=three"], "training.epochs: expected"),
        (["data.image_size=64"], "image_size"),
        (["variant=s99"], "variant: expected one of mias_dev, s, s10"),
        (["training.stages.7.epochs=1"], "expected a list index below 3"),
    ],
)
def test_bad_overrides_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe("mammo_patch", overrides)


def test_unknown_recipe_names_the_choices():
    with pytest.raises(ConfigError, match="Unknown recipe.*hello_world"):
        load_recipe("hello_wrld")
