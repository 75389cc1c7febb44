"""Bad files in training data name themselves: check_files before training, the tf.data
pipeline while training, and validate's bounded, warning-aware pass."""

import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_mia.data.manifest import Manifest, write_manifest
from keras_mia.data.pipeline import PipelineConfig, build_dataset
from keras_mia.data.validate import (
    _file_hash,
    _PixelBudget,
    check_files,
    validate_manifest,
)
from keras_mia.io.writers import write_dicom, write_png


def _set(folder, n=6, size=(24, 20)):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        write_png(folder / f"img{i}.png", rng.integers(0, 256, size))
        rows.append({"image_path": f"img{i}.png", "label": "ab"[i % 2], "patient_id": f"p{i}",
                     "split": "train" if i < 4 else "val"})
    return write_manifest(folder / "manifest.csv", rows)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_inside(path):
    """Damages the compressed pixel data but keeps the file's length and its IEND chunk."""
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 8
    data[start:start + 40] = bytes(40)
    path.write_bytes(bytes(data))


def test_truncated_png_in_a_training_manifest_is_named_with_the_count(tmp_path):
    path = _set(tmp_path)
    _truncate(tmp_path / "img1.png")
    _truncate(tmp_path / "img3.png")
    manifest = Manifest.load(path)
    with pytest.raises(ValueError) as info:
        check_files(manifest, manifest.select("train"), decode=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("2 of 4 image/mask file(s) cannot be read: ")
    assert f"{path} line 3: image 'img1.png' cannot be decoded: truncated PNG" in message
    assert f"{path} line 5: image 'img3.png'" in message
    assert f"keras-mia validate {path}" in message
    # The validation split's files are fine.
    report = check_files(manifest, manifest.select("val"))
    assert report.ok and report.n_files == 2 and report.decoded


def test_damage_inside_compressed_data_needs_the_full_decode(tmp_path):
    path = _set(tmp_path)
    _corrupt_inside(tmp_path / "img2.png")
    assert check_files(path, decode=False).ok  # headers and lengths are intact
    for decode in (True, "auto"):
        with pytest.raises(ValueError, match=r"1 of 6 .* line 4: image 'img2.png' cannot be "
                                             r"decoded: truncated or corrupt PNG"):
            check_files(path, decode=decode)
    with pytest.raises(ValueError, match="decode must be"):
        check_files(path, decode="yes")


def test_check_files_is_quick_on_a_thousand_small_files(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(1000):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(
            tmp_path / f"{i}.png", compress_level=1)
        rows.append({"image_path": f"{i}.png", "label": "ab"[i % 2], "patient_id": f"p{i}",
                     "split": "train"})
    path = write_manifest(tmp_path / "manifest.csv", rows)
    started = time.monotonic()
    report = check_files(path)
    assert report.decoded and report.n_files == 1000
    # Measured about 0.3 s on one core; generous for a loaded test machine.
    assert time.monotonic() - started < 15


def test_check_files_lists_the_first_few_and_counts_the_rest(tmp_path):
    path = _set(tmp_path)
    for i in range(5):
        _truncate(tmp_path / f"img{i}.png")
    (tmp_path / "img5.png").unlink()
    with pytest.raises(ValueError) as info:
        check_files(path)
    message = str(info.value)
    assert message.startswith("6 of 6 ")
    assert message.count("cannot be decoded") == 3 and "; and 3 more." in message


def test_the_training_pipeline_names_a_truncated_png(tmp_path):
    path = _set(tmp_path)
    _truncate(tmp_path / "img2.png")
    config = PipelineConfig(image_size=(16, 16), batch_size=2, classes=["a", "b"])
    ds = build_dataset(path, config, split="train", training=True)
    with pytest.raises(tf.errors.OpError, match=r"img2\.png.*truncated"):
        for _ in ds:
            pass


def test_the_training_pipeline_names_a_file_over_the_pixel_cap(tmp_path):
    from keras_mia.io import set_max_pixels

    path = _set(tmp_path)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "img0.png")
    set_max_pixels(1000)
    config = PipelineConfig(image_size=(16, 16), batch_size=2, classes=["a", "b"])
    try:
        ds = build_dataset(path, config, split="train", training=False)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"img0\.png.*image too large.*\[40\] \[40\]"):
            for _ in ds:
                pass
        with pytest.raises(ValueError, match=r"img0.png' cannot be decoded: image too large"):
            check_files(path, decode=False)
    finally:
        set_max_pixels(None)


def test_validate_warns_about_one_class_splits_and_multi_frame_files(tmp_path):
    rows = []
    for i, label in enumerate("aab"):
        write_png(tmp_path / f"{i}.png", np.full((8, 8), i * 40))
        rows.append({"image_path": f"{i}.png", "label": label, "patient_id": f"p{i}",
                     "split": ("train", "val", "train")[i]})
    frames = np.stack([np.full((8, 8), 5, np.uint16), np.full((8, 8), 9, np.uint16)])
    write_dicom(tmp_path / "multi.dcm", frames[0], extra={"NumberOfFrames": 2})
    # write_dicom writes one frame; put both in.
    import pydicom

    ds = pydicom.dcmread(tmp_path / "multi.dcm")
    ds.PixelData = frames.tobytes()
    ds.save_as(tmp_path / "multi.dcm")
    rows.append({"image_path": "multi.dcm", "label": "b", "patient_id": "p9", "split": "test"})
    report = validate_manifest(write_manifest(tmp_path / "manifest.csv", rows))
    assert report.ok, report.problems
    assert any(w.startswith("split 'val' has only one class ('a'") for w in report.warnings)
    assert any(w.startswith("split 'test' has only one class ('b'") for w in report.warnings)
    assert not any("'train'" in w for w in report.warnings)
    assert any(w.startswith("1 multi-frame file(s): only frame 0") and "multi.dcm" in w
               for w in report.warnings)


def test_validate_hashes_in_chunks_and_bounds_concurrent_decodes(tmp_path):
    import hashlib

    big = tmp_path / "big.bin"
    big.write_bytes(np.random.default_rng(0).bytes(3_500_000))
    assert _file_hash(str(big)) == hashlib.blake2b(big.read_bytes(), digest_size=16).hexdigest()

    budget = _PixelBudget(total=100)
    active, peak, lock = [0], [0], threading.Lock()

    def decode(pixels):
        pixels_held = min(pixels, budget.total)
        with budget.hold(pixels):
            pixels = pixels_held
            with lock:
                active[0] += pixels
                peak[0] = max(peak[0], active[0])
            time.sleep(0.01)
            with lock:
                active[0] -= pixels

    threads = [threading.Thread(target=decode, args=(p,)) for p in (60, 60, 30, 500, 10, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # An image over the budget runs alone (clamped to it); the others never exceed it.
    assert peak[0] <= 100
