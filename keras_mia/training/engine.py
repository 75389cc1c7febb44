"""The training engine: a recipe and a manifest in, a complete run folder out.

Stages run in order on the same weights, each a ``model.fit`` call that picks up the global
epoch count where the previous stage stopped. Everything needed to resume after a crash is
on disk at the end of every epoch, each file written to a temporary name and renamed, in an
order that keeps them in agreement after a kill at any instant
(``keras_mia.training.resume``):

- ``best.keras``: the best epoch on ``training.monitor`` (a tie broken by
  ``training.monitor_tie_break``), with the record of which epoch and value it holds;
- ``history.csv``: one row per epoch, with a ``stage`` column;
- ``checkpoints/stage<i>_backup/epoch_<NNNN>/``: the weights and optimizer state of the stage
  in progress (the newest two), so re-running the same command continues from the last
  finished epoch;
- ``checkpoints/stage<i>_done.weights.h5``: the weights at the end of each finished stage, so a
  resumed run skips finished stages.

On a re-run the files are reconciled with the backup before training continues
(:func:`keras_mia.training.resume.reconcile`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import time
from pathlib import Path


import keras
import numpy as np

from keras_mia.data.checks import check_training_manifest
from keras_mia.errors import UserError
from keras_mia.data.manifest import Manifest
from keras_mia.preprocessing.record import PREPARATION_FILE, carry_preparation
from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.training.backbone import describe_backbone, resolve_backbone
from keras_mia.training.checkpoint import (
    best_epoch,
    best_record,
    describe_best_record,
    read_best_record,
    same_best,
    save_model_with_record,
)
from keras_mia.training.compile import make_loss, make_metrics, make_optimizer
from keras_mia.config.recipe import RecipeConfig, StageConfig, positive_class_index
from keras_mia.training.distribute import (
    describe_devices,
    describe_strategy,
    distribution_scope,
    multi_worker_strategy,
    worker_run_dir,
)
from keras_mia.training.resume import (
    EpochEndWriter,
    list_backups,
    read_history,
    reconcile,
    restore_backup,
    save_weights_atomic,
)
from keras_mia.training.run_dir import RunDir, tee_output
from keras_mia.config.typed import ConfigError, to_dict

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
    note: str | None = None

    def summary(self) -> str:
        """The one-screen summary printed at the end of ``train``."""
        best = (
            f"{self.monitor} = {self.best_value:.4f} at epoch {self.best_epoch}"
            if self.best_value is not None
            else f"no {self.monitor} was logged (no validation split?)"
        )
        root = self.run_dir.root
        epochs = f"{self.epochs_run} epoch{'' if self.epochs_run == 1 else 's'} this call"
        return "\n".join(
            [
                "=" * 72,
                f"Training finished in {self.seconds:.0f} s ({epochs}).",
                f"Best: {best}",
                *([f"Note: {self.note}"] if self.note else []),
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


def _has_trained(run: RunDir) -> bool:
    """Whether a run folder holds the result of at least one finished epoch."""
    try:
        logged = bool(read_history(run.history))
    except ValueError:
        logged = True
    return (
        logged
        or run.best_model.is_file()
        or run.last_model.is_file()
        or any(run.checkpoints.glob("stage*_done.weights.h5"))
        or any(list_backups(folder) for folder in run.checkpoints.glob("stage*_backup"))
    )


def _check_same_run(run: RunDir, config: RecipeConfig) -> None:
    """Refuses to resume a run folder that holds a different configuration.

    A folder whose earlier start never finished an epoch (e.g. the model could not be built
    at that input size) takes the new configuration.
    """
    if not run.config.is_file():
        return
    try:
        same = to_dict(load_recipe(run.config)) == to_dict(config)
    except ConfigError as err:
        if _has_trained(run):
            raise ConfigError(
                f"{run.config} cannot be read ({err}); use a new --out"
            ) from None
        same = False
    if same:
        return
    if not _has_trained(run):
        print(f"keras_mia: {run.config} is from a start that never finished an epoch; "
              "replaced by this configuration")
        return
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
    multi_worker = config.training.distribution == "multi_worker"
    if multi_worker and keras.backend.backend() == "tensorflow":
        # TensorFlow configures the collectives only before it runs anything, and
        # resolve_backbone may load a .keras model.
        multi_worker_strategy()
    # Before the run folder exists: a whole-image run inherits its patch run's scaling.
    config = resolve_backbone(config)
    # Before the run folder exists too: a manifest that cannot be trained on (one class,
    # unknown labels, missing or unreadable files) is one line naming the rows.
    for warning in check_training_manifest(config).warnings:
        print(f"keras_mia: warning: {warning}", file=sys.stderr)
    # Several workers: only the chief writes run_dir, each other worker a folder beside it
    # (removed when it finishes), so that no two processes save one file at once.
    own_dir = worker_run_dir(run_dir) if multi_worker else contextlib.nullcontext(run_dir)
    with own_dir as folder:
        run = RunDir(Path(folder))
        run.check_reusable()
        run.create()
        with tee_output(run.log):
            return _train(config, run, verbose, list(callbacks or []))


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

    training = config.training
    ranking = (training.monitor, training.monitor_mode, training.monitor_tie_break)
    has_val = bool(manifest.select("val"))
    writer: EpochEndWriter | None = None
    offset = 0
    for index, (stage, epochs) in enumerate(
        zip(config.training.stages, config.training.stage_epochs())
    ):
        if epochs == 0:
            continue
        if run.stage_weights(index).is_file():
            model.load_weights(run.stage_weights(index))
            # A kill between writing the stage's weights and removing its backups.
            shutil.rmtree(run.stage_backup(index), ignore_errors=True)
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
        resume_at = offset
        if writer is None:
            # The first stage this call trains: resume it from its backup, and make
            # history.csv and best.keras agree with that point.
            with _strategy_scope(strategy):  # it may build the optimizer's variables
                backup = restore_backup(run.stage_backup(index), model, offset, offset + epochs)
            if backup is not None:
                resume_at = backup.epoch
                print(f"keras_mia: resuming stage {index} after epoch {backup.epoch} "
                      f"(from its backup {backup.label})")
            writer = EpochEndWriter(
                run, reconcile(run, resume_at, backup, *ranking, has_val), *ranking, has_val
            )
        else:
            shutil.rmtree(run.stage_backup(index), ignore_errors=True)
        writer.begin_stage(index)
        callbacks = [
            _StageColumn(index),
            keras.callbacks.LearningRateScheduler(_lr_schedule(stage)),
            keras.callbacks.TerminateOnNaN(),
            # After every callback that adds to the logs: it writes the epoch's files.
            writer,
        ]
        if config.training.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard)))
        callbacks.extend(extra_callbacks)
        print(
            f"keras_mia: stage {index} '{stage.name}': train {stage.trainable}, "
            f"{stage.optimizer} lr={stage.learning_rate:g}"
            + (f", {stage.weight_decay_mode} weight decay {stage.weight_decay:g}"
               if stage.weight_decay else "")
            + f", epochs {offset + 1}-{offset + epochs}"
        )
        if resume_at < offset + epochs:
            model.fit(
                train_ds,
                validation_data=val_ds,
                initial_epoch=resume_at,
                epochs=offset + epochs,
                class_weight=class_weight,
                steps_per_epoch=config.training.steps_per_epoch,
                callbacks=callbacks,
                shuffle=False,  # the tf.data pipeline shuffles, seeded from the config
                verbose=verbose,
            )
            if model.stop_training:  # TerminateOnNaN
                raise UserError(
                    f"Training stopped: the loss became NaN in stage {index} ({stage.name}). "
                    f"Lower the learning rate (--set training.stages.{index}.learning_rate=...)."
                )
        _finish_stage(run, model, index)
        offset += epochs

    if writer is None:
        # Every stage had finished: still check that the files agree.
        reconcile(run, offset, None, *ranking, has_val)
    _save_final(run, model, offset, has_val)
    best, best_value, note = _final_best(run, config, has_val)
    result = TrainResult(
        run_dir=run,
        best_epoch=best,
        best_value=best_value,
        monitor=config.training.monitor,
        epochs_run=writer.epochs_written if writer is not None else 0,
        seconds=time.time() - started,
        note=note,
    )
    print(result.summary())
    return result


# The writes after the epochs (like EpochEndWriter's), kept together: each is atomic.


def _finish_stage(run: RunDir, model: keras.Model, index: int) -> None:
    """Marks a stage done (its weights), then drops its backups."""
    save_weights_atomic(model, run.stage_weights(index))
    shutil.rmtree(run.stage_backup(index), ignore_errors=True)


def _save_final(run: RunDir, model: keras.Model, epochs: int, has_val: bool) -> None:
    last = best_record(epochs, None, None, None)
    save_model_with_record(model, run.last_model, last)
    if not has_val:
        # Without a validation split the last model is the best we can say.
        save_model_with_record(model, run.best_model, last)


def _final_best(
    run: RunDir, config: RecipeConfig, has_val: bool
) -> tuple[int | None, float | None, str | None]:
    """The epoch and value ``best.keras`` holds, and a note when history says otherwise."""
    training = config.training
    epoch, value, _ = best_epoch(
        read_history(run.history), training.monitor, training.monitor_mode,
        training.monitor_tie_break,
    )
    if not has_val or not run.best_model.is_file():
        return epoch, value, None
    record = read_best_record(run.best_model)
    if record is None or same_best(record, epoch, value):
        return epoch, value, None
    saved = record.get("value")
    held = describe_best_record(record)
    history = (f"history.csv's best is epoch {epoch}" if epoch is not None
               else "history.csv has no best epoch")
    return int(record["epoch"]), (None if saved is None else float(saved)), (
        f"{held}, but {history}, whose model was not saved (see the warning above)"
    )
