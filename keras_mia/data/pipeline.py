"""tf.data input pipelines: manifest rows -> batches of preprocessed (and augmented) images.

``build_dataset(manifest, config, split, training)`` yields ``(images, labels)`` for
classification and ``(images, masks)`` for segmentation. Per image, in this order:

decode (original units) -> resize (image bilinear or nearest, mask nearest) -> normalise -> [cache]
-> augment (``training=True`` only) -> channels -> batch -> prefetch.

The validation/test pipeline (``training=False``) is never shuffled, balanced or augmented;
it only centre-crops to the training crop size when ``augment.crop`` and
``center_crop_eval`` are set. :func:`preprocess_image` is that same non-training path for one
decoded image tensor, for reuse in an exported model's serving graph.

Images at their own size (``image_size=None``, Scuccimarra's scans at 0.66 of their size,
about 2000 x 1300): nothing is resized, and the affine intensity step waits until the
training crop (or the evaluation centre crop) has been cut, so that the only work on the
whole scan is its decoding; whole evaluation images of differing sizes come one per batch.
A second manifest (``config.mix``, e.g. the ROI-centred crops of ``prepare cbis-ddsm
--roi-crops``) can be mixed into the training stream at a set ratio.

Reproducibility: shuffling, class balancing and augmentation are all seeded from
``config.seed`` and use per-element stateless random ops (see ``keras_mia.data.augment``),
so two pipelines built with the same seed yield the same batches, in the same order, epoch
after epoch, whatever the parallelism; each new epoch gets a new order and new draws.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import tensorflow as tf

from keras_mia.data.augment import Augmenter
from keras_mia.data.decode import FORMATS, decode_image, decode_mask, format_code
from keras_mia.data.normalize import center_crop, normalize, resize
from keras_mia.config.data import AugmentConfig, PipelineConfig

__all__ = [
    "build_dataset",
    "preprocess_image",
    "preprocess_mask",
    "resolve_classes",
    "PipelineConfig",
    "AugmentConfig",
]

# Offsets that give each random stream of a pipeline its own seed derived from config.seed.
_SHUFFLE_STREAM = 0
_BALANCE_STREAM = 1
_AUGMENT_STREAM = 2
_MIX_STREAM = 3
_CLASS_STREAM = 100
_MIX_SHUFFLE_STREAM = 200
# Folded into an element's seed for the own-size random crop (the Augmenter draws 1, 2, ...).
_CROP_FOLD = 1 << 20


def build_dataset(
    manifest: Any,
    config: PipelineConfig | dict | None = None,
    split: str | None = None,
    training: bool = False,
) -> tf.data.Dataset:
    """Builds the batched tf.data pipeline for one split of a manifest.

    Args:
        manifest: a ``keras_mia.data.manifest.Manifest``, or the path of a manifest CSV.
        config: a ``PipelineConfig`` or a dict for ``PipelineConfig.from_dict``; ``None``
            for the defaults.
        split: ``"train"``, ``"val"``, ``"test"``, or ``None`` for every row.
        training: shuffle (``config.shuffle``), balance (``config.balance``) and augment
            (``config.augment``). ``False`` (validation, test, inference) does none of these.

    Returns:
        A dataset of ``(images, targets)``: images float32 ``[B, H, W, C]``; targets float32
        ``[B, 1]`` (``label_mode="binary"``), int32 ``[B]`` (``"int"``), float32
        ``[B, n_classes]`` (``"categorical"``), or float32 ``[B, H, W, 1]`` 0/1 masks
        (``task="segmentation"``). For classification the dataset has a ``class_names``
        attribute (as Keras' ``image_dataset_from_directory``).

    Raises:
        ValueError: the split has no rows, a label is not in the classes, a segmentation row
            has no mask, or ``label_mode="binary"`` with other than two classes.
        FileNotFoundError: image or mask files are missing (all of them are listed).
    """
    manifest = _as_manifest(manifest)
    config = _as_config(config)
    rows = manifest.select(split)
    if not rows:
        raise ValueError(
            f"Manifest {getattr(manifest, 'path', '')} has no rows for split={split!r}"
        )
    classes = resolve_classes(manifest, config)
    table = _Table.from_rows(manifest, rows, config, classes)
    if training and config.output_size is None and config.batch_size > 1:
        raise ValueError(
            "data.image_size is null (images keep their own sizes), so training batches of "
            "more than one image need data.augment.crop. Received: "
            f"batch_size={config.batch_size}, augment.crop=None"
        )

    load = _make_loader(config, table, len(classes))
    finish = _make_finisher(config, training)
    parallel = config.num_parallel_calls
    n = len(table)

    if training and config.mix is not None:
        if config.balance:
            raise ValueError(
                "data.mix and data.balance cannot be combined (the mix sets its own "
                f"proportions). Received: mix={config.mix}, balance=True"
            )
        ds = _mixed(manifest, table, config, load, split, classes)
    elif training and config.balance:
        ds = _balanced(table, config, load, split)
    else:
        ds = tf.data.Dataset.from_tensor_slices(table.columns())
        shuffle = training and config.shuffle
        if config.cache is not False:
            ds = ds.map(load, num_parallel_calls=parallel)
            ds = _cache(ds, config, table, split, "")
            if shuffle:
                ds = ds.shuffle(
                    config.shuffle_buffer or n,
                    seed=config.seed + _SHUFFLE_STREAM,
                    reshuffle_each_iteration=True,
                )
        else:
            # Shuffling the file list, not decoded images, keeps the buffer cheap.
            if shuffle:
                ds = ds.shuffle(
                    config.shuffle_buffer or n,
                    seed=config.seed + _SHUFFLE_STREAM,
                    reshuffle_each_iteration=True,
                )
            ds = ds.map(load, num_parallel_calls=parallel)

    if training and config.augment.enabled:
        # One int64 per element, re-drawn each epoch from the seed: the element's own seed.
        seeds = tf.data.Dataset.random(
            seed=config.seed + _AUGMENT_STREAM, rerandomize_each_iteration=True
        )
        ds = tf.data.Dataset.zip((ds, seeds))
        ds = ds.map(finish, num_parallel_calls=parallel)
    else:
        ds = ds.map(
            lambda image, target: finish((image, target), None), num_parallel_calls=parallel
        )

    # Whole images of differing sizes cannot share a batch (padding would add pixels to
    # the metrics): one image per batch.
    own_size = (config.output_size if training else config.eval_size()) is None
    ds = ds.batch(1 if own_size else config.batch_size,
                  drop_remainder=config.drop_remainder and not own_size)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    ds = ds.with_options(options)
    if config.task == "classification":
        ds.class_names = list(classes)
    return ds


def preprocess_image(image: tf.Tensor, config: PipelineConfig) -> tf.Tensor:
    """The non-training preprocessing of one decoded image (what val/test batches get).

    Resize, normalise, centre-crop (when ``augment.crop`` and ``center_crop_eval`` are set)
    and replicate channels; a pure TensorFlow function, usable in a serving graph.

    Args:
        image: ``[H, W]`` or ``[H, W, 1]`` grey image in original units (any real dtype).
        config: the pipeline config the model was trained with.

    Returns:
        float32 ``[h, w, config.channels]``, ``(h, w) = config.eval_size()`` (the image's own
        size when that is ``None``).
    """
    image = _preprocess_core(_with_channel(image), config)
    if config.image_size is None:
        if config.eval_size() is not None:
            image = _crop_or_pad(image, config.eval_size())
        image = _affine(image, config)
    elif config.eval_size() != config.image_size:
        image = center_crop(image, config.eval_size())
    return _replicate_channels(image, config.channels)


def preprocess_mask(mask: tf.Tensor, config: PipelineConfig) -> tf.Tensor:
    """The non-training geometry applied to one 0/1 mask (nearest resize, centre crop).

    Args:
        mask: ``[H, W]`` or ``[H, W, 1]``; non-zero means foreground.
        config: the pipeline config.

    Returns:
        float32 ``[h, w, 1]`` of 0 and 1, aligned with ``preprocess_image``'s output.
    """
    mask = _resize_mask(tf.cast(_with_channel(mask) > 0, tf.float32), config)
    if config.image_size is None:
        if config.eval_size() is not None:
            mask = _crop_or_pad(mask, config.eval_size())
    elif config.eval_size() != config.image_size:
        mask = center_crop(mask, config.eval_size())
    return mask


def resolve_classes(manifest: Any, config: PipelineConfig) -> list[str]:
    """The class names in index order: ``config.classes``, else the manifest's sorted labels.

    Args:
        manifest: a ``Manifest`` (or anything with ``classes``).
        config: the pipeline config.

    Returns:
        The class names.
    """
    classes = list(config.classes) if config.classes is not None else list(manifest.classes)
    if config.task == "classification":
        if not classes:
            raise ValueError(f"Manifest {getattr(manifest, 'path', '')} has no labels")
        if config.label_mode == "binary" and len(classes) != 2:
            raise ValueError(
                "label_mode='binary' needs exactly two classes. "
                f"Received: classes={classes}"
            )
    return classes


# --------------------------------------------------------------------------------------
# Internals.


@dataclasses.dataclass
class _Table:
    """The manifest rows as columns of plain values, ready for from_tensor_slices."""

    image_paths: list[str]
    image_formats: list[int]
    labels: list[int]
    mask_paths: list[str]
    mask_formats: list[int]
    has_mask: list[bool]
    segmentation: bool

    def __len__(self) -> int:
        return len(self.image_paths)

    def columns(self, indices: list[int] | None = None) -> dict[str, list]:
        picked = range(len(self)) if indices is None else indices
        names = ["image_paths", "image_formats", "labels"]
        if self.segmentation:
            names += ["mask_paths", "mask_formats", "has_mask"]
        return {name: [getattr(self, name)[i] for i in picked] for name in names}

    def static_format(self, name: str) -> str | None:
        """The single format of a column, or None when files of several formats mix."""
        codes = set(getattr(self, name))
        return FORMATS[codes.pop()] if len(codes) == 1 else None

    @classmethod
    def from_rows(cls, manifest, rows, config, classes) -> "_Table":
        segmentation = config.task == "segmentation"
        index_of = {id(row): i for i, row in enumerate(manifest.rows)}
        class_index = {name: i for i, name in enumerate(classes)}
        need_labels = not segmentation or config.balance
        problems: list[str] = []
        missing: list[str] = []
        table = cls([], [], [], [], [], [], segmentation)

        for row in rows:
            where = _where(manifest, index_of.get(id(row)), row)
            image_path = str(manifest.resolve(row["image_path"]))
            if not os.path.isfile(image_path):
                missing.append(f"{where}: image file not found: {image_path}")
            table.image_paths.append(image_path)
            table.image_formats.append(format_code(image_path))
            label = row.get("label", "")
            if need_labels and label not in class_index:
                problems.append(f"{where}: label {label!r} is not one of the classes {classes}")
            table.labels.append(class_index.get(label, -1))
            if segmentation:
                mask_cell = row.get("mask_path", "") or ""
                if mask_cell:
                    mask_path = str(manifest.resolve(mask_cell))
                    if not os.path.isfile(mask_path):
                        missing.append(f"{where}: mask file not found: {mask_path}")
                elif config.allow_empty_masks:
                    mask_path = ""
                else:
                    problems.append(
                        f"{where}: no mask_path for a segmentation task (set "
                        "allow_empty_masks=True to treat it as an all-zero mask)"
                    )
                    mask_path = ""
                table.mask_paths.append(mask_path)
                table.mask_formats.append(format_code(mask_path) if mask_path else 0)
                table.has_mask.append(bool(mask_path))
        if missing:
            raise FileNotFoundError(_listing(f"{len(missing)} file(s) missing", missing))
        if problems:
            raise ValueError(_listing(f"{len(problems)} problem(s) in the manifest", problems))
        return table


def _listing(title: str, items: list[str], limit: int = 20) -> str:
    shown = items[:limit]
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title}:\n  " + "\n  ".join(shown) + more


def _where(manifest, index, row) -> str:
    if index is not None and hasattr(manifest, "where"):
        return manifest.where(index)
    return f"{getattr(manifest, 'path', 'manifest')} row image_path={row.get('image_path')!r}"


def _as_manifest(manifest):
    if hasattr(manifest, "rows") and hasattr(manifest, "resolve"):
        return manifest
    if isinstance(manifest, (str, os.PathLike)):
        from keras_mia.data.manifest import Manifest

        return Manifest.load(manifest)
    raise TypeError(
        f"manifest must be a Manifest or a path to a manifest CSV. Received: {manifest!r}"
    )


def _as_config(config) -> PipelineConfig:
    if config is None:
        return PipelineConfig()
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, dict):
        return PipelineConfig.from_dict(config)
    raise TypeError(f"config must be a PipelineConfig or a dict. Received: {config!r}")


def _with_channel(image: tf.Tensor) -> tf.Tensor:
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        return image[..., None]
    if image.shape.rank == 3 and image.shape[-1] == 1:
        return image
    raise ValueError(f"Expected an [H, W] or [H, W, 1] image. Received: shape={image.shape}")


def _preprocess_core(image: tf.Tensor, config: PipelineConfig) -> tf.Tensor:
    """Resize and normalise an ``[H, W, 1]`` image: the cacheable, deterministic part.

    At ``image_size=None`` nothing is resized and only the per-image min-max (a whole-image
    statistic) is applied here; the affine step (``_affine``) follows the crop.
    """
    image = tf.cast(image, tf.float32)
    if config.image_size is None:
        return normalize(image, config.minmax) if config.minmax is not None else image
    image = resize(
        image,
        config.image_size,
        config.resize,
        method=config.resize_interpolation,
        antialias=config.antialias,
    )
    return normalize(image, config.minmax, config.rescale, config.mean, config.std)


def _affine(image: tf.Tensor, config: PipelineConfig) -> tf.Tensor:
    """The pointwise ``(x * rescale - mean) / std`` step (own-size images, after cropping)."""
    return normalize(image, None, config.rescale, config.mean, config.std)


def _crop_or_pad(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Centre crop of an own-size image, zero-padded (original units) where it is smaller."""
    out = tf.image.resize_with_crop_or_pad(image, int(size[0]), int(size[1]))
    return tf.ensure_shape(out, [int(size[0]), int(size[1]), None])


def _random_crop(image, mask, size, seed):
    """A seeded random ``size`` crop of an own-size ``[H, W, C]`` image (and its mask).

    The image is zero-padded at its bottom/right first where it is smaller than the crop (0
    in original units: the background of a breast-segmented scan).
    """
    height, width = int(size[0]), int(size[1])
    shape = tf.shape(image)
    pad_h = tf.maximum(height - shape[0], 0)
    pad_w = tf.maximum(width - shape[1], 0)
    paddings = [[0, pad_h], [0, pad_w], [0, 0]]
    image = tf.pad(image, paddings)
    seed = tf.random.experimental.stateless_fold_in(seed, _CROP_FOLD)
    top = tf.random.stateless_uniform([], seed=seed, minval=0,
                                      maxval=shape[0] + pad_h - height + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform(
        [], seed=tf.random.experimental.stateless_fold_in(seed, 1), minval=0,
        maxval=shape[1] + pad_w - width + 1, dtype=tf.int32)
    image = tf.ensure_shape(image[top:top + height, left:left + width], [height, width, None])
    if mask is not None:
        mask = tf.pad(mask, paddings)[top:top + height, left:left + width]
        mask = tf.ensure_shape(mask, [height, width, None])
    return image, mask


def _resize_mask(mask: tf.Tensor, config: PipelineConfig) -> tf.Tensor:
    if config.image_size is None:
        return mask
    return resize(mask, config.image_size, config.resize, method="nearest")


def _replicate_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    return tf.tile(image, [1, 1, 3]) if channels == 3 else image


def _make_loader(config: PipelineConfig, table: _Table, n_classes: int):
    """The map function: table element -> (normalised [H, W, 1] image, target)."""
    image_format = table.static_format("image_formats")
    mask_format = table.static_format("mask_formats") if table.segmentation else None

    def encode_label(label):
        if config.label_mode == "binary":
            return tf.cast(label, tf.float32)[None]
        if config.label_mode == "categorical":
            return tf.one_hot(label, n_classes, dtype=tf.float32)
        return tf.cast(label, tf.int32)

    def load(element):
        path = element["image_paths"]
        raw = decode_image(path, image_format or element["image_formats"])
        image = _preprocess_core(raw[..., None], config)
        if not table.segmentation:
            return image, encode_label(element["labels"])

        def read_mask():
            mask_path = element["mask_paths"]
            mask = decode_mask(mask_path, mask_format or element["mask_formats"])
            same = tf.reduce_all(tf.equal(tf.shape(mask), tf.shape(raw)))
            check = tf.debugging.Assert(
                same,
                ["Mask size differs from image size:", mask_path, tf.shape(mask),
                 "image:", path, tf.shape(raw)],
            )
            with tf.control_dependencies([check]):
                return tf.identity(mask)

        mask = tf.cond(
            element["has_mask"], read_mask, lambda: tf.zeros_like(raw, dtype=tf.float32)
        )
        return image, _resize_mask(mask[..., None], config)

    return load


def _make_finisher(config: PipelineConfig, training: bool):
    """The map function after loading/caching: augment or centre-crop, then channels."""
    segmentation = config.task == "segmentation"
    own_size = config.image_size is None
    augment = config.augment
    if own_size:
        # The crop is cut (seeded, dynamic shape) before the affine step; the Augmenter
        # does the rest on the crop's static shape.
        augment = dataclasses.replace(augment, crop=None)
    augmenter = Augmenter(augment, seed=config.seed) if training else None
    eval_crop = config.eval_size() if config.eval_size() != config.image_size else None
    size = config.output_size if training else config.eval_size()
    height, width = size if size is not None else (None, None)
    seed_base = tf.constant(config.seed + _AUGMENT_STREAM, tf.int64)

    def finish(example, element_seed):
        image, target = example
        if own_size:
            mask = target if segmentation else None
            if training and config.augment.crop is not None:
                seed = tf.stack([seed_base, tf.cast(element_seed, tf.int64)])
                image, mask = _random_crop(image, mask, config.augment.crop, seed)
            elif not training and eval_crop is not None:
                image = _crop_or_pad(image, eval_crop)
                mask = None if mask is None else _crop_or_pad(mask, eval_crop)
            image = _affine(image, config)
            if segmentation:
                target = mask
        if augmenter is not None and augmenter.enabled:
            seed = tf.stack([seed_base, tf.cast(element_seed, tf.int64)])
            if segmentation:
                image, target = augmenter(image, target, seed=seed)
            else:
                image = augmenter(image, seed=seed)
        elif not training and eval_crop is not None and not own_size:
            image = center_crop(image, eval_crop)
            if segmentation:
                target = center_crop(target, eval_crop)
        image = tf.ensure_shape(_replicate_channels(image, config.channels), [height, width, None])
        if segmentation:
            target = tf.ensure_shape(target, [height, width, 1])
        return image, target

    return finish


def _cache(ds, config, table, split, suffix):
    if config.cache is True:
        return ds.cache()
    folder = Path(config.cache)
    folder.mkdir(parents=True, exist_ok=True)
    return ds.cache(str(folder / f"{split or 'all'}-{_cache_key(config, table)}{suffix}"))


def _cache_key(config: PipelineConfig, table: _Table) -> str:
    """A digest of everything that determines the cached tensors (files and preprocessing)."""
    preprocessing = {
        k: v
        for k, v in config.to_dict().items()
        if k in ("image_size", "resize", "resize_interpolation", "antialias", "minmax",
                 "rescale", "mean", "std", "task", "label_mode", "classes")
    }
    blob = json.dumps([preprocessing, table.columns()], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def _mixed(manifest, table: _Table, config: PipelineConfig, load, split, classes):
    """The training split with ``config.mix``'s second manifest mixed in (seeded).

    Each set is shuffled and repeated on its own; ``sample_from_datasets`` draws from the
    second with probability ``ratio`` (``None``: its share of the two sets' images). One
    epoch is as many elements as both training splits hold together.
    """
    mix = config.mix
    path = Path(mix["manifest"]).expanduser()
    if not path.is_absolute() and getattr(manifest, "path", None):
        path = Path(manifest.path).parent / path
    if not path.is_file():
        raise FileNotFoundError(
            f"data.mix.manifest: file not found (relative paths are taken from the training "
            f"manifest's folder). Received: {mix['manifest']!r} -> {str(path)!r}"
        )
    other = _as_manifest(path)
    other_rows = other.select(split)
    if not other_rows:
        raise ValueError(f"data.mix.manifest {str(path)!r} has no rows for split={split!r}")
    other_table = _Table.from_rows(other, other_rows, config, classes)
    other_load = _make_loader(config, other_table, len(classes))
    sizes = (len(table), len(other_table))
    ratio = mix["ratio"] if mix["ratio"] is not None else sizes[1] / sum(sizes)
    datasets = []
    for index, (part, part_load) in enumerate(((table, load), (other_table, other_load))):
        ds = _endless_source(
            part.columns(), part_load, config, part, split, f"-mix{index}",
            seed=config.seed + _MIX_SHUFFLE_STREAM + index, size=len(part),
        )
        if config.cache is False:
            ds = ds.map(part_load, num_parallel_calls=config.num_parallel_calls)
        datasets.append(ds)
    return tf.data.Dataset.sample_from_datasets(
        datasets,
        weights=[1.0 - ratio, ratio],
        seed=config.seed + _MIX_STREAM,
        rerandomize_each_iteration=True,
    ).take(sum(sizes))


def _endless_source(columns, load, config: PipelineConfig, table: _Table, split, suffix: str,
                    *, seed: int, size: int):
    """One source of a sampled mixture: its rows, shuffled (seeded) and repeated forever.

    With caching on, the rows are decoded and cached first; without it, the caller maps
    ``load`` after sampling.
    """
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if config.cache is not False:
        ds = ds.map(load, num_parallel_calls=config.num_parallel_calls)
        ds = _cache(ds, config, table, split, suffix)
        # An epoch draws only part of a source, and tf.data discards a cache whose first pass
        # was not read to the end; so fill it now, in one pass.
        ds.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
    return ds.shuffle(
        config.shuffle_buffer or size, seed=seed, reshuffle_each_iteration=True
    ).repeat()


def _balanced(table: _Table, config: PipelineConfig, load, split):
    """Equal-probability sampling over the classes present; one epoch = len(table) images."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(table.labels):
        by_class.setdefault(label, []).append(i)
    if len(by_class) < 2:
        warnings.warn(
            f"balance=True but split={split!r} has only {len(by_class)} class(es); "
            "sampling is not balanced",
            stacklevel=3,
        )
    datasets = []
    for label in sorted(by_class):
        indices = by_class[label]
        datasets.append(_endless_source(
            table.columns(indices), load, config, table, split, f"-class{label}",
            seed=config.seed + _CLASS_STREAM + label, size=len(indices),
        ))
    ds = tf.data.Dataset.sample_from_datasets(
        datasets,
        weights=[1.0 / len(datasets)] * len(datasets),
        seed=config.seed + _BALANCE_STREAM,
        rerandomize_each_iteration=True,
    ).take(len(table))
    if config.cache is False:
        ds = ds.map(load, num_parallel_calls=config.num_parallel_calls)
    return ds
