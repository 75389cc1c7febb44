"""The model registry: one name per reproduced architecture, one builder per name.

Builders register themselves with :func:`register_model` when their module is imported (the
package ``__init__`` imports every family module), the way timm's ``register_model`` works.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import keras

__all__ = ["register_model", "build", "list_models", "get_builder"]

_BUILDERS: dict[str, Callable[..., keras.Model]] = {}


def register_model(name: str) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Registers a model builder under ``name``.

    Args:
        name: The public model name used by :func:`build` and by the recipes. It is also the
            ``name`` of the built ``keras.Model``, which is how fine-tuning stages are looked up
            again after a model is saved and reloaded.

    Returns:
        A decorator that records the builder and returns it unchanged.

    Raises:
        ValueError: If ``name`` is already registered to a different builder.
    """

    def decorator(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        existing = _BUILDERS.get(name)
        if existing is not None and existing is not builder:
            raise ValueError(
                f"A model named '{name}' is already registered (to {existing.__qualname__}). "
                f"Received: builder={builder.__qualname__}"
            )
        _BUILDERS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Returns the registered model names, sorted."""
    return sorted(_BUILDERS)


def get_builder(name: str) -> Callable[..., keras.Model]:
    """Returns the builder function registered under ``name``.

    Raises:
        ValueError: If no model of that name is registered.
    """
    try:
        return _BUILDERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model name. Available models: {list_models()}. Received: name={name!r}"
        ) from None


def build(name: str, **options: Any) -> keras.Model:
    """Builds a registered model.

    Args:
        name: A name from :func:`list_models`, e.g. ``"resnet18"``.
        **options: Keyword options of that model's builder (``input_shape``, ``num_classes``,
            ``weights``, ``input_channels``, ``dropout``, ... where the model supports them).

    Returns:
        An uncompiled functional ``keras.Model`` whose ``name`` is ``name``.

    Raises:
        ValueError: If the name is unknown or an option is not accepted by that builder.
    """
    builder = get_builder(name)
    parameters = inspect.signature(builder).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(options) - set(parameters))
    if unknown and not accepts_any:
        raise ValueError(
            f"Model '{name}' does not accept option(s) {unknown}. Accepted options: "
            f"{sorted(parameters)}. Received: options={sorted(options)}"
        )
    return builder(**options)
