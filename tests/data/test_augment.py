"""Tests for keras_mia.data.augment: Keras-layer augmentation that keeps masks aligned."""

import numpy as np
import pytest
import tensorflow as tf

from keras_mia.data.augment import Augmenter
from keras_mia.config.data import AugmentConfig

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
    "keras2_shear": dict(shear=0.2, shear_convention="keras2"),
    "independent_zoom": dict(zoom=0.2, zoom_independent=True),
    "reframe": dict(reframe=0.3),
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
    "name", ["rotation", "zoom", "independent_zoom", "shear", "keras2_shear", "translation"]
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


def _keras2_shear_reference(angle, height, width):
    """Keras 2.1's shear, written as its ImageDataGenerator.random_transform built it.

    The matrix acts on (row, column) coordinates about the image centre (Keras 2 used
    ``transform_matrix_offset_center``; we centre on the pixel grid, ``(n - 1) / 2``), and
    scipy.ndimage.affine_transform applied it as an output-to-input map.
    """
    shear = np.array([[1, -np.sin(angle), 0], [0, np.cos(angle), 0], [0, 0, 1]])
    o_row, o_col = (height - 1) / 2, (width - 1) / 2
    offset = np.array([[1, 0, o_row], [0, 1, o_col], [0, 0, 1]])
    reset = np.array([[1, 0, -o_row], [0, 1, -o_col], [0, 0, 1]])
    return offset @ shear @ reset


def _keras2_shear_layer_and_angle(seed):
    from keras_mia.data.augment import _ElementSeed

    augmenter = Augmenter(AugmentConfig(shear=0.2, shear_convention="keras2"))
    (layer,) = augmenter.layers
    transformation = layer.get_random_transformation(
        tf.zeros([48, 64, 1]), training=True, seed=_ElementSeed(tf.constant([seed, 3]))
    )
    return augmenter, layer, transformation


def test_keras2_shear_draws_radians_and_uses_the_keras2_matrix():
    from keras_mia.data.augment import _affine_matrix

    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])  # (row, col) <-> (x, y)
    angles = []
    for seed in range(40):
        _, layer, transformation = _keras2_shear_layer_and_angle(seed)
        angle = float(transformation["angle"][0])
        angles.append(angle)
        ours = _affine_matrix(layer, transformation, tf.zeros([48, 64, 1])).numpy()
        expected = swap @ _keras2_shear_reference(angle, 48, 64) @ swap
        np.testing.assert_allclose(ours, expected, atol=1e-5)
    # Uniform in [-0.2, 0.2] radians (11.5 degrees), both signs: not tan(0.2 degrees).
    assert min(angles) >= -0.2 and max(angles) <= 0.2
    assert min(angles) < -0.15 and max(angles) > 0.15


def test_keras2_shear_image_matches_scipy_with_the_keras2_matrix():
    from scipy import ndimage

    yy, xx = np.mgrid[:48, :64].astype(np.float32)
    # Practically zero near the border, where the libraries' constant fills differ.
    image = np.exp(-(((yy - 24) / 5.0) ** 2 + ((xx - 32) / 8.0) ** 2))
    # The first seed whose angle is large enough to matter.
    seed = next(s for s in range(40)
                if abs(float(_keras2_shear_layer_and_angle(s)[2]["angle"][0])) > 0.12)
    augmenter, _, transformation = _keras2_shear_layer_and_angle(seed)
    angle = float(transformation["angle"][0])
    ours = augmenter(tf.constant(image[..., None]), seed=tf.constant([seed, 3])).numpy()[..., 0]
    matrix = _keras2_shear_reference(angle, 48, 64)
    keras2 = ndimage.affine_transform(image, matrix[:2, :2], matrix[:2, 2], order=1,
                                      mode="constant", cval=0.0)
    assert np.abs(ours - image).max() > 0.1
    np.testing.assert_allclose(ours, keras2, atol=1e-4)


def test_keras2_shear_takes_one_angle():
    with pytest.raises(ValueError, match="one shear angle"):
        AugmentConfig(shear=(0.1, 0.1), shear_convention="keras2")
    with pytest.raises(ValueError, match="shear_convention"):
        AugmentConfig(shear=0.1, shear_convention="degrees")


def test_independent_zoom_changes_the_aspect_ratio():
    from keras_mia.data.augment import _ElementSeed

    def ratios(independent):
        augmenter = Augmenter(AugmentConfig(zoom=0.2, zoom_independent=independent))
        (layer,) = augmenter.layers
        out = []
        for seed in range(20):
            t = layer.get_random_transformation(
                tf.zeros([32, 32, 1]), training=True, seed=_ElementSeed(tf.constant([seed, 0]))
            )
            width, height = float(t["width_zoom"][0, 0]), float(t["height_zoom"][0, 0])
            assert 0.8 <= width <= 1.2 and 0.8 <= height <= 1.2
            out.append(width / height)
        return np.array(out)

    np.testing.assert_allclose(ratios(False), 1.0)
    independent = ratios(True)
    assert independent.min() < 0.9 and independent.max() > 1.1


def test_reframe_pads_or_crops_to_another_aspect_ratio():
    # A constant film: padding shows as bars of fill_value, cropping changes nothing.
    image = np.ones((30, 40, 1), np.float32)
    augmenter = Augmenter(AugmentConfig(reframe=0.5, fill_value=-1.0))
    padded = 0
    for seed in range(30):
        out = augmenter(tf.constant(image), seed=tf.constant([seed, 1])).numpy()[..., 0]
        changed = ~np.isclose(out, 1.0, atol=1e-5)
        if not changed.any():
            continue  # a crop (or a pad of less than a pixel)
        padded += 1
        # Bars are whole rows or whole columns (their inner edge blends film and fill).
        rows, cols = changed.any(axis=1), changed.any(axis=0)
        assert changed[rows].all() or changed[:, cols].all()
        # The film keeps at least 1 / 1.5 of the axis (+1 px for the blended edges).
        film = out > 0
        assert film.any(axis=1).sum() >= 30 / 1.5 - 1 and film.any(axis=0).sum() >= 40 / 1.5 - 1
        assert np.isclose(out[~changed], 1.0).all() and (out[changed] < 1.0).all()
        padded_fully = np.isclose(out, -1.0)
        assert padded_fully.sum() >= changed.sum() - 2 * max(out.shape)
    assert 5 < padded < 25


def test_reframe_crop_is_a_stretched_crop():
    # On a ramp along the rows, a crop to a wider ratio keeps a band of rows, stretched back.
    ramp = 10.0 + np.mgrid[:30, :40][0].astype(np.float32)[..., None]
    augmenter = Augmenter(AugmentConfig(reframe=0.5, fill_value=-1.0))
    spans = []
    for seed in range(30):
        out = augmenter(tf.constant(ramp), seed=tf.constant([seed, 1])).numpy()[..., 0]
        if (out < 10.0 - 1e-4).any():
            continue  # padded: bars of -1 blend into the ramp
        column = out[:, 20]
        np.testing.assert_allclose(out, np.repeat(column[:, None], 40, axis=1), atol=1e-4)
        assert np.all(np.diff(column) > 0)
        spans.append(column[-1] - column[0])
    # Cropping rows shrinks the ramp's span (down to 29 / 1.5); cropping columns keeps it.
    assert min(spans) < 27 and max(spans) > 28.5
    assert min(spans) > 29 / 1.5 - 1.5
