"""The training engine: a recipe and a manifest in, a complete run folder out.

Stages run in order on the same weights, each a ``model.fit`` call that picks up the global
epoch count where the previous stage stopped. Everything needed to resume after a crash is
on disk at the end of every epoch:

- ``checkpoints/stage<i>_backup/``: ``BackupAndRestore`` of the stage in progress (weights and
  epoch), so re-running the same command continues from the last finished epoch;
- ``checkpoints/stage<i>_done.weights.h5``: the weights at the end of each finished stage, so a
  resumed run skips finished stages;
- ``history.csv`` (``CSVLogger``, appended, one row per epoch, with a ``stage`` column) and
  ``best.keras`` (the best epoch on ``training.monitor``, a tie broken by
  ``training.monitor_tie_break``; the best values are re-read from ``history.csv`` on resume).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path


import keras
import numpy as np

from keras_mia.data.manifest import Manifest
from keras_mia.preprocessing.record import PREPARATION_FILE, carry_preparation
from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.training.backbone import describe_backbone, resolve_backbone
from keras_mia.training.checkpoint import BestModelCheckpoint, best_epoch
from keras_mia.training.compile import make_loss, make_metrics, make_optimizer
from keras_mia.training.config import RecipeConfig, StageConfig, positive_class_index
from keras_mia.training.distribute import (
    describe_devices,
    describe_strategy,
    distribution_scope,
)
from keras_mia.training.run_dir import RunDir, tee_output
from keras_mia.utils.typed_config import ConfigError, to_dict

__all__ = ["TrainResult", "train", "build_model_for", "prepare_manifest", "training_mean"]


@dataclasses.dataclass
class TrainResult:
    """What a finished training run produced."""

    run_dir: RunDir
    best_epoch: int | None
    best_value: float | None
    monitor: str
    epochs_run: int
    seconds: float

    def summary(self) -> str:
        """The one-screen summary printed at the end of ``train``."""
        best = (
            f"{self.monitor} = {self.best_value:.4f} at epoch {self.best_epoch}"
            if self.best_value is not None
            else f"no {self.monitor} was logged (no validation split?)"
        )
        root = self.run_dir.root
        return "\n".join(
            [
                "=" * 72,
                f"Training finished in {self.seconds:.0f} s ({self.epochs_run} epochs this call).",
                f"Best: {best}",
                f"Run folder:      {root}",
                f"  best model:    {self.run_dir.best_model}",
                f"  history:       {self.run_dir.history}",
                f"  config:        {self.run_dir.config}",
                f"  TensorBoard:   tensorboard --logdir {self.run_dir.tensorboard}",
                f"Next: keras-mia evaluate {root}   then   keras-mia export {root} --out DIR",
                "=" * 72,
            ]
        )


def prepare_manifest(config: RecipeConfig, manifest: str | Path | None = None) -> Manifest:
    """Loads the manifest a recipe trains on and applies its ``label_map``.

    Raises:
        ConfigError: no manifest given, or the file does not exist.
    """
    path = manifest or config.manifest
    if not path:
        raise ConfigError("manifest: no manifest given; pass --manifest PATH")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"manifest: file not found. Received: {str(path)!r}")
    loaded = Manifest.load(path)
    if config.label_map:
        for row in loaded.rows:
            row["label"] = str(config.label_map.get(row["label"], row["label"]))
    return loaded


def training_mean(manifest: Manifest, config: RecipeConfig) -> float:
    """Mean intensity of the training split after ``rescale`` (Shen et al.'s mean subtraction)."""
    from keras_mia.data.pipeline import build_dataset

    data = dataclasses.replace(
        config.data, mean=0.0, std=1.0, channels=1, cache=False, balance=False,
        augment=dataclasses.replace(config.data.augment, crop=None),
    )
    total, count = 0.0, 0
    for images, _ in build_dataset(manifest, data, split="train", training=False):
        images = np.asarray(images, dtype=np.float64)
        total += float(images.sum())
        count += images.size
    if count == 0:
        raise ConfigError("training.compute_mean: the manifest has no training images")
    return total / count


def build_model_for(config: RecipeConfig) -> keras.Model:
    """Builds the recipe's model with the input shape its data pipeline yields."""
    from keras_mia.models import build

    options = dict(config.model.options)
    if options.get("input_shape") is None:
        height, width = config.data.output_size
        options["input_shape"] = (height, width, config.data.channels)
    else:
        options["input_shape"] = tuple(options["input_shape"])
    try:
        model = build(config.model.name, **options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: {err}") from None
    momentum = config.training.batchnorm_momentum
    if momentum is not None:
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(
                f"training.batchnorm_momentum: expected a number in [0, 1). Received: {momentum}"
            )
        for layer in _all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = momentum
    return model


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # nested models
            yield from _all_layers(layer)


def _class_weights(manifest: Manifest, config: RecipeConfig, classes: list[str]):
    spec = config.training.class_weight
    if spec is None or config.data.task != "classification":
        return None
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(classes))
        if unknown:
            raise ConfigError(
                f"training.class_weight: unknown class {unknown[0]!r}; expected one of {classes}"
            )
        return {i: float(spec.get(name, 1.0)) for i, name in enumerate(classes)}
    labels = [row["label"] for row in manifest.select("train")]
    counts = {name: labels.count(name) for name in classes}
    total = sum(counts.values())
    return {
        i: (total / (len(classes) * counts[name]) if counts[name] else 0.0)
        for i, name in enumerate(classes)
    }


def _strategy_scope(strategy):
    # A tf.distribute scope cannot be re-entered, so every build/compile opens a new one.
    scope = getattr(strategy, "scope", None)
    return scope() if scope is not None else contextlib.nullcontext()


def _positive_index(config: RecipeConfig, classes: list[str] | None) -> int | None:
    if config.data.task != "classification":
        return None
    index = positive_class_index(config, classes)
    if config.data.label_mode == "binary" and index != 1:
        # One sigmoid column scores classes[1]; anything else would invert every metric.
        raise ConfigError(
            "evaluation.positive_class: with data.label_mode=binary the positive class is "
            f"the second of data.classes ({classes[1]!r}). Received: "
            f"{config.evaluation.positive_class!r}"
        )
    return index


class _StageColumn(keras.callbacks.Callback):
    """Adds the stage index to each epoch's logs, so history.csv says which stage ran."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["stage"] = float(self.index)


def _read_history(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _dedupe_history(path: Path) -> None:
    """Keeps the last row per epoch (a crash between logging and backing up repeats one)."""
    rows = _read_history(path)
    if not rows:
        return
    by_epoch: dict[int, dict[str, str]] = {}
    for row in rows:
        by_epoch[int(float(row["epoch"]))] = row
    fields = list(rows[0].keys())
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for epoch in sorted(by_epoch):
            writer.writerow(by_epoch[epoch])


def _stage_data(config: RecipeConfig, stage: StageConfig):
    augment = config.data.augment
    if stage.crop is not None:
        augment = dataclasses.replace(augment, crop=tuple(stage.crop))
    return dataclasses.replace(
        config.data,
        augment=augment,
        batch_size=stage.batch_size or config.data.batch_size,
        seed=config.seed,
    )


def _lr_schedule(stage: StageConfig):
    def schedule(epoch: int, lr: float) -> float:
        if stage.schedule.type == "step":
            return stage.learning_rate * stage.schedule.factor ** (epoch // stage.schedule.every)
        return stage.learning_rate

    return schedule


def _check_same_run(run: RunDir, config: RecipeConfig) -> None:
    """Refuses to resume a run folder that holds a different configuration."""
    if not run.config.is_file():
        return
    previous = load_recipe(run.config)
    if to_dict(previous) != to_dict(config):
        raise ConfigError(
            f"{run.root} holds a run with a different configuration; use a new --out, or "
            f"repeat that run with --config {run.config}"
        )


def train(
    config: RecipeConfig,
    run_dir: str | Path,
    verbose: int | str = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TrainResult:
    """Trains a recipe into a run folder, resuming it if it was interrupted.

    Args:
        config: the resolved recipe (``keras_mia.recipes.load_recipe``), with ``manifest`` set.
        run_dir: the run folder (created). Re-running with the same folder and configuration
            resumes from the last finished epoch.
        verbose: Keras ``fit`` verbosity; ``"auto"``: progress bars on a terminal, one line
            per epoch otherwise.
        callbacks: extra Keras callbacks added to every stage's ``fit`` (e.g. a notebook's
            live plot).

    Returns:
        A :class:`TrainResult` (its ``summary()`` is also printed).

    Raises:
        ConfigError: a configuration error, before the run folder is created where possible
            (e.g. ``mammo_whole_image`` without ``model.options.patch_model``).
    """
    # Before the run folder exists: a whole-image run inherits its patch run's scaling.
    config = resolve_backbone(config)
    run = RunDir(Path(run_dir)).create()
    with tee_output(run.log):
        return _train(config, run, verbose, list(callbacks or []))


def _resumed_epoch(backup: Path) -> int | None:
    """The epoch a stage's ``BackupAndRestore`` folder will resume at (None: no backup)."""
    metadata = backup / "training_metadata.json"
    if not metadata.is_file():
        return None
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (ValueError, KeyError, OSError):
        return None


def _train(
    config: RecipeConfig, run: RunDir, verbose: int | str, extra_callbacks: list
) -> TrainResult:
    from keras_mia.data.pipeline import build_dataset, resolve_classes
    from keras_mia.models import set_trainable_stage

    started = time.time()
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    manifest = prepare_manifest(config)
    config = dataclasses.replace(config, manifest=str(Path(config.manifest).resolve()))
    classes = resolve_classes(manifest, config.data)
    config = dataclasses.replace(
        config,
        data=dataclasses.replace(
            config.data,
            seed=config.seed,
            classes=classes if config.data.task == "classification" else config.data.classes,
        ),
    )
    if config.training.compute_mean:
        mean = training_mean(manifest, config)
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, mean=mean))
    _check_same_run(run, config)
    dump_recipe(config, run.config)
    # How the manifest's images were prepared travels with the run into the exported model.
    preparation = carry_preparation(config.manifest, run.root)

    keras.utils.set_random_seed(config.seed)
    if config.training.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    print(f"keras_mia: recipe {config.name} -> {run.root}")
    print(f"keras_mia: {describe_devices()}; manifest {config.manifest}")
    if preparation is not None:
        print(f"keras_mia: images prepared as recorded in {run.root / PREPARATION_FILE}: "
              f"{preparation.describe()}")
    backbone = describe_backbone(config)
    if backbone is not None:
        print(f"keras_mia: {backbone}")
    _, strategy = distribution_scope(config.training.distribution, config.training.devices)
    if strategy is not None:
        print(f"keras_mia: distribution {describe_strategy(strategy)}")
    replicas = int(getattr(strategy, "num_replicas_in_sync", 1))
    for stage in config.training.stages:
        batch_size = stage.batch_size or config.data.batch_size
        if batch_size % replicas:
            raise ConfigError(
                f"data.batch_size: must be a multiple of the {replicas} replicas so that each "
                f"gets an equal share. Received: batch_size={batch_size}"
            )
    with _strategy_scope(strategy):
        model = build_model_for(config)
    class_weight = _class_weights(manifest, config, classes)

    _dedupe_history(run.history)
    training = config.training
    _, best_value, best_tie = best_epoch(
        _read_history(run.history), training.monitor, training.monitor_mode,
        training.monitor_tie_break,
    )
    best_checkpoint = BestModelCheckpoint(
        run.best_model, training.monitor, training.monitor_mode, training.monitor_tie_break,
        best_value=best_value, best_tie=best_tie,
    )
    has_val = bool(manifest.select("val"))
    epochs_before = len(_read_history(run.history))
    offset = 0
    for index, (stage, epochs) in enumerate(
        zip(config.training.stages, config.training.stage_epochs())
    ):
        if epochs == 0:
            continue
        if run.stage_weights(index).is_file():
            model.load_weights(run.stage_weights(index))
            offset += epochs
            print(f"keras_mia: stage {index} ({stage.name}) already finished; skipped")
            continue
        set_trainable_stage(model, stage.trainable)
        data = _stage_data(config, stage)
        train_ds = build_dataset(manifest, data, split="train", training=True)
        val_data = data
        if replicas > 1:
            # TensorFlow's MirroredStrategy fails when the FIRST batch is short and uneven
            # across replicas (a later short batch is fine), e.g. 5 validation images, batch 8.
            n_val = len(manifest.select("val"))
            val_batch = max(replicas, min(data.batch_size, n_val) // replicas * replicas)
            val_data = dataclasses.replace(data, batch_size=val_batch)
        val_ds = (
            build_dataset(manifest, val_data, split="val", training=False) if has_val else None
        )
        with _strategy_scope(strategy):
            model.compile(
                optimizer=make_optimizer(stage),
                loss=make_loss(config.training.loss, config.training.loss_options),
                metrics=make_metrics(
                    config.training.metrics, config.data, len(classes or []),
                    positive_class=_positive_index(config, classes),
                    area_divisor=config.evaluation.area_divisor,
                ),
                jit_compile=config.training.jit_compile,
            )
        callbacks = [
            _StageColumn(index),
            keras.callbacks.LearningRateScheduler(_lr_schedule(stage)),
            keras.callbacks.TerminateOnNaN(),
            # CSVLogger before BackupAndRestore: an epoch is logged before it is backed up.
            keras.callbacks.CSVLogger(str(run.history), append=True),
            keras.callbacks.BackupAndRestore(
                str(run.stage_backup(index)), double_checkpoint=True
            ),
        ]
        if has_val:
            callbacks.append(best_checkpoint)
        if config.training.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard)))
        callbacks.extend(extra_callbacks)
        resumed = _resumed_epoch(run.stage_backup(index))
        if resumed is not None:
            print(f"keras_mia: resuming stage {index} after epoch {resumed} (from its backup)")
        print(
            f"keras_mia: stage {index} '{stage.name}': train {stage.trainable}, "
            f"{stage.optimizer} lr={stage.learning_rate:g}"
            + (f", {stage.weight_decay_mode} weight decay {stage.weight_decay:g}"
               if stage.weight_decay else "")
            + f", epochs {offset + 1}-{offset + epochs}"
        )
        model.fit(
            train_ds,
            validation_data=val_ds,
            initial_epoch=offset,
            epochs=offset + epochs,
            class_weight=class_weight,
            steps_per_epoch=config.training.steps_per_epoch,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles, seeded from the config
            verbose=verbose,
        )
        if model.stop_training:  # TerminateOnNaN
            raise RuntimeError(
                f"Training stopped: the loss became NaN in stage {index} ({stage.name}). "
                f"Lower the learning rate (--set training.stages.{index}.learning_rate=...)."
            )
        model.save_weights(run.stage_weights(index))
        offset += epochs

    model.save(run.last_model)
    if not has_val:
        # Without a validation split the last model is the best we can say.
        model.save(run.best_model)
    _dedupe_history(run.history)
    best, best_value, _ = best_epoch(
        _read_history(run.history), training.monitor, training.monitor_mode,
        training.monitor_tie_break,
    )
    result = TrainResult(
        run_dir=run,
        best_epoch=best,
        best_value=best_value,
        monitor=config.training.monitor,
        epochs_run=len(_read_history(run.history)) - epochs_before,
        seconds=time.time() - started,
    )
    print(result.summary())
    return result
