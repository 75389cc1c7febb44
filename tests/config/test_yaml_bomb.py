"""User YAML (recipes, a run's config.yaml via --config, --set values) cannot be an alias bomb."""

import time

import pytest

from keras_mia.recipes import list_recipes, load_recipe
from keras_mia.config.typed import ConfigError, load_yaml, parse_assignment

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
)


def test_billion_laughs_config_is_refused_quickly(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BOMB)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"config.yaml: the YAML expands to more than 100,000"):
        load_recipe(path)
    assert time.monotonic() - started < 2


def test_bomb_in_a_set_value_is_refused():
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_assignment("training.epochs=" + "{" + BOMB.replace("\n", ", ") + "}")


def test_ordinary_aliases_and_recursive_ones():
    assert load_yaml("x: &x [1, 2]\ny: *x\n") == {"x": [1, 2], "y": [1, 2]}
    with pytest.raises(ConfigError, match="recursive"):
        load_yaml("x: &x [1, *x]\n", "loop.yaml")


def test_shipped_recipes_still_load():
    names = list_recipes()
    assert names
    for name in names:
        load_recipe(name)
