"""Typed recipe configuration: what a YAML recipe may say, checked key by key.

A recipe file (``keras_mia/recipes/*.yaml``) has the sections of :class:`RecipeConfig`:
``data`` (the tf.data pipeline, :class:`keras_mia.config.data.PipelineConfig`),
``model``, ``training`` (stages of fine-tuning), ``evaluation``, plus the data set used by the
synthetic demo and the figures the seed paper reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from keras_mia.config.data import PipelineConfig
from keras_mia.config.typed import ConfigError

__all__ = [
    "ScheduleConfig",
    "StageConfig",
    "TrainingConfig",
    "ModelConfig",
    "PatchRunConfig",
    "EvaluationConfig",
    "SynthConfig",
    "RecipeConfig",
    "LOSSES",
]

LOSSES: tuple[str, ...] = (
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "weighted_sigmoid_cross_entropy",
)


@dataclasses.dataclass
class ScheduleConfig:
    """Learning-rate schedule within a stage.

    Attributes:
        type: ``"constant"`` or ``"step"`` (multiply by ``factor`` every ``every`` epochs,
            counted from the start of training, as Scuccimarra's x0.85 every 10 epochs).
        factor: the step multiplier.
        every: epochs between steps.
    """

    type: Literal["constant", "step"] = "constant"
    factor: float = 1.0
    every: int = 1

    def validate(self) -> None:
        if self.every < 1:
            raise ValueError(f"schedule.every must be >= 1. Received: every={self.every}")
        if self.factor <= 0:
            raise ValueError(f"schedule.factor must be > 0. Received: factor={self.factor}")


@dataclasses.dataclass
class StageConfig:
    """One fine-tuning stage: which layer group trains, with which optimizer, for how long.

    Attributes:
        name: a label for logs and plots.
        trainable: the model's layer group to train (``"head"``, ``"top_block"``,
            ``"new_layers"``, ``"all"``; see ``keras_mia.models.set_trainable_stage``).
        epochs: epochs of this stage.
        optimizer: ``"adam"`` or ``"sgd"``.
        learning_rate: initial learning rate of the stage.
        weight_decay: weight decay ``w`` of the optimizer (0 = none), applied as
            ``weight_decay_mode`` says.
        weight_decay_mode: ``"decoupled"`` (Keras' built-in ``weight_decay``, AdamW-style:
            ``param -= lr * w * param`` apart from the gradient step) or ``"coupled"`` (an
            L2 penalty added to the gradient before the optimizer's moment estimates,
            ``grad += w * param``, as PyTorch's ``torch.optim.Adam(weight_decay=w)`` and
            ``SGD(weight_decay=w)``). For SGD without momentum the two coincide; for Adam
            they do not (the coupled term is rescaled by Adam's adaptive step).
        momentum: SGD momentum.
        schedule: the learning-rate schedule.
        crop: training crop ``(height, width)`` for this stage (progressive resizing);
            ``None`` keeps ``data.augment.crop``.
        batch_size: batch size for this stage; ``None`` keeps ``data.batch_size``.
    """

    name: str = "train"
    trainable: str = "all"
    epochs: int = 1
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    weight_decay_mode: Literal["coupled", "decoupled"] = "decoupled"
    momentum: float = 0.0
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    crop: tuple[int, int] | None = None
    batch_size: int | None = None

    def validate(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0. Received: epochs={self.epochs}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0. Received: {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(
                f"weight_decay must be >= 0. Received: weight_decay={self.weight_decay}"
            )


@dataclasses.dataclass
class TrainingConfig:
    """How ``model.fit`` runs.

    Attributes:
        epochs: total epochs over all stages. ``None``: the sum of the stages' epochs. A
            different number rescales every stage's epochs proportionally (at least one
            each), so ``--set training.epochs=3`` gives a short run of the same recipe.
        stages: the fine-tuning stages, run in order with the same weights.
        loss: one of ``LOSSES``.
        loss_options: keyword arguments of the loss (e.g. ``pos_weight``).
        metrics: metric names (``accuracy``, ``auc``, ``sensitivity``, ``specificity``,
            ``precision``, ``iou``, ``dice``, ``pixel_precision``, ``pixel_recall``,
            ``pixel_f1``).
        monitor: the validation metric that selects ``best.keras`` (``val_auc`` for
            classifiers, ``val_iou`` for segmentation).
        monitor_mode: ``"max"`` or ``"min"``.
        monitor_tie_break: among epochs with an equal ``monitor`` value (an AUC that has
            reached 1.0 on a small validation set), the one with the lowest value of this
            logged metric is kept (``val_loss``); ``None``: the first of them.
        class_weight: ``None``, ``"balanced"`` (inverse class frequency of the training
            split) or a mapping class name -> weight.
        compute_mean: set ``data.mean`` to the training split's mean intensity after
            ``rescale`` before training (Shen et al. subtract the training-set mean). A
            model standing on a trained patch run (``model.patch_run``) inherits that run's
            mean instead: the run's ``config.yaml`` then says ``false``.
        mixed_precision: ``mixed_float16`` compute (GPUs with tensor cores).
        jit_compile: XLA-compile the train step.
        distribution: ``"auto"`` (every visible GPU: ``MirroredStrategy`` on TensorFlow,
            ``keras.distribution.DataParallel`` on JAX), ``"none"``, ``"mirrored"``,
            ``"multi_worker"`` (``MultiWorkerMirroredStrategy``, cluster from TF_CONFIG).
        devices: explicit device names for ``"mirrored"`` (e.g. two logical CPUs in tests).
        steps_per_epoch: cap on batches per epoch (``None``: the whole split).
        tensorboard: write TensorBoard logs to ``RUN/logs``.
        batchnorm_momentum: moving-average momentum of every BatchNormalization layer for
            this run (``None``: the model's own, 0.99 in Keras). At 0.99 the moving statistics
            of a network trained from scratch need several hundred steps to settle, so a
            short run (the CPU demos) predicts with stale statistics; 0.9 settles in tens.
    """

    epochs: int | None = None
    stages: list[StageConfig] = dataclasses.field(default_factory=lambda: [StageConfig()])
    loss: Literal[
        "binary_crossentropy",
        "sparse_categorical_crossentropy",
        "categorical_crossentropy",
        "weighted_sigmoid_cross_entropy",
    ] = "sparse_categorical_crossentropy"
    loss_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: list[str] = dataclasses.field(default_factory=lambda: ["accuracy", "auc"])
    monitor: str = "val_auc"
    monitor_mode: Literal["max", "min"] = "max"
    monitor_tie_break: str | None = "val_loss"
    class_weight: str | dict[str, Any] | None = None
    compute_mean: bool = False
    mixed_precision: bool = False
    jit_compile: bool = False
    distribution: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"
    devices: list[str] | None = None
    steps_per_epoch: int | None = None
    tensorboard: bool = True
    batchnorm_momentum: float | None = None

    def validate(self) -> None:
        if not self.stages:
            raise ValueError("stages must list at least one stage.")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1. Received: epochs={self.epochs}")
        if isinstance(self.class_weight, str) and self.class_weight != "balanced":
            raise ValueError(
                f"class_weight must be null, 'balanced' or a mapping. "
                f"Received: class_weight={self.class_weight!r}"
            )

    def stage_epochs(self) -> list[int]:
        """Epochs of each stage after applying ``epochs`` (see the class docstring)."""
        planned = [s.epochs for s in self.stages]
        total = sum(planned)
        if self.epochs is None or self.epochs == total:
            return planned
        if self.epochs < len(planned):
            # Fewer epochs than stages: keep the first stages, one epoch each.
            return [1 if i < self.epochs else 0 for i in range(len(planned))]
        scaled = [max(1, round(e * self.epochs / max(total, 1))) for e in planned]
        # Give the rounding difference to the longest stage so the total is exact.
        longest = max(range(len(scaled)), key=lambda i: scaled[i])
        scaled[longest] += self.epochs - sum(scaled)
        return scaled


@dataclasses.dataclass
class PatchRunConfig:
    """The trained patch run a whole-image model stands on (filled in by ``train``).

    Written into the whole-image run's ``config.yaml`` by
    :func:`keras_mia.training.backbone.resolve_backbone`: where the backbone came from, and
    the input scaling it was trained with, which the whole-image run inherits (``data.mean``
    is this run's training mean, not one recomputed over whole images).

    Attributes:
        run: the patch run folder (absolute).
        recipe: its recipe name (``mammo_patch``).
        variant: its variant (Shen's patch set ``s`` or ``s10``).
        channels: its input channels.
        minmax: its ``data.minmax``.
        rescale: its ``data.rescale``.
        mean: its ``data.mean`` (the patch training set's mean).
        std: its ``data.std``.
    """

    run: str
    recipe: str
    variant: str | None = None
    channels: int = 3
    minmax: tuple[float, float] | None = None
    rescale: float = 1.0
    mean: float = 0.0
    std: float = 1.0


@dataclasses.dataclass
class ModelConfig:
    """Which registered model to build (``keras_mia.models.build``) and its options.

    Attributes:
        name: the registered model name.
        options: keyword arguments of the model builder (``resnet50_whole_image`` also takes
            ``backbone`` and ``patch_model``; see ``keras_mia.training.backbone``).
        patch_run: the patch run the model stands on; set by ``train``, not by hand.
    """

    name: str = "resnet18"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    patch_run: PatchRunConfig | None = None


@dataclasses.dataclass
class EvaluationConfig:
    """How ``evaluate`` turns probabilities into decisions and reports them.

    Attributes:
        positive_class: the class whose probability is scored for binary metrics (default:
            the last class).
        threshold: the operating threshold for ``threshold_rule="fixed"``.
        threshold_rule: ``"fixed"``, ``"youden"`` or ``"sensitivity"`` (chosen on the
            validation split).
        target_sensitivity: for ``threshold_rule="sensitivity"``.
        bootstrap: bootstrap resamples for the 95 % confidence intervals.
        patient_aggregation: ``"max"`` or ``"mean"`` over a patient's images.
        area_divisor: segmentation image-level rule: positive when the predicted area exceeds
            ``size**2 / area_divisor`` pixels (750 in Scuccimarra).
        image_positive: segmentation image-level truth: the manifest labels that make an image
            truly positive (e.g. ``[malignant]``); every other label is negative. ``None``
            (default): normal vs abnormal, ``normal`` negative and ``benign`` / ``malignant``
            / ``abnormal`` positive; an image whose label is none of those takes its truth
            from its mask (``keras_mia.evaluation.segmentation.image_truth``).
    """

    positive_class: str | None = None
    threshold: float = 0.5
    threshold_rule: Literal["fixed", "youden", "sensitivity"] = "fixed"
    target_sensitivity: float = 0.9
    bootstrap: int = 1000
    patient_aggregation: Literal["max", "mean"] = "max"
    area_divisor: float = 750.0
    image_positive: list[str] | None = None


@dataclasses.dataclass
class SynthConfig:
    """The synthetic data set a recipe trains on in ``demo`` and in tests."""

    dataset: str = "hello_world"
    n: int | None = None
    image_size: tuple[int, int] | None = None


@dataclasses.dataclass
class RecipeConfig:
    """A whole, resolved recipe: everything ``train`` needs besides the manifest's rows.

    Attributes:
        name: recipe name.
        description: one line for ``keras-mia recipes``.
        reference: the seed publication.
        variant: the selected variant (e.g. Shen's patch sets ``s`` / ``s10``).
        variants: variant name -> list of ``key=value`` overrides applied on selection.
        seed: seeds the weights, the data order and the augmentation.
        manifest: path of the manifest to train on (set by ``--manifest``).
        label_map: manifest label -> class name, applied before training (e.g. the whole-image
            classifier maps ``normal`` to ``benign``).
        data: the tf.data pipeline.
        model: the model.
        training: the training engine.
        evaluation: the evaluation.
        synth: the synthetic data set of the demo.
        demo: ``key=value`` overrides of the reduced configuration ``keras-mia demo`` trains.
        reported: the seed paper's figures, for comparison in reports.
    """

    name: str
    description: str = ""
    reference: str = ""
    variant: str | None = None
    variants: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    manifest: str | None = None
    label_map: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    synth: SynthConfig = dataclasses.field(default_factory=SynthConfig)
    demo: list[str] = dataclasses.field(default_factory=list)
    reported: dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if self.variants and self.variant not in self.variants:
            raise ValueError(
                f"variant must be one of {sorted(self.variants)}. "
                f"Received: variant={self.variant!r}"
            )


def positive_class_index(config: "RecipeConfig", classes: list[str]) -> int | None:
    """Index of ``evaluation.positive_class`` in ``classes``.

    Args:
        config: the resolved recipe.
        classes: the class names in index order.

    Returns:
        The index; with no positive class configured, the last class of two (``None`` for
        more than two classes: metrics are then macro averages).

    Raises:
        ConfigError: the configured class is not one of ``classes``.
    """
    name = config.evaluation.positive_class
    if name is None:
        return len(classes) - 1 if len(classes) == 2 else None
    if name not in classes:
        raise ConfigError(
            f"evaluation.positive_class: expected one of {classes}. Received: {name!r}"
        )
    return classes.index(name)
