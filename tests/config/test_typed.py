"""Typed configuration: every key and type checked, --set overrides applied."""

import dataclasses
import enum
from typing import Literal

import pytest

from keras_mia.config.typed import (
    ConfigError,
    apply_overrides,
    from_dict,
    parse_assignment,
    to_dict,
)


class Mode(str, enum.Enum):
    STRETCH = "stretch"
    PAD = "pad"


@dataclasses.dataclass
class Inner:
    learning_rate: float = 1e-3
    epochs: int = 1


@dataclasses.dataclass
class Outer:
    name: str
    image_size: tuple[int, int] = (32, 32)
    mode: Mode = Mode.STRETCH
    weights: str | None = None
    inner: Inner = dataclasses.field(default_factory=Inner)
    stages: list[Inner] = dataclasses.field(default_factory=list)
    flag: bool = False
    channels: Literal[1, 3] = 1

    def validate(self):
        if min(self.image_size) < 1:
            raise ValueError(f"image_size must be positive. Received: {self.image_size}")


def test_builds_nested_and_coerces():
    cfg = from_dict(
        Outer,
        {"name": "x", "image_size": [64, 48], "mode": "pad", "inner": {"learning_rate": 1},
         "stages": [{"epochs": 2}, {"epochs": 3}]},
    )
    assert cfg.image_size == (64, 48)
    assert cfg.mode is Mode.PAD
    assert cfg.inner.learning_rate == 1.0 and isinstance(cfg.inner.learning_rate, float)
    assert [s.epochs for s in cfg.stages] == [2, 3]
    assert to_dict(cfg)["mode"] == "pad"
    assert from_dict(Outer, to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "inner": {"epohcs": 2}}, "inner.epohcs: unknown key"),
        ({"name": "x", "inner": {"epochs": "two"}}, "inner.epochs: expected an integer"),
        ({"name": "x", "inner": {"epochs": 2.5}}, "inner.epochs: expected an integer"),
        ({"name": "x", "flag": "yes"}, "flag: expected true or false"),
        ({"name": "x", "mode": "squash"}, "mode: expected one of 'stretch', 'pad'"),
        ({"name": "x", "image_size": [1, 2, 3]}, "image_size: expected 2 values"),
        ({"name": "x", "image_size": [0, 2]}, "image_size must be positive"),
        ({"name": "x", "stages": [{"epochs": 1}, {"lr": 1}]}, "stages[1].lr: unknown key"),
        ({}, "name: missing required key"),
        ({"name": "x", "channels": 2}, "channels: expected one of 1, 3"),
        ({"name": "x", "channels": True}, "channels: expected one of 1, 3"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_dict(Outer, data)


def test_overrides_parse_yaml_values_and_reach_list_items():
    tree = {"name": "x", "inner": {"epochs": 1}, "stages": [{"epochs": 1}, {"epochs": 1}]}
    out = apply_overrides(
        tree, ["inner.epochs=5", "image_size=[16, 8]", "stages.1.learning_rate=1e-4", "name=y"]
    )
    assert tree["inner"]["epochs"] == 1, "the input must not be modified"
    cfg = from_dict(Outer, out)
    assert cfg.inner.epochs == 5 and cfg.image_size == (16, 8) and cfg.name == "y"
    assert cfg.stages[1].learning_rate == pytest.approx(1e-4)


def test_override_of_unknown_key_is_rejected_by_the_schema():
    with pytest.raises(ConfigError, match="inner.epohcs: unknown key"):
        from_dict(Outer, apply_overrides({"name": "x"}, ["inner.epohcs=3"]))


@pytest.mark.parametrize("text", ["noequals", "=3", "stages.9.epochs=1"])
def test_bad_assignments(text):
    with pytest.raises(ConfigError):
        apply_overrides({"stages": [{"epochs": 1}]}, [text])


def test_parse_assignment_keeps_non_yaml_as_string():
    assert parse_assignment("a.b=null") == (["a", "b"], None)
    assert parse_assignment("a=runs/x [1]")[1] == "runs/x [1]"
    # YAML 1.1 reads 1e-4 as text; from_dict converts it for float fields.
    assert parse_assignment("a=1e-4")[1] == "1e-4"
