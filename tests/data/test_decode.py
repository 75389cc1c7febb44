"""Tests for keras_mia.data.decode: tf.data decoding in original units."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_mia.data.decode import (
    FORMATS,
    decode_image,
    decode_mask,
    format_code,
    image_format,
)
from keras_mia.io import read_image
from keras_mia.io.writers import write_dicom, write_png


def _write_png16(path, image):
    # Pillow stores a 2-D uint16 array as a 16-bit grey PNG.
    Image.fromarray(np.asarray(image, np.uint16)).save(path)


def _decode(path, fmt=None):
    return decode_image(tf.constant(str(path)), fmt or image_format(path)).numpy()


def _in_dataset(paths, fn=decode_image):
    """Decodes files inside a parallel tf.data map with a per-file format code."""
    ds = tf.data.Dataset.from_tensor_slices(
        ([str(p) for p in paths], [format_code(p) for p in paths])
    )
    ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)
    return [x.numpy() for x in ds]


def test_image_format_from_extension():
    assert image_format("a/b.PNG") == "png"
    assert image_format("x.jpeg") == image_format("x.JPG") == "jpeg"
    assert image_format("x.bmp") == "bmp"
    assert image_format("x.dcm") == image_format("x.pgm") == image_format("noext") == "other"
    assert FORMATS[format_code("x.png")] == "png"


def test_8_bit_png_keeps_its_values(tmp_path):
    image = np.arange(256, dtype=np.float32).reshape(16, 16)
    write_png(tmp_path / "a.png", image, bit_depth=8)
    out = _decode(tmp_path / "a.png")
    assert out.dtype == np.float32 and out.shape == (16, 16)
    np.testing.assert_array_equal(out, image)  # not scaled by 257


def test_16_bit_png_keeps_its_16_bits(tmp_path):
    image = np.array([[0, 1, 255, 256], [1000, 4095, 40000, 65535]], dtype=np.float32)
    _write_png16(tmp_path / "a.png", image)
    np.testing.assert_array_equal(_decode(tmp_path / "a.png"), image)


def test_colour_png_becomes_luma_and_alpha_is_dropped(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    rgba = np.concatenate([rgb, np.full((4, 5, 1), 7, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((4, 5, 2), 90, np.uint8)[..., 0]).convert("LA").save(
        tmp_path / "la.png"
    )
    luma = 0.299 * 200 + 0.587 * 100 + 0.114 * 50
    np.testing.assert_allclose(_decode(tmp_path / "rgb.png"), luma, rtol=1e-5)
    np.testing.assert_allclose(_decode(tmp_path / "rgba.png"), luma, rtol=1e-5)
    np.testing.assert_array_equal(_decode(tmp_path / "la.png"), 90.0)
    # The same numbers as keras_mia.io.read_image, the reference reader.
    np.testing.assert_allclose(
        _decode(tmp_path / "rgb.png"), read_image(tmp_path / "rgb.png"), atol=1e-3
    )


def test_bilevel_png_agrees_with_read_image(tmp_path):
    bits = np.zeros((8, 8), bool)
    bits[2:5, 3:7] = True
    Image.fromarray(bits).save(tmp_path / "bits.png")  # a 1-bit PNG
    out = _decode(tmp_path / "bits.png")
    np.testing.assert_array_equal(out, read_image(tmp_path / "bits.png"))
    assert out.max() > 0 and out.min() == 0


def test_jpeg_and_bmp(tmp_path):
    image = np.tile(np.linspace(0, 250, 16, dtype=np.uint8), (16, 1))
    Image.fromarray(image).save(tmp_path / "a.bmp")
    Image.fromarray(image).save(tmp_path / "a.jpg", quality=95)
    np.testing.assert_array_equal(_decode(tmp_path / "a.bmp"), image)
    jpeg = _decode(tmp_path / "a.jpg")
    assert np.abs(jpeg - image).max() <= 4
    np.testing.assert_allclose(jpeg, read_image(tmp_path / "a.jpg"), atol=2)


def test_dicom_goes_through_read_image(tmp_path):
    stored = np.array([[0, 100, 2000], [3000, 4000, 65535]], dtype=np.uint16)
    write_dicom(tmp_path / "a.dcm", stored, rescale_slope=2.0, rescale_intercept=-1024.0)
    write_dicom(tmp_path / "mono1", stored, photometric="MONOCHROME1")  # no extension
    out = _in_dataset([tmp_path / "a.dcm", tmp_path / "mono1"])
    np.testing.assert_allclose(out[0], stored * 2.0 - 1024.0)
    np.testing.assert_allclose(out[1], read_image(tmp_path / "mono1"))
    assert not np.allclose(out[1], stored)  # MONOCHROME1 was inverted, not read raw


def test_pgm_16_bit_goes_through_read_image(tmp_path):
    image = np.array([[0, 300], [40000, 65535]], dtype=np.uint16)
    header = b"P5 2 2 65535\n"
    (tmp_path / "a.pgm").write_bytes(header + image.astype(">u2").tobytes())
    np.testing.assert_array_equal(_decode(tmp_path / "a.pgm"), image)


def test_mixed_formats_in_one_parallel_map(tmp_path):
    image = np.arange(12, dtype=np.float32).reshape(3, 4) * 20
    write_png(tmp_path / "a.png", image)
    _write_png16(tmp_path / "b.png", image * 100)
    Image.fromarray(image.astype(np.uint8)).save(tmp_path / "c.bmp")
    write_dicom(tmp_path / "d.dcm", image.astype(np.uint16))
    out = _in_dataset([tmp_path / n for n in ("a.png", "b.png", "c.bmp", "d.dcm")])
    for got, factor in zip(out, (1, 100, 1, 1)):
        np.testing.assert_array_equal(got, image * factor)


def test_masks_any_nonzero_is_one(tmp_path):
    mask = np.zeros((6, 6, 3), np.float32)
    mask[1:3, 1:4, 0] = 255  # red only, as some CBIS-DDSM RGB masks
    mask[4, 4, 2] = 1  # faint blue
    write_png(tmp_path / "rgb_mask.png", mask)
    write_png(tmp_path / "grey_mask.png", mask[..., 0])
    write_dicom(tmp_path / "mask.dcm", mask[..., 0].astype(np.uint8))
    paths = [tmp_path / "rgb_mask.png", tmp_path / "grey_mask.png", tmp_path / "mask.dcm"]
    out = _in_dataset(paths, fn=decode_mask)
    expected = (mask.max(axis=-1) > 0).astype(np.float32)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], expected * (mask[..., 0] > 0))
    np.testing.assert_array_equal(out[2], mask[..., 0] > 0)
    assert set(np.unique(out[0])) == {0.0, 1.0}


def test_misnamed_file_is_decoded_by_its_content(tmp_path):
    image = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    Image.fromarray(image).save(tmp_path / "really_a_bmp.png", format="BMP")
    np.testing.assert_array_equal(_in_dataset([tmp_path / "really_a_bmp.png"])[0], image)


def test_wrong_content_names_the_file(tmp_path):
    (tmp_path / "fake.png").write_bytes(b"this is not a png at all, only text" * 3)
    with pytest.raises(tf.errors.OpError, match=r"fake.png"):
        _in_dataset([tmp_path / "fake.png"])
    (tmp_path / "broken.dcm").write_bytes(b"garbage")
    with pytest.raises(tf.errors.OpError, match="broken.dcm"):
        _in_dataset([tmp_path / "broken.dcm"])
    with pytest.raises(tf.errors.NotFoundError, match="missing.png"):
        _in_dataset([tmp_path / "missing.png"])


def test_unknown_static_format_is_rejected():
    with pytest.raises(ValueError, match="fmt must be one of"):
        decode_image(tf.constant("x.png"), "tiff")


SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.shared_data
def test_real_samples_decode_as_read_image_does():
    cbis = SHARED / "cbis_ddsm_samples"
    open_i = SHARED / "open_i_abd_vs_cxr"
    if not cbis.is_dir() or not open_i.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED}")
    images = [
        cbis / "full" / "Mass-Test_P_00016_LEFT_CC.png",  # 8-bit grey, 4006 x 1846
        cbis / "dicom" / "Mass-Test_P_00016_LEFT_CC_1_cropped.dcm",  # 16-bit DICOM
        sorted(open_i.glob("TEST/*.png"))[0],  # RGB PNG
    ]
    for path, got in zip(images, _in_dataset(images)):
        np.testing.assert_allclose(got, read_image(path), atol=1e-3, err_msg=str(path))
    mask_path = cbis / "roi" / "Mass-Test_P_00016_LEFT_CC_1_mask.png"  # RGB 0/255
    (mask,) = _in_dataset([mask_path], fn=decode_mask)
    expected = read_image(mask_path) > 0
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(mask, expected)
