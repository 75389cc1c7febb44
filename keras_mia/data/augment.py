"""Training-time augmentation built from Keras 3's image preprocessing layers.

:class:`Augmenter` turns an :class:`~keras_mia.config.data.AugmentConfig` into a
chain of Keras layers (``RandomCrop``, ``RandomFlip``, ``RandomRotation``, ``RandomZoom``,
``RandomShear``, ``RandomTranslation``) plus an additive intensity shift, and applies it to
one image, or one image and its segmentation mask, inside a ``tf.data`` map. With
``shear_convention="keras2"`` the shear is Keras 2's (:class:`Keras2Shear`, an angle in
radians and Keras 2's matrix) instead of Keras 3's ``RandomShear``. ``reframe`` first pads or
crops the film to a random aspect ratio (its own resampling, with a constant fill).

Two choices make it reproducible and mask-safe:

- **Per-element stateless seeds.** A Keras random layer normally draws from its own
  ``SeedGenerator`` variable, whose state advances with every call; inside a parallel
  ``tf.data`` map the calls race, so the same seed would not give the same stream. Instead
  each element carries its own seed (``build_dataset`` zips the images with
  ``tf.data.Dataset.random``), and every random draw of every layer is derived from it with
  ``tf.random.experimental.stateless_fold_in``. The stream then depends on the seed only,
  not on thread timing, and a new epoch gets new draws.
- **One transformation for image and mask.** The same transformation (drawn once per layer)
  is applied to the image (bilinear) and to the mask through Keras' own
  ``transform_segmentation_masks`` (nearest neighbour), so the two stay aligned exactly up
  to interpolation.

Crops and flips move whole pixels and are applied by their layers. The affine layers
(rotation, zoom, shear, translation) only *draw* their transformation; their matrices are
multiplied and applied in a single resampling, rather than one per layer: repeated bilinear
resampling would blur the image step by step while the nearest-neighbour mask does not blur,
so the two would drift apart (on a 64 px phantom, four chained resamplings lose about 5 %
of mask/image overlap; one loses about 1 %). Flips come before the affine transforms, so this
fusion does not change the order of operations.
"""

from __future__ import annotations

import contextlib
import math

import keras
import tensorflow as tf
from keras.random import SeedGenerator

from keras_mia.config.data import AugmentConfig

__all__ = ["Augmenter", "Keras2Shear", "keras2_shear_matrix"]


class _ElementSeed(SeedGenerator):
    """A ``SeedGenerator`` stand-in that hands out seeds derived from one seed tensor.

    Keras' random ops accept an int or a ``SeedGenerator`` (they call ``next()`` on it).
    This one yields ``stateless_fold_in(seed, k)`` for the k-th draw, so the draws of a
    traced map function are a pure function of the element's seed: no variable, no state.
    ``SeedGenerator.__init__`` is deliberately not called: it would create the state
    variable this class exists to avoid.
    """

    def __init__(self, seed: tf.Tensor):
        self._seed = tf.cast(seed, tf.int64)
        self._draws = 0

    def next(self, ordered=True):
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._draws)


class Augmenter:
    """Applies an ``AugmentConfig`` to single images (and masks) inside tf.data.

    Example:

    ```python
    augmenter = Augmenter(AugmentConfig(horizontal_flip=True, rotation=20), seed=1)
    ds = ds.map(lambda image, mask, seed: augmenter(image, mask, seed=seed))
    ```

    Args:
        config: what to apply.
        seed: the layers' own seed (only used if a layer is called directly, outside this
            class); the stream is governed by the per-call ``seed``.
    """

    def __init__(self, config: AugmentConfig, seed: int = 0):
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"config must be an AugmentConfig. Received: config={config!r}")
        self.config = config
        self.layers: list[keras.layers.Layer] = self._build_layers(config, seed)

    @property
    def enabled(self) -> bool:
        """Whether this augmenter changes anything."""
        return self.config.enabled

    def __call__(
        self,
        image: tf.Tensor,
        mask: tf.Tensor | None = None,
        *,
        seed: tf.Tensor,
    ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        """Augments one image (and its mask) with randomness drawn from ``seed``.

        Args:
            image: float32 ``[H, W, C]`` with a static height and width.
            mask: optional float32 ``[H, W, 1]`` 0/1 mask, transformed like ``image``.
            seed: int32/int64 tensor of shape ``[2]``; the same seed gives the same result.

        Returns:
            The augmented image, or ``(image, mask)`` when a mask is given.
        """
        element_seed = _ElementSeed(seed)
        image = tf.cast(image, tf.float32)
        if mask is not None:
            mask = tf.cast(mask, tf.float32)
        if self.config.reframe:
            image, mask = self._reframe(image, mask, element_seed)
        if mask is not None:
            # Geometric layers fill a constant region with fill_value in both image and
            # mask; shifting the mask by fill_value first makes that region 0 in the mask.
            mask = tf.cast(mask, tf.float32) + self.config.fill_value
        with _tensorflow_backend(self.layers):
            matrices = []
            for layer in self.layers:
                transformation = _random_transformation(layer, image, element_seed)
                if isinstance(layer, _AFFINE_LAYERS):
                    matrices.append(_affine_matrix(layer, transformation, image))
                    continue
                # Crops and flips move whole pixels: exact for image and mask alike.
                image = layer.transform_images(image, transformation, training=True)
                if mask is not None:
                    mask = layer.transform_segmentation_masks(
                        mask, transformation, training=True
                    )
            if matrices:
                image, mask = self._resample(matrices, image, mask)
        if self.config.intensity_shift:
            shift = tf.random.stateless_uniform(
                [],
                seed=element_seed.next(),
                minval=-self.config.intensity_shift,
                maxval=self.config.intensity_shift,
            )
            image = image + shift
        if mask is None:
            return image
        # Nearest interpolation keeps mask values exact; rounding guards the float offset.
        mask = tf.cast(tf.round(mask - self.config.fill_value) > 0, tf.float32)
        return image, mask

    def _reframe(self, image, mask, seed):
        """Pads or crops the film to a random aspect ratio (``AugmentConfig.reframe``).

        On the already resized ``[H, W]`` image, padding the film to a wider ratio is a
        horizontal shrink of the content to ``W / g`` columns with bars beside it, and
        cropping it to a wider ratio keeps ``H / g`` of its rows, stretched back to ``H``:
        exactly what re-framing the original and then stretching it to ``[H, W]`` gives.
        One resampling with a constant fill does either.
        """
        height, width = image.shape[0], image.shape[1]
        if height is None or width is None:
            raise ValueError(f"reframe needs a static image size. Received: shape={image.shape}")
        limit = math.log1p(self.config.reframe)
        log_factor = tf.random.stateless_uniform([], seed=seed.next(), minval=-limit,
                                                 maxval=limit)
        pad = tf.random.stateless_uniform([], seed=seed.next()) < 0.5
        where = tf.random.stateless_uniform([], seed=seed.next())
        wider = log_factor > 0
        amount = tf.exp(tf.abs(log_factor))  # g >= 1: how much the ratio changes
        kept = 1.0 / amount  # the content's (pad) or the crop's (crop) share of the axis
        # Padding a wider film or cropping a taller one acts on the columns; else the rows.
        on_x = tf.equal(pad, wider)
        size = tf.where(on_x, float(width), float(height))
        offset = where * size * (1.0 - kept)
        # Output-to-input map along that axis, pixel centres at integer coordinates. The
        # crop maps its first and last output pixels onto input pixels (corners aligned),
        # so it never samples outside the film.
        scale = tf.where(pad, amount, (size * kept - 1.0) / (size - 1.0))
        shift = tf.where(pad, (0.5 - offset) * amount - 0.5, offset)
        one, zero = tf.ones([]), tf.zeros([])
        transform = tf.stack([
            tf.where(on_x, scale, one), zero, tf.where(on_x, shift, zero),
            zero, tf.where(on_x, one, scale), tf.where(on_x, zero, shift),
            zero, zero,
        ])[None]

        def apply(x, interpolation, fill):
            return tf.raw_ops.ImageProjectiveTransformV3(
                images=x[None],
                transforms=transform,
                output_shape=[height, width],
                fill_value=fill,
                interpolation=interpolation,
                fill_mode="CONSTANT",
            )[0]

        image = apply(image, "BILINEAR", self.config.fill_value)
        if mask is not None:
            mask = apply(mask, "NEAREST", 0.0)
        return image, mask

    def _resample(self, matrices, image, mask):
        """Applies the product of the affine layers' matrices in one resampling."""
        # Each matrix maps output pixel coordinates to input ones, so applying T1 then T2
        # samples the input at T1 @ T2 @ p.
        transform = matrices[0]
        for matrix in matrices[1:]:
            transform = tf.linalg.matmul(transform, matrix)
        transform = tf.reshape(transform, [9])[:8][None]
        affine_transform = self.layers[-1].backend.image.affine_transform
        config = self.config

        def apply(x, interpolation):
            return affine_transform(
                x[None],
                transform,
                interpolation=interpolation,
                fill_mode=config.fill_mode,
                fill_value=config.fill_value,
                data_format="channels_last",
            )[0]

        image = apply(image, "bilinear")
        if mask is not None:
            mask = apply(mask, "nearest")
        return image, mask

    @staticmethod
    def _build_layers(config: AugmentConfig, seed: int) -> list[keras.layers.Layer]:
        affine = dict(
            fill_mode=config.fill_mode,
            fill_value=config.fill_value,
            interpolation="bilinear",
            dtype="float32",
        )
        layers: list[keras.layers.Layer] = []
        if config.crop is not None:
            layers.append(
                keras.layers.RandomCrop(
                    *config.crop, seed=seed, dtype="float32", name="augment_crop"
                )
            )
        if config.horizontal_flip:
            layers.append(
                keras.layers.RandomFlip(
                    "horizontal", seed=seed + 1, dtype="float32", name="augment_hflip"
                )
            )
        if config.vertical_flip:
            layers.append(
                keras.layers.RandomFlip(
                    "vertical", seed=seed + 2, dtype="float32", name="augment_vflip"
                )
            )
        if config.rotation:
            fraction = config.rotation / 360.0
            layers.append(
                keras.layers.RandomRotation(
                    (-fraction, fraction), seed=seed + 3, name="augment_rotation", **affine
                )
            )
        zoom = config.zoom_range
        if zoom is not None:
            # RandomZoom scales the sampling grid by 1 + factor: the same convention as
            # ImageDataGenerator's zoom_range (above 1 zooms out). Given a width factor too,
            # it draws the width scale separately: Keras 2's independent zx, zy.
            factor = (zoom[0] - 1.0, zoom[1] - 1.0)
            layers.append(
                keras.layers.RandomZoom(
                    factor,
                    width_factor=factor if config.zoom_independent else None,
                    seed=seed + 4,
                    name="augment_zoom",
                    **affine,
                )
            )
        shear = config.shear if isinstance(config.shear, tuple) else (config.shear, 0.0)
        if config.shear_convention == "keras2":
            if config.shear:
                layers.append(
                    Keras2Shear(config.shear, seed=seed + 5, name="augment_shear", **affine)
                )
        elif any(shear):
            layers.append(
                keras.layers.RandomShear(
                    x_factor=(0.0, shear[0]),
                    y_factor=(0.0, shear[1]),
                    seed=seed + 5,
                    name="augment_shear",
                    **affine,
                )
            )
        translation = config.translation
        if not isinstance(translation, tuple):
            translation = (translation, translation)
        if any(translation):
            layers.append(
                keras.layers.RandomTranslation(
                    (-translation[0], translation[0]),
                    (-translation[1], translation[1]),
                    seed=seed + 6,
                    name="augment_translation",
                    **affine,
                )
            )
        return layers


def keras2_shear_matrix(angle, height: int, width: int) -> tf.Tensor:
    """Keras 2's shear as a 3x3 output-to-input pixel map in Keras 3's (x, y) order.

    Keras 2.0/2.1 ``ImageDataGenerator.random_transform`` built
    ``[[1, -sin a, 0], [0, cos a, 0], [0, 0, 1]]`` on (row, column) coordinates and applied
    it about the image centre. In (x = column, y = row) order, as Keras 3's
    ``affine_transform`` reads it, that is ``x_in = cos a (x - cx) + cx`` and
    ``y_in = y - sin a (x - cx)``. The centre is the pixel-grid centre ``(width - 1) / 2``,
    as Keras 3's zoom and rotation use; Keras 2's ``transform_matrix_offset_center`` put it
    one pixel further (``width / 2 + 0.5``), a constant one-pixel shift we do not copy.

    Args:
        angle: scalar shear angle in radians (float or tensor).
        height: image height in pixels (the row centre cancels out; kept for symmetry).
        width: image width in pixels.

    Returns:
        float32 ``[3, 3]`` matrix mapping output ``(x, y, 1)`` to input coordinates.
    """
    del height  # the rows shift by a multiple of the column offset only
    angle = tf.cast(angle, tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx = (float(width) - 1.0) / 2.0
    zero, one = tf.zeros([], tf.float32), tf.ones([], tf.float32)
    return tf.reshape(
        tf.stack([cos, zero, cx * (1.0 - cos), -sin, one, sin * cx, zero, zero, one]), [3, 3]
    )


class Keras2Shear(keras.layers.RandomShear):
    """Keras 2.0/2.1 ``ImageDataGenerator``'s random shear, as a Keras 3 layer.

    Lakhani et al. (2018) trained with Keras 2.1.x and ``shear_range=0.2``; until Keras pull
    request #8868 (merged 22 December 2017, after 2.1.2) that range was in **radians**: the
    angle was ``np.random.uniform(-0.2, 0.2)`` fed straight into ``np.sin``/``np.cos`` of
    the matrix ``[[1, -sin a, 0], [0, cos a, 0], [0, 0, 1]]``. Keras 3's ``RandomShear``
    takes a tangent factor and shears about the top-left corner; this layer reproduces the
    Keras 2 draw and matrix (see :func:`keras2_shear_matrix`).

    Args:
        max_angle: the largest angle in radians; angles are uniform in
            ``[-max_angle, max_angle]``.
        **kwargs: ``RandomShear``'s ``fill_mode``, ``fill_value``, ``interpolation``,
            ``seed``, ``name``, ``dtype``.
    """

    def __init__(self, max_angle: float, **kwargs):
        if isinstance(max_angle, bool) or not isinstance(max_angle, (int, float)) or not (
            0 < max_angle < math.pi / 2
        ):
            raise ValueError(
                f"max_angle must be in (0, pi/2) radians. Received: max_angle={max_angle!r}"
            )
        super().__init__(x_factor=0.0, y_factor=0.0, **kwargs)
        self.max_angle = float(max_angle)

    def get_random_transformation(self, data, training=True, seed=None):
        """Draws one angle per image, uniform in ``[-max_angle, max_angle]`` radians."""
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        shape = self.backend.shape(images)
        count = shape[0] if len(shape) == 4 else 1
        if seed is None:
            seed = self._get_seed_generator(self.backend._backend)
        angle = self.backend.random.uniform(
            minval=-self.max_angle, maxval=self.max_angle, shape=(count,), seed=seed
        )
        return {"angle": angle}

    def matrix(self, transformation, height: int, width: int) -> tf.Tensor:
        """The ``[3, 3]`` output-to-input map of the first image's drawn angle."""
        return keras2_shear_matrix(transformation["angle"][0], height, width)

    def transform_images(self, images, transformation, training=True):
        """Applies the drawn shear (the first image's angle to every image of a batch)."""
        return self._apply(images, transformation, training, self.interpolation)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """Applies the drawn shear to masks with nearest-neighbour sampling."""
        return self._apply(segmentation_masks, transformation, training, "nearest")

    def _apply(self, images, transformation, training, interpolation):
        if not training or transformation is None:
            return images
        images = self.backend.cast(images, self.compute_dtype)
        unbatched = len(images.shape) == 3
        batch = images[None] if unbatched else images
        height, width = batch.shape[1], batch.shape[2]
        flat = tf.reshape(self.matrix(transformation, height, width), [9])[:8][None]
        out = self.backend.image.affine_transform(
            batch,
            flat,
            interpolation=interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format="channels_last",
        )
        return out[0] if unbatched else out

    def get_config(self):
        config = super().get_config()
        config["max_angle"] = self.max_angle
        for key in ("x_factor", "y_factor"):
            config.pop(key, None)
        return config


_AFFINE_LAYERS = (
    keras.layers.RandomRotation,
    keras.layers.RandomZoom,
    keras.layers.RandomShear,  # Keras2Shear included: it is a subclass
    keras.layers.RandomTranslation,
)


def _affine_matrix(layer, transformation, image):
    """The 3x3 output-to-input pixel map an affine Keras layer would apply to ``image``.

    Uses the layers' own matrix builders (the ones their ``transform_images`` calls), so the
    geometry is exactly Keras'; ``tests/data/test_augment.py`` checks that each layer alone
    gives bit-identical results to its ``transform_images``.
    """
    height, width = image.shape[0], image.shape[1]
    if isinstance(layer, keras.layers.RandomRotation):
        flat = transformation["rotation_matrix"]
    elif isinstance(layer, keras.layers.RandomZoom):
        zooms = tf.concat([transformation["width_zoom"], transformation["height_zoom"]], axis=1)
        flat = layer._get_zoom_matrix(tf.cast(zooms, tf.float32), height, width)
    elif isinstance(layer, Keras2Shear):
        return tf.cast(layer.matrix(transformation, height, width), tf.float32)
    elif isinstance(layer, keras.layers.RandomShear):
        flat = layer._get_shear_matrix(transformation["shear_factor"])
    else:
        flat = layer._get_translation_matrix(transformation["translations"])
    flat = tf.reshape(tf.cast(flat, tf.float32), [8])
    return tf.reshape(tf.concat([flat, [1.0]], axis=0), [3, 3])


def _random_transformation(layer, image, seed):
    """Draws ``layer``'s transformation for one ``[H, W, C]`` image."""
    if isinstance(layer, keras.layers.RandomCrop):
        # RandomCrop.get_random_transformation falls back to a fixed centre crop as soon as
        # one side already has the crop's size; draw the corner ourselves so the other side
        # is still random. (transform_images takes the same (top, left) pair.)
        height, width = image.shape[0], image.shape[1]
        if height is None or width is None:
            raise ValueError(
                f"Random crop needs a static image size. Received: image.shape={image.shape}"
            )
        top = tf.random.stateless_uniform(
            [], seed=seed.next(), minval=0, maxval=height - layer.height + 1, dtype=tf.int32
        )
        left = tf.random.stateless_uniform(
            [], seed=seed.next(), minval=0, maxval=width - layer.width + 1, dtype=tf.int32
        )
        return top, left
    return layer.get_random_transformation(image, training=True, seed=seed)


@contextlib.contextmanager
def _tensorflow_backend(layers):
    """Runs Keras data layers on TensorFlow ops, whatever ``KERAS_BACKEND`` is.

    Calling a data layer on a tf.data tensor does this switch inside ``__call__``; we call
    ``get_random_transformation``/``transform_*`` directly (to pass our seed and share one
    transformation between image and mask), so we switch ourselves. The map function is
    traced once, on one thread, so the switch cannot race.
    """
    for layer in layers:
        layer.backend.set_backend("tensorflow")
    try:
        yield
    finally:
        for layer in layers:
            layer.backend.reset()
