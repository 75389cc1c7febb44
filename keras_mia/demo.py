"""``keras-mia demo``: the whole pipeline on synthetic data, on a CPU, in minutes.

synth -> train (the recipe's documented ``demo:`` reduction) -> evaluate on the test split ->
export the SavedModel -> predict one file from the SavedModel alone. Re-running the same
command reuses the synthetic data and resumes the run folder.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Sequence

from keras_mia.training.backbone import PATCH_BACKBONE_MODELS, PATCH_RECIPE

__all__ = ["DemoResult", "run_demo"]

_BANNER = "=" * 72


@dataclasses.dataclass
class DemoResult:
    """Where the demo put things, and its test-split figures."""

    out: Path
    run_dir: Path
    saved_model: Path
    metrics: dict[str, Any]
    predictions_csv: Path
    seconds: float

    @property
    def accuracy(self) -> float | None:
        """Image-level test accuracy (pixel-level recipes: the image-level area rule's)."""
        report = self.metrics.get("image_level") or {}
        value = report.get("accuracy")
        if isinstance(value, dict):
            value = value.get("value")
        return None if value is None else float(value)


def _real_data_help(config) -> str:
    dataset = {
        "hello_world": "open-i",
        "breast_mri": "dbc",
        "mammo_dense": "cbis-ddsm",
    }.get(config.name, "DATASET")
    if config.name in ("mammo_patch", "mammo_whole_image"):
        # Shen's chain: the whole-image model stands on the patch run trained on set S10.
        return (
            "To run on the real data set (see README, 'Data sets'):\n"
            "  keras-mia prepare cbis-ddsm SRC_DIR data/cbis --patches s10\n"
            "  keras-mia train mammo_patch --manifest data/cbis/patches_s10/manifest.csv "
            "--out runs/patch_s10\n"
            "  keras-mia train mammo_whole_image --manifest data/cbis/manifest.csv "
            "--out runs/whole --set model.options.patch_model=runs/patch_s10"
        )
    return (
        "To run on the real data set (see README, 'Data sets'):\n"
        f"  keras-mia prepare {dataset} SRC_DIR data/{config.name}\n"
        f"  keras-mia train {config.name} --manifest data/{config.name}/manifest.csv "
        f"--out runs/{config.name}"
    )


def _needs_patch_run(config) -> bool:
    """Whether the recipe stands on a patch run that the demo has to train first."""
    options = config.model.options
    return (
        config.model.name in PATCH_BACKBONE_MODELS
        and options.get("backbone", "patch") == "patch"
        and options.get("patch_model") is None
    )


def _train_patch_run(out: Path, verbose: int | str) -> Path:
    """Trains the patch recipe's demo on its synthetic patch set into ``out/run``."""
    from keras_mia.recipes import load_recipe
    from keras_mia.synth import generate
    from keras_mia.training.engine import train

    base = load_recipe(PATCH_RECIPE)
    config = load_recipe(PATCH_RECIPE, base.demo)
    manifest = out / "data" / "manifest.csv"
    if not manifest.is_file():
        synth = config.synth
        generate(synth.dataset, out / "data", n=synth.n, seed=config.seed,
                 image_size=synth.image_size, overwrite=True)
    config = dataclasses.replace(config, manifest=str(manifest))
    train(config, out / "run", verbose=verbose)
    return out / "run"


def run_demo(
    recipe: str = "hello_world",
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    verbose: int | str = "auto",
) -> DemoResult:
    """Runs the recipe's demo end to end on its synthetic data set.

    Args:
        recipe: a recipe name (``keras-mia recipes``).
        out: the demo folder; default ``runs/demo-<recipe>``. It receives ``data/`` (the
            synthetic set), ``run/`` (the run folder), ``saved_model/`` and
            ``predictions.csv``; a recipe standing on a patch classifier
            (``mammo_whole_image``) also ``patch/``, the patch recipe's demo run it uses.
        overrides: ``key=value`` settings applied after the recipe's ``demo:`` list.
        verbose: Keras ``fit`` verbosity.

    Returns:
        A :class:`DemoResult`.
    """
    from keras_mia.recipes import load_recipe
    from keras_mia.synth import generate

    started = time.time()
    base = load_recipe(recipe)
    out = Path(out) if out is not None else Path("runs") / f"demo-{base.name}"
    config = load_recipe(recipe, [*base.demo, *overrides])
    chain = _needs_patch_run(config)
    print(_BANNER)
    print(f"keras-mia demo: {config.name}: {config.description}")
    print("The data is SYNTHETIC (generated shapes, not patient images): the figures below")
    print("show that the pipeline works end to end, not what the published system achieves.")
    print(f"Reduced settings for a CPU (recipe 'demo:' list): {', '.join(base.demo)}")
    if chain:
        print(f"{config.name} stands on a trained {PATCH_RECIPE} classifier: the demo first "
              f"trains the {PATCH_RECIPE} demo")
        print(f"({out / 'patch' / 'run'}) on synthetic patches and uses it as the backbone.")
    print(_BANNER)
    if chain:
        patch_run = _train_patch_run(out / "patch", verbose)
        config = load_recipe(
            recipe, [*base.demo, *overrides, f"model.options.patch_model={patch_run}"]
        )

    data_dir = out / "data"
    manifest = data_dir / "manifest.csv"
    if manifest.is_file():
        print(f"keras-mia demo: reusing the synthetic data in {data_dir}")
    else:
        synth = config.synth
        generate(synth.dataset, data_dir, n=synth.n, seed=config.seed,
                 image_size=synth.image_size, overwrite=True)
        print(f"keras-mia demo: wrote the synthetic '{synth.dataset}' set to {data_dir}")
    config = dataclasses.replace(config, manifest=str(manifest))

    from keras_mia.evaluation import evaluate_run
    from keras_mia.export import export_run, predict_files
    from keras_mia.training.engine import train

    run_dir = out / "run"
    train(config, run_dir, verbose=verbose)
    metrics = evaluate_run(run_dir, split="test")
    saved_model = export_run(run_dir, out / "saved_model")
    print(f"keras-mia demo: exported the SavedModel to {saved_model}")

    from keras_mia.data.manifest import Manifest

    loaded = Manifest.load(manifest)
    example = loaded.resolve(loaded.select("test")[0]["image_path"])
    predictions_csv = out / "predictions.csv"
    rows, failures = predict_files(saved_model, [example], out_csv=predictions_csv)
    if failures:
        raise RuntimeError(f"predict failed on {failures[0]['path']}: {failures[0]['error']}")

    result = DemoResult(out, run_dir, saved_model, metrics, predictions_csv,
                        time.time() - started)
    accuracy = "n/a" if result.accuracy is None else f"{result.accuracy:.3f}"
    print(_BANNER)
    print(f"keras-mia demo finished in {result.seconds:.0f} s. SYNTHETIC data: test accuracy "
          f"{accuracy} (image level).")
    print(f"  metrics:      {run_dir / 'eval' / 'test' / 'metrics.json'}")
    print(f"  plots:        {run_dir / 'plots'} and {run_dir / 'eval' / 'test'}")
    print(f"  best model:   {run_dir / 'best.keras'}")
    print(f"  SavedModel:   {saved_model}")
    print(f"  prediction:   {predictions_csv}")
    print(_real_data_help(config))
    print(_BANNER)
    return result
