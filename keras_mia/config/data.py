"""Configuration of the tf.data input pipelines (``keras_mia.data.pipeline``).

A recipe's ``data`` and ``augment`` YAML sections map one to one onto :class:`PipelineConfig`
and its nested :class:`AugmentConfig`: ``PipelineConfig.from_dict(d)`` checks every key and
value (an unknown key or a value of the wrong type is an error naming the key, the expected
type and the value received) and ``to_dict()`` gives the plain-Python form back (tuples as
lists, so it can be dumped to YAML).

Order of the per-image steps (``build_dataset`` and ``preprocess_image`` follow it):

1. decode, in original units (``keras_mia.data.decode``);
2. resize to ``image_size`` (``resize="stretch"`` or ``"pad"``; images bilinear, or nearest
   with ``resize_interpolation="nearest"``, masks nearest; the padding is zeros in original
   units, as in Shen et al.'s 16-bit PNGs). ``image_size: null`` keeps every image at its own
   size (Scuccimarra's scans, prepared at 0.66 of their size): training then crops first
   (``augment.crop``, drawn from the decoded image before any other full-image work) and the
   other splits yield whole images one at a time (batch 1) unless ``center_crop_eval``;
3. normalise: ``x = minmax(x)`` if ``minmax`` is set, then ``x = (x * rescale - mean) / std``;
4. augment (training only): geometric transforms, then the additive intensity shift, all in
   normalised units (so ``intensity_shift`` and ``fill_value`` are normalised units too);
5. replicate to ``channels`` (1 or 3).

Recipes of the reproduced systems, for reference:

- Hello World (Lakhani): ``rescale=1/255``.
- Breast MRI (Konz): ``minmax=(0, 255)``.
- Shen et al. 16-bit PNGs: ``rescale=255/65535`` (to [0, 255]), ``mean=<training-set mean>``.
- Dense prediction (Scuccimarra): ``mean=127, std=255`` gives ``(x - 127) / 255``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from keras_mia.config.typed import from_dict

__all__ = [
    "AugmentConfig",
    "PipelineConfig",
    "RESIZE_MODES",
    "RESIZE_INTERPOLATIONS",
    "SHEAR_CONVENTIONS",
    "TASKS",
    "LABEL_MODES",
    "FILL_MODES",
    "AUTOTUNE",
]

RESIZE_MODES: tuple[str, ...] = ("stretch", "pad")
RESIZE_INTERPOLATIONS: tuple[str, ...] = ("bilinear", "nearest")
SHEAR_CONVENTIONS: tuple[str, ...] = ("keras3", "keras2")
TASKS: tuple[str, ...] = ("classification", "segmentation")
LABEL_MODES: tuple[str, ...] = ("binary", "int", "categorical")
FILL_MODES: tuple[str, ...] = ("constant", "reflect", "nearest", "wrap")
# tf.data.AUTOTUNE is -1; kept as a plain int so this module does not import TensorFlow.
AUTOTUNE: int = -1


@dataclasses.dataclass
class AugmentConfig:
    """On-the-fly augmentation of the training pipeline (never applied to val/test).

    Every transform is off by default. They run in this order: re-framing, crop, horizontal
    flip, vertical flip, rotation, zoom, shear, translation, intensity shift. Geometric
    transforms move a segmentation mask exactly as the image (nearest interpolation for the
    mask).

    Attributes:
        reframe: re-frame the film to another aspect ratio, as if it had been stored in a
            different frame: the ratio width / height is multiplied by a factor drawn
            log-uniformly in ``[1 / (1 + reframe), 1 + reframe]``, and, with equal
            probability, the film is either *padded* to that ratio (bars of ``fill_value``
            on the short axis, the film at a random offset) or *cropped* to it (a random
            crop of the long axis). Applied to the resized image, it equals re-framing the
            original film before a stretching resize. It stops a classifier from telling
            classes apart by the film's shape (see ``keras-mia probe-aspect``). ``0`` is off.
        crop: ``(height, width)`` of a random crop taken from the resized image, or ``None``.
            Must not exceed ``PipelineConfig.image_size``.
        horizontal_flip: flip left-right with probability 0.5.
        vertical_flip: flip up-down with probability 0.5.
        rotation: maximum rotation in degrees; the angle is uniform in
            ``[-rotation, rotation]``.
        zoom: ``z`` for a scale uniform in ``[1 - z, 1 + z]``, or an explicit range
            ``(low, high)``, in ``ImageDataGenerator``'s convention: a value above 1 zooms
            *out* (the content gets smaller). ``0`` is off.
        zoom_independent: draw the horizontal and vertical scales independently from the
            zoom range, as Keras 2's ``ImageDataGenerator`` did (``zoom_range=0.2`` then
            changes the aspect ratio by up to about +-20 %). ``False`` (default): one scale
            for both axes, the aspect ratio is kept.
        shear: with ``shear_convention="keras3"``: maximum horizontal shear factor ``s``
            (the tangent of the shear angle; Keras 3 ``RandomShear`` convention, a fraction
            of the image, not degrees), sampled uniformly in ``[0, s]`` with a random sign;
            or ``(x, y)`` for both axes. Keras 3 shears about the top-left corner, so the
            content also shifts by up to ``s`` x the image height. With
            ``shear_convention="keras2"``: the maximum shear *angle in radians*, one number.
        shear_convention: ``"keras3"`` (default, ``keras.layers.RandomShear``) or
            ``"keras2"``: Keras 2.0/2.1 ``ImageDataGenerator``'s shear, the one Lakhani et
            al. used: an angle uniform in ``[-shear, shear]`` radians (Keras switched
            ``shear_range`` to degrees in pull request #8868, December 2017), the matrix
            ``[[1, -sin a, 0], [0, cos a, 0], [0, 0, 1]]`` on (row, column) coordinates,
            about the image centre. It moves each column along the rows in proportion to
            its distance from the centre and narrows the content by ``cos a``.
        translation: maximum shift as a fraction of the image size, ``t`` for both axes or
            ``(height_fraction, width_fraction)``; shifts are uniform in ``[-t, t]``.
        intensity_shift: maximum additive intensity shift, in normalised units (e.g. 20 for
            Shen et al.'s +-20 on a [0, 255] scale); uniform in ``[-s, s]``, one value per
            image, not clipped.
        fill_mode: how geometric transforms fill pixels from outside the image:
            ``"constant"`` (``fill_value``), ``"reflect"``, ``"nearest"`` or ``"wrap"``.
        fill_value: the constant for ``fill_mode="constant"`` and the bars of ``reframe``'s
            padding, in normalised units. Segmentation masks are always filled with 0 there.
    """

    reframe: float = 0.0
    crop: tuple[int, int] | None = None
    horizontal_flip: bool = False
    vertical_flip: bool = False
    rotation: float = 0.0
    zoom: float | tuple[float, float] = 0.0
    zoom_independent: bool = False
    shear: float | tuple[float, float] = 0.0
    shear_convention: Literal["keras3", "keras2"] = "keras3"
    translation: float | tuple[float, float] = 0.0
    intensity_shift: float = 0.0
    fill_mode: Literal["constant", "reflect", "nearest", "wrap"] = "constant"
    fill_value: float = 0.0

    def __post_init__(self):
        if self.crop is not None:
            self.crop = _pair(self.crop, "crop", int)
            if min(self.crop) < 1:
                raise ValueError(f"crop sizes must be >= 1. Received: crop={self.crop}")
        for name in ("reframe", "rotation", "intensity_shift"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}")
        if self.reframe > 1:
            raise ValueError(
                "reframe must be at most 1 (aspect ratios changed by up to a factor of 2). "
                f"Received: reframe={self.reframe}"
            )
        if self.rotation > 180:
            raise ValueError(f"rotation must be at most 180 degrees. Received: {self.rotation}")
        if isinstance(self.zoom, (list, tuple)):
            self.zoom = _pair(self.zoom, "zoom", float)
            low, high = self.zoom
            # Keras' RandomZoom takes factors in (-1, 1], i.e. scales in (0, 2].
            if not 0 < low <= high <= 2:
                raise ValueError(
                    "zoom as a range must satisfy 0 < low <= high <= 2. "
                    f"Received: zoom={self.zoom}"
                )
        elif not 0 <= self.zoom < 1:
            raise ValueError(f"zoom as a number must be in [0, 1). Received: zoom={self.zoom}")
        for name in ("shear", "translation"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                value = _pair(value, name, float)
                setattr(self, name, value)
            else:
                value = (value, value)
            if not all(0 <= v <= 1 for v in value):
                raise ValueError(
                    f"{name} must be in [0, 1] (a fraction of the image). "
                    f"Received: {name}={getattr(self, name)}"
                )
        if self.fill_mode not in FILL_MODES:
            raise ValueError(
                f"fill_mode must be one of {FILL_MODES}. Received: fill_mode={self.fill_mode!r}"
            )
        _check_choice(self.shear_convention, SHEAR_CONVENTIONS, "shear_convention")
        if self.shear_convention == "keras2" and isinstance(self.shear, tuple):
            raise ValueError(
                "shear_convention='keras2' takes one shear angle in radians (Keras 2 sheared "
                f"one axis only). Received: shear={self.shear}"
            )

    @property
    def zoom_range(self) -> tuple[float, float] | None:
        """``(low, high)`` scale range, or ``None`` when zoom is off."""
        if isinstance(self.zoom, tuple):
            return None if self.zoom == (1.0, 1.0) else self.zoom
        return None if self.zoom == 0 else (1.0 - self.zoom, 1.0 + self.zoom)

    @property
    def enabled(self) -> bool:
        """Whether any transform is switched on."""
        return bool(
            self.reframe
            or self.crop
            or self.horizontal_flip
            or self.vertical_flip
            or self.rotation
            or self.zoom_range
            or any(_as_pair(self.shear))
            or any(_as_pair(self.translation))
            or self.intensity_shift
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AugmentConfig":
        """Builds a config from a plain dict (e.g. a recipe's ``augment`` YAML section).

        Args:
            d: key -> value; missing keys keep their defaults. ``None`` means all defaults.

        Returns:
            The config.

        Raises:
            ValueError: an unknown key, a value of the wrong type or out of range.
        """
        return from_dict(cls, d, "augment")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain Python values (tuples become lists)."""
        return _to_plain(dataclasses.asdict(self))


@dataclasses.dataclass
class PipelineConfig:
    """What ``build_dataset`` does to a manifest's images.

    Attributes:
        image_size: ``(height, width)`` every image is resized to; ``None``: no resize, every
            image keeps its own size (training needs ``augment.crop`` for batches above 1;
            whole evaluation images come one per batch).
        resize: ``"stretch"`` (plain resize; the aspect ratio changes) or ``"pad"`` (aspect
            ratio kept, then symmetric zero padding to ``image_size``, as Shen et al.'s
            1152x896 preprocessing).
        resize_interpolation: how images are resampled to ``image_size``: ``"bilinear"``
            (default) or ``"nearest"`` (Keras 2's ``flow_from_directory`` default; no
            antialiasing then). Masks always use nearest neighbour.
        antialias: filter when downsampling images (masks always use nearest neighbour).
        channels: 1, or 3 to replicate a grey image into RGB-shaped input (ImageNet models).
        minmax: ``(low, high)`` to map each image's own min..max onto, before the affine
            step; ``None`` to skip. A constant image becomes ``low``.
        rescale: multiplier of the affine step ``(x * rescale - mean) / std``.
        mean: subtracted after ``rescale`` (e.g. the training-set mean, or 127).
        std: divisor after subtracting ``mean``.
        task: ``"classification"`` (labels from the ``label`` column) or ``"segmentation"``
            (targets from the ``mask_path`` column).
        label_mode: for classification: ``"binary"`` (float32 ``[B, 1]``, needs exactly two
            classes), ``"int"`` (int32 ``[B]``) or ``"categorical"`` (one-hot float32
            ``[B, n_classes]``).
        classes: class names in index order; ``None``: the manifest's sorted labels.
        batch_size: images per batch.
        drop_remainder: drop the last, smaller batch.
        shuffle: shuffle the training pipeline (never the others).
        shuffle_buffer: shuffle buffer size; ``None``: the whole split (file names are
            shuffled before decoding unless ``cache`` is on, then decoded images are).
        cache: ``False``; ``True`` to cache the decoded, resized, normalised images in
            memory; or a folder for an on-disk cache (one file set per split and
            preprocessing configuration, named by a hash of both).
        balance: training only: draw classes with equal probability
            (``tf.data.Dataset.sample_from_datasets``); one epoch is still as many images as
            the split has. With ``cache`` on, the per-class caches are filled when the
            dataset is built (one decoding pass), since an epoch reads only part of them.
        seed: seeds shuffling, balancing and augmentation; the same seed gives the same
            stream of batches.
        num_parallel_calls: parallelism of the map steps; ``-1`` is ``tf.data.AUTOTUNE``.
        center_crop_eval: when ``augment.crop`` is set, centre-crop non-training images to
            the same size so every split yields one shape; ``False`` keeps whole images
            (fully convolutional models).
        allow_empty_masks: segmentation: a row without ``mask_path`` gets an all-zero mask
            (a negative image) instead of an error.
        mix: training only: a second manifest mixed into the training split, as Scuccimarra
            mixed his ROI-centred crops (``prepare cbis-ddsm --roi-crops``) with the whole
            scans. ``{"manifest": PATH, "ratio": R}``: ``PATH`` is relative to the training
            manifest's folder unless absolute; its ``train`` rows are used. ``ratio`` is the
            probability that a training element comes from the second set; ``None`` draws
            both sets in proportion to their sizes (the seed's single combined set). One
            epoch is as many elements as the two training splits hold together.
        augment: the training augmentation, see :class:`AugmentConfig`.
    """

    image_size: tuple[int, int] | None = (224, 224)
    resize: Literal["stretch", "pad"] = "stretch"
    resize_interpolation: Literal["bilinear", "nearest"] = "bilinear"
    antialias: bool = True
    channels: Literal[1, 3] = 1
    minmax: tuple[float, float] | None = None
    rescale: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    task: Literal["classification", "segmentation"] = "classification"
    label_mode: Literal["binary", "int", "categorical"] = "int"
    classes: list[str] | None = None
    batch_size: int = 32
    drop_remainder: bool = False
    shuffle: bool = True
    shuffle_buffer: int | None = None
    cache: bool | str = False
    balance: bool = False
    seed: int = 0
    num_parallel_calls: int = AUTOTUNE
    center_crop_eval: bool = True
    allow_empty_masks: bool = False
    mix: dict[str, Any] | None = None
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)

    def __post_init__(self):
        if self.image_size is not None:
            self.image_size = _pair(self.image_size, "image_size", int)
            if min(self.image_size) < 1:
                raise ValueError(
                    f"image_size must be positive. Received: image_size={self.image_size}"
                )
        if self.mix is not None:
            self.mix = _check_mix(self.mix)
        _check_choice(self.resize, RESIZE_MODES, "resize")
        _check_choice(self.resize_interpolation, RESIZE_INTERPOLATIONS, "resize_interpolation")
        _check_choice(self.channels, (1, 3), "channels")
        _check_choice(self.task, TASKS, "task")
        _check_choice(self.label_mode, LABEL_MODES, "label_mode")
        if self.minmax is not None:
            self.minmax = _pair(self.minmax, "minmax", float)
            if self.minmax[0] >= self.minmax[1]:
                raise ValueError(f"minmax must be (low, high), low < high. Received: {self.minmax}")
        if self.std == 0:
            raise ValueError(f"std must be non-zero. Received: std={self.std}")
        if self.classes is not None:
            self.classes = [str(c) for c in self.classes]
            if len(set(self.classes)) != len(self.classes) or not self.classes:
                raise ValueError(
                    f"classes must be distinct and non-empty. Received: classes={self.classes}"
                )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={self.batch_size}")
        if self.shuffle_buffer is not None and self.shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be >= 1. Received: {self.shuffle_buffer}")
        if self.num_parallel_calls != AUTOTUNE and self.num_parallel_calls < 1:
            raise ValueError(
                "num_parallel_calls must be >= 1 or -1 (AUTOTUNE). "
                f"Received: num_parallel_calls={self.num_parallel_calls}"
            )
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        crop = self.augment.crop
        if crop is not None and self.image_size is not None and (
                crop[0] > self.image_size[0] or crop[1] > self.image_size[1]):
            raise ValueError(
                f"augment.crop must fit in image_size={self.image_size}. Received: crop={crop}"
            )

    @property
    def output_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the images the training pipeline yields (``None``: each
        image's own size)."""
        return self.augment.crop or self.image_size

    def eval_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the images the non-training pipeline yields (``None``:
        each image's own size, one image per batch)."""
        if self.augment.crop is not None and self.center_crop_eval:
            return self.augment.crop
        return self.image_size

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "PipelineConfig":
        """Builds a config from a plain dict (e.g. a recipe's ``data`` YAML section).

        Args:
            d: key -> value; missing keys keep their defaults; ``augment`` may be a dict.
                ``None`` means all defaults.

        Returns:
            The config.

        Raises:
            ValueError: an unknown key (the message lists the known ones), a value of the
                wrong type (the message names the expected type) or out of range.
        """
        return from_dict(cls, d, "data")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain Python values (tuples become lists; ``augment`` a dict)."""
        return _to_plain(dataclasses.asdict(self))


def _check_mix(mix: Any) -> dict[str, Any]:
    """Checks ``data.mix``: ``{"manifest": str, "ratio": float in (0, 1) or None}``."""
    if not isinstance(mix, dict) or set(mix) - {"manifest", "ratio"} or "manifest" not in mix:
        raise ValueError(
            "mix must be a mapping {manifest: PATH, ratio: R or null}. "
            f"Received: mix={mix!r}"
        )
    path, ratio = mix["manifest"], mix.get("ratio")
    if not isinstance(path, str) or not path:
        raise ValueError(f"mix.manifest must be a path. Received: mix.manifest={path!r}")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float))
                              or not 0.0 < float(ratio) < 1.0):
        raise ValueError(
            f"mix.ratio must be a number in (0, 1) or null. Received: mix.ratio={ratio!r}"
        )
    return {"manifest": path, "ratio": None if ratio is None else float(ratio)}


def _check_choice(value, choices, name):
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}. Received: {name}={value!r}")


def _pair(value, name, kind):
    """``value`` as a 2-tuple of ``kind`` (accepts lists, as YAML gives them)."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(_is_instance(v, kind) for v in value)
    ):
        raise ValueError(
            f"{name} must be a pair of {kind.__name__}s. Received: {name}={value!r}"
        )
    return tuple(kind(v) for v in value)


def _as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


def _is_instance(value, kind) -> bool:
    """isinstance that refuses bools as numbers and accepts ints as floats."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _to_plain(value):
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value
