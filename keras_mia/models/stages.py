"""Fine-tuning stages: named, cumulative groups of layers that training unfreezes in order.

A model's stages are stored here, keyed by the model's name, as layer-name prefixes. Nothing is
attached to the model object itself, so the stages of a model reloaded from a ``.keras`` file
are recomputed exactly as for a freshly built one (Keras keeps model and layer names on save).

Stages are cumulative: stage ``k`` trains the layers of its own group and of every earlier
stage. The last stage of every model is ``"all"``.
"""

from __future__ import annotations

from typing import Sequence

import keras

__all__ = [
    "ALL",
    "register_stages",
    "list_stages",
    "get_stage_layers",
    "set_trainable_stage",
]

ALL = "all"

# model name -> ordered ((stage name, layer-name prefixes), ...); "all" has no prefixes.
_STAGES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}


def register_stages(model_name: str, stages: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Declares the fine-tuning stages of a model family.

    Args:
        model_name: The ``keras.Model`` name the builder gives its models.
        stages: Ordered ``(stage_name, layer_name_prefixes)`` pairs, first stage first. The
            stage ``"all"`` is appended automatically and must not be given.

    Raises:
        ValueError: If a stage is named twice, is named ``"all"``, or has no prefixes.
    """
    names = [stage_name for stage_name, _ in stages]
    if ALL in names or len(set(names)) != len(names):
        raise ValueError(
            f"Stage names must be unique and must not include '{ALL}'. Received: stages={names}"
        )
    normalised = []
    for stage_name, prefixes in stages:
        prefixes = tuple(prefixes)
        if not prefixes:
            raise ValueError(
                f"Stage '{stage_name}' of model '{model_name}' needs at least one layer-name "
                f"prefix. Received: prefixes={prefixes}"
            )
        normalised.append((stage_name, prefixes))
    normalised.append((ALL, ()))
    _STAGES[model_name] = tuple(normalised)


def _stages_of(model: keras.Model) -> tuple[tuple[str, tuple[str, ...]], ...]:
    try:
        return _STAGES[model.name]
    except KeyError:
        raise ValueError(
            f"No fine-tuning stages are registered for a model named '{model.name}'. Models "
            f"with stages: {sorted(_STAGES)}. Build models with keras_mia.models.build and keep "
            f"their name. Received: model.name={model.name!r}"
        ) from None


def list_stages(model: keras.Model) -> list[str]:
    """Returns the stage names of ``model`` in training order, e.g. ``["head", "all"]``."""
    return [stage_name for stage_name, _ in _stages_of(model)]


def _resolve(model: keras.Model, stage: str | int) -> int:
    """Returns the 0-based index of ``stage`` (a name, or a 1-based stage number)."""
    names = list_stages(model)
    if isinstance(stage, int) and not isinstance(stage, bool):
        if 1 <= stage <= len(names):
            return stage - 1
    elif stage in names:
        return names.index(stage)
    raise ValueError(
        f"Unknown stage for model '{model.name}'. Stages: {names} (or their numbers "
        f"1..{len(names)}). Received: stage={stage!r}"
    )


def get_stage_layers(model: keras.Model, stage: str | int) -> list[keras.layers.Layer]:
    """Returns the layers trained in ``stage`` (its group plus every earlier stage's group).

    Args:
        model: A model built by :func:`keras_mia.models.build`, fresh or reloaded.
        stage: A stage name from :func:`list_stages` or its 1-based number.

    Returns:
        The selected layers, in the model's layer order.

    Raises:
        ValueError: If the model has no registered stages, the stage is unknown, or a stage
            group matches no layer (the model does not have the expected layer names).
    """
    stages = _stages_of(model)
    index = _resolve(model, stage)
    if stages[index][0] == ALL:
        return list(model.layers)
    prefixes: list[str] = []
    for stage_name, group in stages[: index + 1]:
        if not any(layer.name.startswith(group) for layer in model.layers):
            raise ValueError(
                f"Stage '{stage_name}' of model '{model.name}' matches no layer (expected "
                f"layer names starting with {list(group)}). Received: model with layers "
                f"{[layer.name for layer in model.layers[:5]]}..."
            )
        prefixes.extend(group)
    prefix_tuple = tuple(prefixes)
    return [layer for layer in model.layers if layer.name.startswith(prefix_tuple)]


def set_trainable_stage(model: keras.Model, stage: str | int) -> list[keras.layers.Layer]:
    """Freezes every layer of ``model`` except those of ``stage`` (cumulative).

    Frozen BatchNormalization layers run in inference mode (Keras does this for
    ``trainable=False``), so their moving statistics stay those of the pretrained weights.
    Compile the model again after calling this.

    Args:
        model: A model built by :func:`keras_mia.models.build`, fresh or reloaded.
        stage: A stage name from :func:`list_stages` or its 1-based number.

    Returns:
        The layers left trainable.
    """
    selected = get_stage_layers(model, stage)
    selected_ids = {id(layer) for layer in selected}
    model.trainable = True
    for layer in model.layers:
        layer.trainable = id(layer) in selected_ids
    return selected
