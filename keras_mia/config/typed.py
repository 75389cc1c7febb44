"""Typed configuration objects built from nested dicts (YAML), with ``--set key=value`` overrides.

Recipes are YAML files; each section maps onto a dataclass. Building the dataclass checks every
key and every value's type, so a typo in a recipe or on the command line is one clear line
("training.epohcs: unknown key; expected one of ...") instead of a silent default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

import yaml

__all__ = [
    "ConfigError",
    "from_dict",
    "to_dict",
    "apply_overrides",
    "parse_assignment",
    "load_yaml",
    "MAX_YAML_NODES",
]

# Most nodes a configuration YAML may expand to, aliases counted as copies: recipes have a
# few hundred; an alias bomb ("billion laughs") has 10**9 in a kilobyte.
MAX_YAML_NODES = 100_000


class ConfigError(ValueError):
    """A configuration key is unknown, missing or of the wrong type."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a document expanding to more than ``MAX_YAML_NODES``.

    Aliases are legitimate YAML, and PyYAML builds them as shared objects in no time; it is
    walking the result (overrides, type checks) that explodes. So the composed node graph is
    measured, each node counted once per path that reaches it, before anything is built.
    """

    def construct_document(self, node):
        _expanded_size(node, MAX_YAML_NODES, {}, getattr(self, "name", "<yaml>"))
        return super().construct_document(node)


def _expanded_size(node, limit: int, sizes: dict, source: str) -> int:
    """Nodes under ``node`` with aliases expanded; memoised, so linear in the graph."""
    key = id(node)
    if key in sizes:
        if sizes[key] < 0:
            raise ConfigError(f"{source}: recursive YAML alias (an anchor used inside itself)")
        return sizes[key]
    sizes[key] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [item for pair in node.value for item in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, limit, sizes, source)
        if total > limit:
            raise ConfigError(
                f"{source}: the YAML expands to more than {limit:,} values through its "
                "aliases (*name); refused as an alias bomb. Write the values out instead."
            )
    sizes[key] = total
    return total


def load_yaml(stream, source: str | None = None) -> Any:
    """Reads one YAML document safely: plain data only, and no alias bomb.

    Args:
        stream: a string or an open text file.
        source: the file name for messages (default: the stream's ``name``).

    Returns:
        The document (``None`` for an empty one).

    Raises:
        ConfigError: the document expands to more than ``MAX_YAML_NODES`` values through
            aliases, or an alias refers to its own anchor.
        yaml.YAMLError: not valid YAML.
    """
    loader = _BoundedLoader(stream)
    if source is not None:
        loader.name = source
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        inner = _type_name(args[0]) if args else "any"
        return f"a list of {inner}"
    if origin is dict:
        return "a mapping"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Checks ``value`` against the annotation ``tp``; returns it converted where lossless."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                if option is not type(None):
                    errors.append(err)
        if value is not None and len(errors) == 1:
            # "X or null" given a non-null value: X's own message is the precise one.
            raise errors[0]
        raise ConfigError(f"{where}: expected {_type_name(tp)}. Received: {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null. Received: {value!r}")
    if origin is Literal:
        if not isinstance(value, bool) and value in typing.get_args(tp):
            return value
        raise ConfigError(f"{where}: expected {_type_name(tp)}. Received: {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected {_type_name(tp)}. Received: {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_type_name(tp)}. Received: {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(
                    f"{where}: expected {len(args)} values. Received: {list(value)!r}"
                )
            return tuple(
                _coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))
            )
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping. Received: {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, str):
            # PyYAML (YAML 1.1) reads "1e-4" as a string; accept what float() accepts.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number. Received: {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer. Received: {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false. Received: {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string. Received: {value!r}")
        return value
    if isinstance(tp, type) and issubclass(tp, str):  # str-valued enums
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)  # type: ignore[attr-defined]
            raise ConfigError(f"{where}: expected one of {choices}. Received: {value!r}") from None
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}. Received: {value!r}")
    return value


def from_dict(cls: type, data: dict | None, where: str = "") -> Any:
    """Builds dataclass ``cls`` from a nested dict, checking keys and types.

    Args:
        cls: a dataclass type whose field annotations describe the accepted values.
        data: the mapping (e.g. a YAML section); ``None`` means all defaults.
        where: dotted prefix used in error messages (e.g. ``"training"``).

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: naming the dotted key for an unknown key, a missing required key or a
            value of the wrong type.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping. Received: {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{key}: unknown key; expected one of {', '.join(sorted(fields))}")
    kwargs = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: missing required key ({_type_name(hints[name])})")
    try:
        instance = cls(**kwargs)
    except ValueError as err:  # checks in __post_init__
        raise ConfigError(f"{where or cls.__name__}: {err}") from None
    validate = getattr(instance, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(f"{where or cls.__name__}: {err}") from None
    return instance


def to_dict(instance: Any) -> Any:
    """Converts a (nested) config dataclass back to plain YAML-friendly values."""
    if dataclasses.is_dataclass(instance):
        return {f.name: to_dict(getattr(instance, f.name)) for f in dataclasses.fields(instance)}
    if isinstance(instance, (list, tuple)):
        return [to_dict(v) for v in instance]
    if isinstance(instance, dict):
        return {k: to_dict(v) for k, v in instance.items()}
    if isinstance(instance, str):  # also unwraps str enums
        return str(instance.value) if hasattr(instance, "value") else instance
    return instance


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """Parses ``"a.b=value"`` into (["a", "b"], value); the value is read as YAML.

    ``training.epochs=3`` gives 3, ``data.image_size=[64,64]`` a list,
    ``model.options.weights=null`` None, and anything that is not valid YAML stays a string.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value. Received: {text!r}")
    try:
        value = load_yaml(raw, f"--set {key.strip()}") if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return [part.strip() for part in key.strip().split(".")], value


def apply_overrides(tree: dict, assignments: list[str]) -> dict:
    """Applies ``key.path=value`` assignments to a nested dict (a copy is returned).

    Keys that do not exist yet are created; ``from_dict`` then rejects them if the schema does
    not know them, so typos are still caught. A list element is addressed by its index
    (``training.stages.0.learning_rate=1e-4``).
    """
    import copy

    tree = copy.deepcopy(tree)
    for text in assignments:
        path, value = parse_assignment(text)
        node: Any = tree
        for i, part in enumerate(path[:-1]):
            where = ".".join(path[: i + 1])
            if isinstance(node, list):
                node = _list_item(node, part, where)
            elif isinstance(node, dict):
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise ConfigError(f"{where}: cannot set a key inside {node!r}")
        last = path[-1]
        if isinstance(node, list):
            index = _list_index(node, last, ".".join(path))
            node[index] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"{'.'.join(path)}: cannot set a key inside {node!r}")
    return tree


def _list_index(node: list, part: str, where: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise ConfigError(f"{where}: expected a list index below {len(node)}. Received: {part!r}")
    return int(part)


def _list_item(node: list, part: str, where: str) -> Any:
    return node[_list_index(node, part, where)]
