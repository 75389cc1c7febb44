"""Tests for keras_mia.data.augment: Keras-layer augmentation that keeps masks aligned."""

import numpy as np
import pytest
import tensorflow as tf

from keras_mia.data.augment import Augmenter
from keras_mia.data.pipeline_config import AugmentConfig

SIZE = 64
SEEDS = range(5)

# Each transform alone, with strengths that keep the bright region inside the frame, and
# the full chain. fill_mode="constant" (0) so nothing bright is invented at the borders.
TRANSFORMS = {
    "crop": dict(crop=(48, 40)),
    "hflip": dict(horizontal_flip=True),
    "vflip": dict(vertical_flip=True),
    "rotation": dict(rotation=25),
    "zoom": dict(zoom=(0.8, 1.2)),
    "shear": dict(shear=0.2),
    "translation": dict(translation=0.1),
    "intensity_shift": dict(intensity_shift=0.3),
    "full_chain": dict(
        crop=(56, 56),
        horizontal_flip=True,
        vertical_flip=True,
        rotation=20,
        zoom=0.15,
        shear=0.1,
        translation=0.08,
        intensity_shift=0.2,
    ),
}


def _phantom():
    """A 64x64 image whose bright (1.0) region is exactly its mask: an off-centre ellipse
    joined to a rectangle, so no flip or rotation maps it onto itself."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    ellipse = ((yy - 26) / 13.0) ** 2 + ((xx - 24) / 9.0) ** 2 <= 1.0
    rectangle = (yy >= 30) & (yy < 44) & (xx >= 28) & (xx < 46)
    mask = (ellipse | rectangle).astype(np.float32)[..., None]
    return mask.copy(), mask


def _iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def _threshold(image):
    """Foreground of an augmented phantom: above the midpoint of its two intensity levels
    (an intensity shift moves both levels by the same amount)."""
    return image > (image.max() + image.min()) / 2.0


def _run(config, image, mask, seed):
    augmenter = Augmenter(config, seed=7)
    out_image, out_mask = augmenter(
        tf.constant(image), tf.constant(mask), seed=tf.constant([seed, 11], tf.int64)
    )
    return out_image.numpy(), out_mask.numpy()


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_mask_stays_aligned_with_image(name):
    config = AugmentConfig(fill_mode="constant", **TRANSFORMS[name])
    image, mask = _phantom()
    outputs = []
    for seed in SEEDS:
        out_image, out_mask = _run(config, image, mask, seed)
        assert set(np.unique(out_mask)) <= {0.0, 1.0}
        assert out_mask.shape == out_image.shape
        assert out_mask.sum() > 0.5 * mask.sum(), "the region left the frame; test is too weak"
        iou = _iou(_threshold(out_image), out_mask)
        assert iou >= 0.95, f"{name} seed={seed}: IoU(image, mask)={iou:.3f}"
        outputs.append(out_image)

    # The transform must really act: some seed changes the image, and seeds differ.
    # (With a crop: compared with the centre crop, what no augmentation would give.)
    reference = image
    if config.crop is not None:
        top, left = (SIZE - config.crop[0]) // 2, (SIZE - config.crop[1]) // 2
        reference = image[top : top + config.crop[0], left : left + config.crop[1]]
    assert any(not np.allclose(out, reference, atol=1e-4) for out in outputs), (
        f"{name} never changed the image"
    )
    assert len({out.tobytes() for out in outputs}) > 1, f"{name} gives one output for all seeds"


def test_geometric_transforms_move_the_mask():
    image, mask = _phantom()
    config = AugmentConfig(rotation=30, translation=0.1)
    moved = [_iou(_run(config, image, mask, seed)[1], mask) for seed in SEEDS]
    assert min(moved) < 0.9


def test_image_only_call_matches_image_of_paired_call():
    image, mask = _phantom()
    config = AugmentConfig(**TRANSFORMS["full_chain"])
    augmenter = Augmenter(config)
    seed = tf.constant([3, 4], tf.int64)
    alone = augmenter(tf.constant(image), seed=seed).numpy()
    paired, _ = augmenter(tf.constant(image), tf.constant(mask), seed=seed)
    np.testing.assert_array_equal(alone, paired.numpy())


def test_same_seed_same_result_different_seed_differs():
    image, mask = _phantom()
    config = AugmentConfig(**TRANSFORMS["full_chain"])
    a = _run(config, image, mask, 5)
    b = _run(config, image, mask, 5)
    c = _run(config, image, mask, 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_constant_fill_never_marks_the_mask():
    # A positive fill_value would be read as foreground if the mask were filled with it.
    image, mask = _phantom()
    config = AugmentConfig(translation=0.3, fill_mode="constant", fill_value=0.7)
    for seed in SEEDS:
        out_image, out_mask = _run(config, image, mask, seed)
        filled = np.isclose(out_image, 0.7)
        assert filled.any()
        assert out_mask[filled].max() == 0.0


def test_random_crop_is_random_when_one_side_is_full_size():
    # Keras' RandomCrop falls back to a fixed centre crop when one side already fits.
    image = np.tile(np.arange(SIZE, dtype=np.float32)[None, :, None], (SIZE, 1, 1))
    augmenter = Augmenter(AugmentConfig(crop=(SIZE, 16)))
    lefts = {
        float(augmenter(tf.constant(image), seed=tf.constant([s, 0]))[0, 0, 0]) for s in range(8)
    }
    assert len(lefts) > 1


def test_zoom_above_one_zooms_out():
    image, _ = _phantom()
    out = Augmenter(AugmentConfig(zoom=(1.5, 1.5)))(tf.constant(image), seed=tf.constant([0, 0]))
    # Sampling grid scaled by 1.5 shrinks the region's area by about 1.5^2.
    ratio = out.numpy().sum() / image.sum()
    assert 1 / 1.5**2 - 0.08 < ratio < 1 / 1.5**2 + 0.08


def test_disabled_config():
    assert not Augmenter(AugmentConfig()).enabled
    assert Augmenter(AugmentConfig(vertical_flip=True)).enabled
    with pytest.raises(TypeError, match="AugmentConfig"):
        Augmenter({"rotation": 10})


@pytest.mark.parametrize(
    "name", ["rotation", "zoom", "shear", "translation"]
)
def test_single_affine_transform_is_exactly_the_keras_layer(name):
    # The fused resampling must reproduce each Keras layer's own transform_images bit for bit.
    image, _ = _phantom()
    config = AugmentConfig(fill_mode="reflect", **TRANSFORMS[name])
    augmenter = Augmenter(config)
    (layer,) = augmenter.layers
    seed = tf.constant([2, 9], tf.int64)
    ours = augmenter(tf.constant(image), seed=seed).numpy()

    from keras_mia.data.augment import _ElementSeed

    transformation = layer.get_random_transformation(
        tf.constant(image), training=True, seed=_ElementSeed(seed)
    )
    theirs = layer.transform_images(tf.constant(image), transformation, training=True).numpy()
    assert not np.allclose(ours, image)
    np.testing.assert_array_equal(ours, theirs)


def test_fused_chain_matches_sequential_keras_layers_on_a_smooth_image():
    # On a smooth image, interpolation order hardly matters, so the one-pass product of the
    # matrices must agree with applying the layers one after the other.
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    image = np.exp(-(((yy - 30) / 14.0) ** 2 + ((xx - 36) / 10.0) ** 2))[..., None]
    config = AugmentConfig(rotation=20, zoom=0.1, shear=0.1, translation=0.05)
    augmenter = Augmenter(config)
    seed = tf.constant([4, 1], tf.int64)
    ours = augmenter(tf.constant(image), seed=seed).numpy()

    from keras_mia.data.augment import _ElementSeed

    element_seed = _ElementSeed(seed)
    sequential = tf.constant(image)
    for layer in augmenter.layers:
        transformation = layer.get_random_transformation(
            sequential, training=True, seed=element_seed
        )
        sequential = layer.transform_images(sequential, transformation, training=True)
    interior = (slice(12, 52), slice(12, 52))
    assert np.abs(ours - image).max() > 0.1
    np.testing.assert_allclose(ours[interior], sequential.numpy()[interior], atol=0.03)
