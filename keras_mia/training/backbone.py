"""Which backbone a whole-image run stands on, checked before TensorFlow starts.

Shen et al.'s whole-image classifier (``resnet50_whole_image``, recipe ``mammo_whole_image``)
is the convolutional body of a *trained* patch classifier (a ``mammo_patch`` run) with two
new ResNet blocks on top; its first stage trains only the new blocks over the frozen body.
On random weights that stage would train on top of noise, so the recipe requires
``model.options.patch_model`` and takes other starting points only when asked by name:

- ``model.options.backbone: patch`` (default): ``model.options.patch_model`` is a
  ``mammo_patch`` run folder or that folder's ``best.keras``. The whole-image run inherits the
  patch run's input scaling (``data.minmax``, ``data.rescale``, ``data.mean``, ``data.std``):
  the frozen body was trained on patches minus the *patch* training mean, so no mean is
  recomputed over whole images (``training.compute_mean`` is set to false). The patch run is
  recorded in ``model.patch_run`` of the run's ``config.yaml``.
- ``model.options.backbone: imagenet`` or ``random``: the ResNet50 body starts from ImageNet
  or random weights, without a patch run.

The patch run and the whole images must show the breast at one pixel scale (Shen's body
learned lesions of a given size in pixels): :func:`backbone_scale_warnings` compares the
patch run's preparation record and resize with the whole-image manifest's, and the run is
warned by name (``BackboneScaleWarning``) when they differ.

A ``.keras`` file without its run folder is refused: its input scaling and training mean are
unknown, and guessing them would feed the backbone inputs it was not trained on.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from keras_mia.config.recipe import PatchRunConfig, RecipeConfig
from keras_mia.training.run_dir import RunDir
from keras_mia.config.typed import ConfigError

__all__ = [
    "BACKBONES",
    "PATCH_BACKBONE_MODELS",
    "PATCH_MODEL",
    "PATCH_RECIPE",
    "resolve_backbone",
    "backbone_record",
    "describe_backbone",
    "backbone_scale_warnings",
    "BackboneScaleWarning",
]


class BackboneScaleWarning(UserWarning):
    """The whole images reach a patch backbone at another pixel scale than its patches."""


# Models whose body is a trained patch classifier's.
PATCH_BACKBONE_MODELS: tuple[str, ...] = ("resnet50_whole_image",)
# The model a patch run must have trained, and the recipe that trains it.
PATCH_MODEL = "resnet50_patch"
PATCH_RECIPE = "mammo_patch"
BACKBONES: tuple[str, ...] = ("patch", "imagenet", "random")
# The input scaling a whole-image run takes over from its patch run.
_INHERITED = ("minmax", "rescale", "mean", "std")


def _how_to_get_a_patch_model(config: RecipeConfig) -> str:
    return (
        f"{config.name} stands on a trained {PATCH_RECIPE} run; train one first "
        f"(keras-mia train {PATCH_RECIPE} --manifest CBIS/patches_s10/manifest.csv "
        f"--out runs/patch_s10) and pass --set model.options.patch_model=runs/patch_s10, "
        "or start from other weights explicitly with --set model.options.backbone=imagenet "
        "(or random)"
    )


def resolve_backbone(config: RecipeConfig) -> RecipeConfig:
    """Checks the backbone options and, on a patch backbone, inherits the patch run's scaling.

    Only models of :data:`PATCH_BACKBONE_MODELS` are concerned; any other recipe comes back
    unchanged. Idempotent: a run's resolved ``config.yaml`` resolves to itself.

    Args:
        config: the loaded recipe.

    Returns:
        The recipe with ``model.options.backbone`` stated and, for ``backbone=patch``,
        ``model.options.patch_model`` the absolute path of the patch run's ``best.keras``,
        ``data.minmax``/``rescale``/``mean``/``std`` the patch run's,
        ``training.compute_mean`` false and ``model.patch_run`` the record of the patch run.

    Raises:
        ConfigError: an unknown ``backbone``; ``backbone=patch`` without ``patch_model``; a
            ``patch_model`` that is missing, a bare ``.keras`` file without its run folder,
            not a ``mammo_patch`` run, or a run whose channels differ from ``data.channels``;
            ``patch_model`` or conflicting ``weights`` with ``backbone=imagenet|random``.
    """
    if config.model.name not in PATCH_BACKBONE_MODELS:
        return config
    options = dict(config.model.options)
    backbone = options.get("backbone", "patch")
    if backbone not in BACKBONES:
        raise ConfigError(
            f"model.options.backbone: expected one of {', '.join(BACKBONES)}. "
            f"Received: backbone={backbone!r}"
        )
    options["backbone"] = backbone
    patch_model = options.get("patch_model")
    if backbone != "patch":
        if patch_model is not None:
            raise ConfigError(
                f"model.options.patch_model: backbone={backbone} starts from "
                f"{backbone} weights, not from a patch run; drop one of the two. "
                f"Received: patch_model={patch_model!r}"
            )
        weights = options.get("weights")
        wanted = "imagenet" if backbone == "imagenet" else None
        if weights not in (None, wanted):
            raise ConfigError(
                f"model.options.weights: backbone={backbone} sets the weights itself. "
                f"Received: weights={weights!r}"
            )
        return dataclasses.replace(
            config, model=dataclasses.replace(config.model, options=options, patch_run=None)
        )

    if patch_model is None or patch_model == "":
        raise ConfigError(
            f"model.options.patch_model: required. {_how_to_get_a_patch_model(config)}. "
            f"Received: patch_model={patch_model!r}"
        )
    if options.get("weights") is not None:
        raise ConfigError(
            "model.options.weights: a patch backbone takes its weights from patch_model. "
            f"Received: weights={options['weights']!r}"
        )
    run, model_file = _patch_run_paths(patch_model)
    patch_config = _load_patch_config(run, patch_model)
    if patch_config.data.channels != config.data.channels:
        raise ConfigError(
            f"model.options.patch_model: the patch run {str(run)!r} was trained on "
            f"{patch_config.data.channels}-channel inputs, this recipe feeds "
            f"data.channels={config.data.channels}; set data.channels="
            f"{patch_config.data.channels} or use a patch run with {config.data.channels}. "
            f"Received: patch_model={str(patch_model)!r}"
        )
    record = PatchRunConfig(
        run=str(run),
        recipe=patch_config.name,
        variant=patch_config.variant,
        channels=patch_config.data.channels,
        minmax=patch_config.data.minmax,
        rescale=patch_config.data.rescale,
        mean=patch_config.data.mean,
        std=patch_config.data.std,
    )
    options["patch_model"] = str(model_file)
    data = dataclasses.replace(
        config.data, **{key: getattr(patch_config.data, key) for key in _INHERITED}
    )
    resolved = dataclasses.replace(
        config,
        data=data,
        model=dataclasses.replace(config.model, options=options, patch_run=record),
        training=dataclasses.replace(config.training, compute_mean=False),
    )
    for message in backbone_scale_warnings(resolved, patch_config):
        warnings.warn(message, BackboneScaleWarning, stacklevel=2)
    return resolved


def _first_image_height(manifest: Path) -> int | None:
    """The height of the manifest's first image, from its header (``None``: unknown)."""
    from keras_mia.data.manifest import Manifest

    try:
        table = Manifest.load(manifest)
        for row in table:
            from PIL import Image

            with Image.open(table.resolve(row["image_path"])) as image:
                return int(image.size[1])
    except Exception:  # noqa: BLE001 - a check for a warning; training reports bad files itself
        return None
    return None


def backbone_scale_warnings(
    config: RecipeConfig, patch_config: RecipeConfig | None = None
) -> list[str]:
    """Why the whole images may reach the patch backbone at another pixel scale.

    Two things fix the scale a patch backbone learned: how the patches' source images were
    prepared (``preparation.json``: a 1152 x 896 canvas, a relative scale such as 0.66, or
    native size) and how far the patch recipe resized the patches (``data.image_size`` over
    the patch size, e.g. 56/224 in ``mammo_patch``'s ``mias_dev`` variant). The whole images
    must match both: the same preparation, and ``data.image_size`` resizing them by the same
    factor.

    Args:
        config: a resolved whole-image recipe on a patch backbone.
        patch_config: the patch run's recipe (read from ``model.patch_run`` when ``None``).

    Returns:
        One sentence per mismatch found; empty when the scales agree or cannot be known
        (no preparation record on either side).
    """
    from keras_mia.preprocessing import find_preparation

    patch_run = config.model.patch_run
    if patch_run is None or not config.manifest:
        return []
    if patch_config is None:
        patch_config = _load_patch_config(Path(patch_run.run), patch_run.run)
    try:
        patch_found = find_preparation(patch_run.run)
        whole_found = find_preparation(config.manifest)
    except ValueError:
        return []
    if patch_found is None or whole_found is None or patch_found[0].patch_size is None:
        return []
    patches, whole = patch_found[0], whole_found[0]
    if (patches.scale, patches.image_size) != (whole.scale, whole.image_size):
        return [
            f"the patch run {patch_run.run} learned patches cut from images prepared as "
            f"'{patches.describe()}', but {config.manifest} holds images prepared as "
            f"'{whole.describe()}': its backbone sees lesions at another pixel scale; prepare "
            "both from one `keras-mia prepare` setting"
        ]
    patch_factor = 1.0
    if patch_config.data.image_size is not None:
        patch_factor = patch_config.data.image_size[0] / patches.patch_size
    height = whole.image_size[0] if whole.image_size else _first_image_height(
        Path(config.manifest))
    if height is None:
        return []
    whole_factor = 1.0 if config.data.image_size is None else config.data.image_size[0] / height
    if abs(whole_factor / patch_factor - 1.0) <= 0.1:
        return []
    wanted = round(height * patch_factor)
    return [
        f"the patch run {patch_run.run} resized its {patches.patch_size} px patches by "
        f"{patch_factor:.3g}, but data.image_size={config.data.image_size} resizes these "
        f"{height}-row images by {whole_factor:.3g}: lesions reach the backbone "
        f"{whole_factor / patch_factor:.2f}x the size it learned; set data.image_size to "
        f"about {wanted} rows (aspect kept)"
    ]


def _patch_run_paths(patch_model: Any) -> tuple[Path, Path]:
    """The patch run folder and its ``best.keras`` from a folder or a ``.keras`` path."""
    if not isinstance(patch_model, (str, Path)):
        raise ConfigError(
            "model.options.patch_model: expected the path of a mammo_patch run folder or its "
            f"best.keras. Received: patch_model={patch_model!r}"
        )
    path = Path(patch_model).expanduser().resolve()
    if not path.exists():
        raise ConfigError(
            "model.options.patch_model: not found; expected a mammo_patch run folder or its "
            f"best.keras. Received: patch_model={str(patch_model)!r}"
        )
    if path.is_dir():
        run = RunDir(path)
        model_file = run.best_model
        if not model_file.is_file() and run.config.is_file():
            raise ConfigError(
                f"model.options.patch_model: the run folder has no best.keras (is its "
                f"training finished?). Received: patch_model={str(patch_model)!r}"
            )
    else:
        if path.suffix != ".keras":
            raise ConfigError(
                "model.options.patch_model: expected a mammo_patch run folder or its "
                f"best.keras. Received: patch_model={str(patch_model)!r}"
            )
        run, model_file = RunDir(path.parent), path
    if not run.config.is_file():
        raise ConfigError(
            f"model.options.patch_model: no config.yaml in {str(run.root)!r}, so the patch "
            "model's input scaling and training mean are unknown; give the mammo_patch run "
            f"folder that `keras-mia train` wrote. Received: patch_model={str(patch_model)!r}"
        )
    return run.root, model_file


def _load_patch_config(run: Path, patch_model: Any) -> RecipeConfig:
    from keras_mia.recipes import load_recipe

    try:
        patch_config = load_recipe(RunDir(run).config)
    except ConfigError as err:
        raise ConfigError(
            f"model.options.patch_model: cannot read {str(RunDir(run).config)!r} ({err}). "
            f"Received: patch_model={str(patch_model)!r}"
        ) from None
    if patch_config.model.name != PATCH_MODEL:
        raise ConfigError(
            f"model.options.patch_model: {str(run)!r} is a {patch_config.name!r} run "
            f"(model {patch_config.model.name!r}), not a {PATCH_RECIPE} run "
            f"(model {PATCH_MODEL!r}). Received: patch_model={str(patch_model)!r}"
        )
    return patch_config


def backbone_record(config: RecipeConfig) -> dict[str, Any] | None:
    """What the model's body started from, for logs and the exported metadata.

    Args:
        config: a resolved recipe (:func:`resolve_backbone`).

    Returns:
        ``None`` for models that do not stand on a patch backbone; otherwise
        ``{"source": "patch" | "imagenet" | "random"}``, with, for ``patch``, the patch run's
        ``run``, ``recipe``, ``variant`` and inherited ``minmax``/``rescale``/``mean``/``std``.
    """
    if config.model.name not in PATCH_BACKBONE_MODELS:
        return None
    record: dict[str, Any] = {"source": config.model.options.get("backbone", "patch")}
    if config.model.patch_run is not None:
        patch_run = config.model.patch_run
        record.update(
            run=patch_run.run,
            recipe=patch_run.recipe,
            variant=patch_run.variant,
            minmax=list(patch_run.minmax) if patch_run.minmax is not None else None,
            rescale=patch_run.rescale,
            mean=patch_run.mean,
            std=patch_run.std,
        )
    return record


def describe_backbone(config: RecipeConfig) -> str | None:
    """One log line saying which backbone the run stands on (``None``: not concerned)."""
    record = backbone_record(config)
    if record is None:
        return None
    if record["source"] == "patch":
        variant = f", variant {record['variant']}" if record.get("variant") else ""
        return (
            f"backbone: the trained patch classifier of {record['run']} ({record['recipe']}"
            f"{variant}); input scaling inherited from it: rescale={record['rescale']:g}, "
            f"mean={record['mean']:.4f}, std={record['std']:g}, minmax={record['minmax']} "
            "(no mean recomputed over whole images)"
        )
    return (
        f"backbone: {record['source'].upper()} weights (model.options.backbone="
        f"{record['source']}), NOT a trained patch classifier"
    )
