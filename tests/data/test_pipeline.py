"""Tests for keras_mia.data.pipeline and keras_mia.config.data."""

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_mia.data.manifest import Manifest, write_manifest
from keras_mia.data.pipeline import PipelineConfig, build_dataset, preprocess_image
from keras_mia.config.data import AugmentConfig
from keras_mia.io.writers import write_png

REPO = Path(__file__).resolve().parents[2]


def _write_set(folder, labels, size=(12, 10), split="train", masks=False, seed=0):
    """Writes one random 8-bit PNG per label (and optionally a mask) and a manifest."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, label in enumerate(labels):
        image = rng.integers(0, 256, size).astype(np.float32)
        write_png(folder / f"img{i:03d}.png", image)
        row = {
            "image_path": f"img{i:03d}.png", "label": label, "patient_id": f"p{i}", "split": split
        }
        if masks:
            mask = np.zeros(size, np.float32)
            mask[2 : 2 + i % 4 + 2, 1 : 1 + i % 3 + 3] = 255
            write_png(folder / f"mask{i:03d}.png", mask)
            row["mask_path"] = f"mask{i:03d}.png"
        rows.append(row)
    return write_manifest(folder / "manifest.csv", rows)


def _first_batch(ds):
    images, targets = next(iter(ds))
    return images.numpy(), targets.numpy()


def _all(ds):
    images, targets = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(targets)


# ---------------------------------------------------------------------------- config


def test_config_round_trips_through_dict():
    config = PipelineConfig(
        image_size=(48, 40),
        resize="pad",
        channels=3,
        minmax=(0, 255),
        mean=127.0,
        std=255.0,
        label_mode="categorical",
        classes=["b", "a"],
        cache="/tmp/somewhere",
        augment=AugmentConfig(crop=(32, 32), rotation=20, zoom=(0.8, 1.2), translation=(0.1, 0.2)),
    )
    plain = config.to_dict()
    assert plain["image_size"] == [48, 40] and plain["augment"]["zoom"] == [0.8, 1.2]
    assert PipelineConfig.from_dict(plain) == config


def test_config_from_yaml_like_dict_converts_lists():
    config = PipelineConfig.from_dict(
        {"image_size": [64, 32], "rescale": 1, "augment": {"crop": [32, 16], "shear": 0.2}}
    )
    assert config.image_size == (64, 32) and config.augment.crop == (32, 16)
    assert isinstance(config.rescale, float)
    assert config.output_size == (32, 16)


def test_config_unknown_key_is_named():
    with pytest.raises(ValueError, match=r"data.image_sise: unknown key; expected .*image_size"):
        PipelineConfig.from_dict({"image_sise": [32, 32]})
    with pytest.raises(ValueError, match=r"data.augment.rotate: unknown key"):
        PipelineConfig.from_dict({"augment": {"rotate": 10}})


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("batch_size", "8", "expected an integer"),
        ("shuffle", 1, "expected true or false"),
        ("image_size", [32], "expected 2 values"),
        ("resize", "crop", "expected one of 'stretch', 'pad'"),
        ("cache", 3, "expected bool or str"),
        ("augment", 5, r"expected a mapping \(AugmentConfig\)"),
    ],
)
def test_config_wrong_type_names_the_expected_type(key, value, expected):
    with pytest.raises(ValueError, match=rf"data.{key}: {expected}.*Received: "):
        PipelineConfig.from_dict({key: value})


def test_config_value_checks():
    with pytest.raises(ValueError, match="must fit in image_size"):
        PipelineConfig(image_size=(32, 32), augment=AugmentConfig(crop=(40, 16)))
    with pytest.raises(ValueError, match="channels"):
        PipelineConfig(channels=2)
    with pytest.raises(ValueError, match="zoom"):
        AugmentConfig(zoom=(1.2, 0.8))
    with pytest.raises(ValueError, match="std"):
        PipelineConfig(std=0)


# ---------------------------------------------------------------------------- preprocessing


def test_pad_resize_keeps_aspect_and_pads_symmetrically():
    # 20 x 40 (wide) into 32 x 32: scale 0.8 -> 16 x 32, 8 rows of padding above and below.
    image = tf.fill([20, 40], 100.0)
    out = preprocess_image(image, PipelineConfig(image_size=(32, 32), resize="pad")).numpy()[..., 0]
    rows = np.nonzero(out.max(axis=1))[0]
    assert (rows.min(), rows.max()) == (8, 23)
    np.testing.assert_allclose(out[8:24], 100.0, rtol=1e-5)
    assert out[:8].max() == 0 and out[24:].max() == 0

    # 30 x 10 (tall) into 32 x 16: scale min(32/30, 16/10) -> 32 x 11, 5 columns left, 0 right
    # of centre... 16 - 11 = 5: 2 on the left, 3 on the right.
    out = preprocess_image(
        tf.fill([30, 10], 7.0), PipelineConfig(image_size=(32, 16), resize="pad")
    ).numpy()[..., 0]
    cols = np.nonzero(out.max(axis=0))[0]
    assert (cols.min(), cols.max()) == (2, 12)
    assert out.shape == (32, 16)


@pytest.mark.parametrize("mode", ["stretch", "pad"])
def test_nearest_resize_keeps_the_original_grey_levels(mode):
    # Keras 2's flow_from_directory stretched films with nearest neighbour: no new values.
    image = np.random.default_rng(0).integers(1, 256, (13, 7)).astype(np.float32)
    levels = set(image.ravel().tolist()) | {0.0}  # 0: pad's bars
    nearest = PipelineConfig(image_size=(32, 20), resize=mode, resize_interpolation="nearest")
    out = preprocess_image(tf.constant(image), nearest).numpy()
    assert set(out.ravel().tolist()) <= levels
    bilinear = dataclasses.replace(nearest, resize_interpolation="bilinear")
    assert not set(preprocess_image(tf.constant(image), bilinear).numpy().ravel()) <= levels
    with pytest.raises(ValueError, match="resize_interpolation"):
        PipelineConfig(resize_interpolation="bicubic")


def test_stretch_resize_fills_the_frame():
    out = preprocess_image(tf.fill([20, 40], 3.0), PipelineConfig(image_size=(32, 32)))
    assert out.shape == (32, 32, 1)
    np.testing.assert_allclose(out.numpy(), 3.0, rtol=1e-5)


def test_normalisation_maths():
    image = np.linspace(10, 50, 64, dtype=np.float32).reshape(8, 8)
    same = dict(image_size=(8, 8), antialias=False)

    out = preprocess_image(image, PipelineConfig(minmax=(0, 255), **same)).numpy()[..., 0]
    np.testing.assert_allclose(out, (image - 10) / 40 * 255, rtol=1e-5, atol=1e-4)

    out = preprocess_image(image, PipelineConfig(rescale=1 / 255, **same)).numpy()[..., 0]
    np.testing.assert_allclose(out, image / 255, rtol=1e-6)

    out = preprocess_image(image, PipelineConfig(mean=127, std=255, **same)).numpy()[..., 0]
    np.testing.assert_allclose(out, (image - 127) / 255, rtol=1e-5)

    config = PipelineConfig(minmax=(0, 255), rescale=0.5, mean=3, std=2, **same)
    out = preprocess_image(image, config).numpy()[..., 0]
    np.testing.assert_allclose(out, ((image - 10) / 40 * 255 * 0.5 - 3) / 2, rtol=1e-5, atol=1e-4)

    flat = preprocess_image(np.full((8, 8), 9.0), PipelineConfig(minmax=(-1, 1), **same))
    np.testing.assert_array_equal(flat.numpy(), -1.0)


def test_one_channel_replicated_to_three():
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    out = preprocess_image(image, PipelineConfig(image_size=(8, 8), channels=3)).numpy()
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


# ---------------------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    "label_mode, shape, dtype",
    [("int", (4,), tf.int32), ("binary", (4, 1), tf.float32), ("categorical", (4, 2), tf.float32)],
)
def test_classification_batches(tmp_path, label_mode, shape, dtype):
    path = _write_set(tmp_path, ["cat", "dog", "dog", "cat", "dog"])
    config = PipelineConfig(image_size=(16, 16), batch_size=4, channels=3, label_mode=label_mode)
    ds = build_dataset(path, config, split="train")
    assert ds.class_names == ["cat", "dog"]
    images, labels = next(iter(ds))
    assert images.shape == (4, 16, 16, 3) and images.dtype == tf.float32
    assert labels.shape == shape and labels.dtype == dtype
    expected = np.array([0, 1, 1, 0])
    if label_mode == "categorical":
        np.testing.assert_array_equal(labels.numpy().argmax(-1), expected)
    else:
        np.testing.assert_array_equal(labels.numpy().reshape(-1), expected)
    assert sum(int(x.shape[0]) for x, _ in ds) == 5


def test_explicit_classes_and_split_selection(tmp_path):
    path = _write_set(tmp_path, ["a", "b", "c"])
    manifest = Manifest.load(path)
    config = PipelineConfig(image_size=(8, 8), classes=["c", "b", "a"], batch_size=8)
    _, labels = _first_batch(build_dataset(manifest, config))
    np.testing.assert_array_equal(labels, [2, 1, 0])
    with pytest.raises(ValueError, match="no rows for split='val'"):
        build_dataset(manifest, config, split="val")


def test_bad_rows_are_reported(tmp_path):
    path = _write_set(tmp_path, ["a", "b", "b"])
    with pytest.raises(ValueError, match=r"line 4: label 'b' is not one of the classes \['a'\]"):
        build_dataset(path, PipelineConfig(classes=["a"]))
    with pytest.raises(ValueError, match="exactly two classes"):
        build_dataset(path, PipelineConfig(label_mode="binary", classes=["a", "b", "c"]))
    (tmp_path / "img001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"line 3: image file not found: .*img001.png"):
        build_dataset(path, PipelineConfig())


def test_same_seed_same_stream_different_seed_differs(tmp_path):
    path = _write_set(tmp_path, ["a", "b"] * 6, size=(20, 20))
    augment = AugmentConfig(crop=(12, 12), horizontal_flip=True, rotation=15, intensity_shift=3)

    def first(seed):
        config = PipelineConfig(image_size=(16, 16), batch_size=6, seed=seed, augment=augment)
        return _first_batch(build_dataset(path, config, split="train", training=True))

    a, b, c = first(1), first(1), first(2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_each_epoch_is_reshuffled_and_reaugmented(tmp_path):
    path = _write_set(tmp_path, ["a", "b"] * 4)
    config = PipelineConfig(
        image_size=(8, 8), batch_size=8, seed=3, augment=AugmentConfig(intensity_shift=5)
    )
    ds = build_dataset(path, config, split="train", training=True)
    first, second = _first_batch(ds), _first_batch(ds)
    assert not np.array_equal(first[0], second[0])
    # The same images, only in another order and with other shifts.
    assert sorted(first[1].tolist()) == sorted(second[1].tolist())


def test_validation_pipeline_never_augments_or_shuffles(tmp_path):
    path = _write_set(tmp_path, ["a", "b", "a", "b", "a", "b"], split="val")
    config = PipelineConfig(
        image_size=(12, 12),
        batch_size=6,
        rescale=1 / 255,
        balance=True,
        augment=AugmentConfig(
            horizontal_flip=True, vertical_flip=True, rotation=30, zoom=0.2, intensity_shift=0.5
        ),
    )
    ds = build_dataset(path, config, split="val", training=False)
    images, labels = _first_batch(ds)
    again, _ = _first_batch(ds)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0, 1])

    from keras_mia.io import read_image

    manifest = Manifest.load(path)
    for i, row in enumerate(manifest.rows):
        expected = preprocess_image(read_image(manifest.resolve(row["image_path"])), config)
        np.testing.assert_allclose(images[i], expected.numpy(), rtol=1e-6)

    # The training pipeline of the same config does change them (the check above can fail).
    augmented, _ = _first_batch(build_dataset(path, config, split="val", training=True))
    assert not np.allclose(np.sort(augmented, axis=None), np.sort(images, axis=None))


def test_eval_crop_sizes(tmp_path):
    path = _write_set(tmp_path, ["a", "b"])
    augment = AugmentConfig(crop=(10, 6))
    config = PipelineConfig(image_size=(16, 12), augment=augment)
    images, _ = _first_batch(build_dataset(path, config, training=True))
    assert images.shape[1:] == (10, 6, 1)
    images, _ = _first_batch(build_dataset(path, config, training=False))
    assert images.shape[1:] == (10, 6, 1)
    config = PipelineConfig(image_size=(16, 12), augment=augment, center_crop_eval=False)
    images, _ = _first_batch(build_dataset(path, config, training=False))
    assert images.shape[1:] == (16, 12, 1)


def test_class_balanced_sampling(tmp_path):
    labels = ["common"] * 36 + ["rare"] * 4
    path = _write_set(tmp_path, labels, size=(4, 4))
    base = dict(image_size=(4, 4), batch_size=40, seed=5)

    plain = build_dataset(path, PipelineConfig(**base), training=True)
    _, y = _all(plain)
    assert len(y) == 40 and y.mean() == pytest.approx(0.1)

    balanced = build_dataset(path, PipelineConfig(balance=True, **base), training=True)
    assert int(balanced.cardinality()) == 1  # one epoch: as many images as the split
    draws = np.concatenate([_all(balanced)[1] for _ in range(5)])
    assert len(draws) == 200
    assert 0.4 < draws.mean() < 0.6


def test_memory_cache_gives_the_same_data(tmp_path):
    path = _write_set(tmp_path, ["a", "b", "a"])
    plain = _all(build_dataset(path, PipelineConfig(image_size=(8, 8))))
    cached = build_dataset(path, PipelineConfig(image_size=(8, 8), cache=True))
    for _ in range(2):
        np.testing.assert_array_equal(_all(cached)[0], plain[0])


def test_file_cache_is_read_back_and_keyed_by_preprocessing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = _write_set(data, ["a", "b", "a", "b"])
    cache = tmp_path / "cache"
    config = PipelineConfig(image_size=(8, 8), cache=str(cache), shuffle=False)
    first = _all(build_dataset(path, config, split="train", training=True))
    assert any(name.startswith("train-") for name in os.listdir(cache))

    # Blank the source files: a pipeline that really reads its cache still yields the
    # original pixels.
    for png in data.glob("img*.png"):
        write_png(png, np.zeros((3, 3)))
    second = _all(build_dataset(path, config, split="train", training=True))
    np.testing.assert_array_equal(second[0], first[0])
    assert first[0].max() > 0

    # Other preprocessing -> other cache key -> decoded again from the (now blank) files.
    changed = PipelineConfig(image_size=(8, 8), cache=str(cache), shuffle=False, rescale=2.0)
    third = _all(build_dataset(path, changed, split="train", training=True))
    np.testing.assert_array_equal(third[0], 0.0)


@pytest.mark.parametrize("where", ["memory", "files"])
def test_balanced_sampling_with_cache_is_filled_once(tmp_path, where):
    data = tmp_path / "data"
    data.mkdir()
    path = _write_set(data, ["common"] * 9 + ["rare"], size=(6, 6))
    cache = True if where == "memory" else str(tmp_path / "cache")
    config = PipelineConfig(image_size=(6, 6), batch_size=10, balance=True, cache=cache, seed=2)
    ds = build_dataset(path, config, training=True)
    # The caches were filled at build time: blanking the files changes nothing.
    for png in data.glob("img*.png"):
        write_png(png, np.zeros((6, 6)))
    images, labels = _all(ds)
    assert images.max() > 0 and len(labels) == 10
    draws = np.concatenate([_all(ds)[1] for _ in range(6)])
    assert 0.35 < draws.mean() < 0.65


# ---------------------------------------------------------------------------- segmentation


def _phantom_set(folder, n=4, size=48):
    """Images whose bright region (255) is exactly their mask (RGB 0/255 masks, as CBIS)."""
    rows = []
    for i in range(n):
        yy, xx = np.mgrid[:size, :size]
        region = ((yy - 18 - i) / 10.0) ** 2 + ((xx - 20 - 2 * i) / 7.0) ** 2 <= 1.0
        region |= (yy >= 22) & (yy < 32) & (xx >= 22) & (xx < 36)
        write_png(folder / f"img{i}.png", region * 255.0)
        rgb = np.zeros((size, size, 3))
        rgb[..., 0] = region * 255.0
        write_png(folder / f"mask{i}.png", rgb)
        rows.append(
            {"image_path": f"img{i}.png", "mask_path": f"mask{i}.png", "label": "m",
             "patient_id": str(i), "split": "train"}
        )
    return write_manifest(folder / "manifest.csv", rows)


def test_segmentation_masks_stay_aligned_through_the_pipeline(tmp_path):
    path = _phantom_set(tmp_path)
    config = PipelineConfig(
        image_size=(48, 48),
        task="segmentation",
        rescale=1 / 255,
        batch_size=4,
        seed=9,
        augment=AugmentConfig(
            crop=(40, 40), horizontal_flip=True, vertical_flip=True, rotation=20, zoom=0.1,
            shear=0.1, translation=0.05, intensity_shift=0.2,
        ),
    )
    ds = build_dataset(path, config, split="train", training=True)
    for _ in range(2):
        images, masks = _first_batch(ds)
        assert images.shape == (4, 40, 40, 1) and masks.shape == (4, 40, 40, 1)
        assert set(np.unique(masks)) == {0.0, 1.0}
        for image, mask in zip(images, masks):
            fg = image > (image.max() + image.min()) / 2
            iou = np.logical_and(fg, mask > 0).sum() / np.logical_or(fg, mask > 0).sum()
            assert iou >= 0.95

    # Without augmentation: same size -> identical; downsampled (image antialiased bilinear,
    # mask nearest) -> within half a source pixel.
    plain = PipelineConfig(image_size=(48, 48), task="segmentation", rescale=1 / 255)
    images, masks = _first_batch(build_dataset(path, plain))
    np.testing.assert_array_equal(images > 0.5, masks > 0.5)
    plain = PipelineConfig(image_size=(24, 24), task="segmentation", rescale=1 / 255)
    images, masks = _first_batch(build_dataset(path, plain))
    for image, mask in zip(images > 0.5, masks > 0.5):
        assert np.logical_and(image, mask).sum() / np.logical_or(image, mask).sum() >= 0.9


def test_segmentation_mask_problems(tmp_path):
    path = _phantom_set(tmp_path, n=2)
    manifest = Manifest.load(path)
    manifest.rows[1]["mask_path"] = ""
    config = PipelineConfig(image_size=(16, 16), task="segmentation")
    with pytest.raises(ValueError, match="line 3: no mask_path"):
        build_dataset(manifest, config)
    config = PipelineConfig(image_size=(16, 16), task="segmentation", allow_empty_masks=True)
    _, masks = _first_batch(build_dataset(manifest, config))
    assert masks[0].sum() > 0 and masks[1].sum() == 0

    write_png(tmp_path / "mask0.png", np.zeros((40, 48)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Mask size differs.*mask0.png"):
        _first_batch(build_dataset(path, PipelineConfig(image_size=(16, 16), task="segmentation")))


def test_pipeline_runs_under_the_jax_backend(tmp_path):
    # Training runs on JAX for benchmarks; the augmentation must still build tf.data graphs.
    path = _write_set(tmp_path, ["a", "b", "a", "b"])
    code = textwrap.dedent(
        f"""
        import keras
        assert keras.backend.backend() == "jax"
        from keras_mia.data.pipeline import build_dataset, PipelineConfig
        config = PipelineConfig.from_dict(
            {{"image_size": [12, 12], "batch_size": 4,
              "augment": {{"crop": [8, 8], "horizontal_flip": True, "rotation": 10}}}})
        x, y = next(iter(build_dataset({str(path)!r}, config, training=True)))
        print("OK", tuple(x.shape))
        """
    )
    env = dict(os.environ, KERAS_BACKEND="jax", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK (4, 8, 8, 1)" in result.stdout


# ---------------------------------------------------------------- own-size images, mixing


def _own_size_set(folder, sizes, value, split="train", prefix="img"):
    """16-bit images of differing sizes whose mask is all ``value`` (0 or 255), and a
    manifest; pixel (r, c) holds ``1000 * r + c`` so a crop tells where it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (height, width) in enumerate(sizes):
        rows_, cols = np.mgrid[:height, :width]
        write_png(folder / f"{prefix}{i}.png", 1000 * rows_ + cols, bit_depth=16)
        write_png(folder / f"{prefix}{i}_mask.png", np.full((height, width), value, np.uint8))
        rows.append({"image_path": f"{prefix}{i}.png", "mask_path": f"{prefix}{i}_mask.png",
                     "label": "x", "patient_id": f"{prefix}{i}", "split": split})
    return write_manifest(folder / "manifest.csv", rows)


def _own_size_config(**changes):
    plain = {"image_size": None, "task": "segmentation", "rescale": 2.0, "mean": 1.0,
             "batch_size": 3, "center_crop_eval": False, "augment": {"crop": [8, 8]}}
    plain.update(changes)
    return PipelineConfig.from_dict(plain)


def test_own_size_images_are_cropped_first_and_evaluated_whole(tmp_path):
    sizes = [(30, 20), (25, 40), (6, 9)]  # the last one is smaller than the crop
    path = _own_size_set(tmp_path, sizes, 255)
    train = build_dataset(path, _own_size_config(), split="train", training=True)
    images, masks = _first_batch(train)
    assert images.shape == (3, 8, 8, 1) and masks.shape == (3, 8, 8, 1)
    for image, mask in zip(images[..., 0], masks[..., 0]):
        raw = (image + 1.0) / 2.0  # the affine step followed the crop
        real = mask > 0
        # A true crop of the 1000*r + c ramp (the padding of the small image is 0, unmasked).
        top, left = divmod(int(raw[0, 0]), 1000)
        rows_, cols = np.mgrid[:8, :8]
        expected = 1000 * (top + rows_) + left + cols
        np.testing.assert_array_equal(raw[real], expected[real])
        assert (raw[~real] == 0).all()
    # Whole images of differing sizes, one per batch, in manifest order.
    shapes = [x.shape for x, _ in build_dataset(path, _own_size_config(), split="train")]
    assert shapes == [(1, h, w, 1) for h, w in sizes]
    with pytest.raises(ValueError, match="augment.crop"):
        build_dataset(path, _own_size_config(augment={}), split="train", training=True)
    # The serving preprocessing keeps the size too.
    served = preprocess_image(tf.zeros([30, 20]), _own_size_config())
    assert tuple(served.shape) == (30, 20, 1) and float(served[0, 0, 0]) == -1.0


def test_mixed_manifest_ratio_is_honoured(tmp_path):
    main = _own_size_set(tmp_path / "whole", [(12, 12)] * 6, 0)
    _own_size_set(tmp_path / "whole" / "roi", [(10, 10)] * 2, 255, prefix="roi")

    def share(ratio, seed=0):
        config = _own_size_config(
            batch_size=8, seed=seed, mix={"manifest": "roi/manifest.csv", "ratio": ratio})
        ds = build_dataset(main, config, split="train", training=True)
        taken = np.concatenate([m.numpy().reshape(len(m), -1).max(axis=1)
                                for _, m in ds.repeat(50)])
        return len(taken), float(taken.mean())

    count, fraction = share(0.5)
    assert count == 50 * 8  # one epoch is both training splits together
    assert abs(fraction - 0.5) < 0.07
    assert abs(share(0.2)[1] - 0.2) < 0.06
    assert abs(share(None)[1] - 2 / 8) < 0.06  # in proportion to the sets' sizes
    assert share(0.5, seed=3) == share(0.5, seed=3)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        build_dataset(main, _own_size_config(mix={"manifest": "nope.csv", "ratio": 0.5}),
                      split="train", training=True)
    with pytest.raises(ValueError, match="mix.ratio"):
        _own_size_config(mix={"manifest": "roi/manifest.csv", "ratio": 1.5})
