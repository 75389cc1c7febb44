"""The recipes: one YAML file per reproduced system, loaded into typed config objects.

``load_recipe("mammo_patch", overrides=["training.epochs=3"])`` reads
``keras_mia/recipes/mammo_patch.yaml`` (or any YAML path, e.g. a run's ``config.yaml``),
applies the selected variant's overrides and then the user's, and checks every key and type.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from keras_mia.config.recipe import RecipeConfig
from keras_mia.config.typed import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_yaml,
    to_dict,
)

__all__ = ["RECIPE_DIR", "list_recipes", "recipe_path", "load_recipe", "dump_recipe"]

RECIPE_DIR = Path(__file__).resolve().parent


def list_recipes() -> dict[str, str]:
    """Returns recipe name -> one-line description, sorted by name."""
    out = {}
    for path in sorted(RECIPE_DIR.glob("*.yaml")):
        with open(path, encoding="utf-8") as f:
            out[path.stem] = (load_yaml(f) or {}).get("description", "")
    return out


def recipe_path(name_or_path: str | Path) -> Path:
    """Resolves a recipe name (``hello_world``) or a YAML file path to a file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"Recipe file not found. Received: {str(name_or_path)!r}")
        return path
    candidate = RECIPE_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError(
            f"Unknown recipe; expected one of {', '.join(list_recipes())} or a YAML file. "
            f"Received: {str(name_or_path)!r}"
        )
    return candidate


def load_recipe(
    name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()
) -> RecipeConfig:
    """Loads, overrides and checks a recipe.

    Args:
        name_or_path: a recipe name from :func:`list_recipes` or a YAML file (a run folder's
            ``config.yaml`` repeats that run).
        overrides: ``key.path=value`` strings (``--set``); ``variant=NAME`` selects a variant
            before its overrides apply.

    Returns:
        The fully resolved :class:`RecipeConfig`.

    Raises:
        ConfigError: an unknown key, a wrong type, an unknown recipe or variant, naming it.
    """
    path = recipe_path(name_or_path)
    try:
        with open(path, encoding="utf-8") as f:
            # Aliases are allowed, an alias bomb is refused (ConfigError) before it expands.
            tree = load_yaml(f, str(path)) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level.")
    overrides = list(overrides)
    # The variant is chosen first (it may come from --set), then its overrides, then the user's.
    tree = apply_overrides(tree, [o for o in overrides if o.split("=", 1)[0].strip() == "variant"])
    variant = tree.get("variant")
    variants = tree.get("variants") or {}
    if variants and variant not in variants:
        raise ConfigError(
            f"variant: expected one of {', '.join(sorted(variants))}. Received: {variant!r}"
        )
    tree = apply_overrides(tree, _variant_overrides(variants, variant) if variants else [])
    # Once applied, the variants table no longer describes this configuration.
    tree["variants"] = {}
    tree = apply_overrides(tree, [o for o in overrides if o.split("=", 1)[0].strip() != "variant"])
    return from_dict(RecipeConfig, tree)


def _variant_overrides(variants: dict, name: str, within: tuple[str, ...] = ()) -> list[str]:
    """A variant's overrides; a ``variant=BASE`` entry stands for BASE's overrides (so a
    variant can extend another without repeating its list)."""
    if name in within:
        raise ConfigError(f"variants: {' -> '.join(within + (name,))} is a cycle")
    if name not in variants:
        raise ConfigError(
            f"variants.{within[-1]}: expected one of {', '.join(sorted(variants))}. "
            f"Received: variant={name!r}"
        )
    out: list[str] = []
    for item in variants.get(name) or []:
        key, _, value = str(item).partition("=")
        if key.strip() == "variant":
            out += _variant_overrides(variants, value.strip(), within + (name,))
        else:
            out.append(item)
    return out


def dump_recipe(config: RecipeConfig, path: str | Path) -> Path:
    """Writes a fully resolved recipe as YAML (``load_recipe`` reads it back unchanged)."""
    from keras_mia.utils.atomic import write_text_atomic

    tree = to_dict(config)
    # Through a temporary file and a rename: a kill never leaves a half-written config.yaml.
    return write_text_atomic(path, yaml.safe_dump(tree, sort_keys=False))
