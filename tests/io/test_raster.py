"""PNG, JPEG, PGM and BMP reading through Pillow."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from keras_mia.io import ImageReadError, read_image, write_png
from keras_mia.io.raster import read_raster

LUMA = np.array([0.299, 0.587, 0.114])


def _gray(shape=(40, 48), top=255, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).integers(0, top + 1, size=shape).astype(dtype)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_png_8_bit_round_trip_with_write_png(tmp_path):
    image = _gray()
    path = write_png(tmp_path / "a.png", image)
    result = read_image(path)
    assert result.dtype == np.float32 and result.shape == image.shape
    np.testing.assert_array_equal(result, image)


def test_png_16_bit_round_trip_with_write_png_keeps_values_above_255(tmp_path):
    image = _gray(top=65535, dtype=np.uint16)
    path = write_png(tmp_path / "a16.png", image, bit_depth=16)
    result = read_image(path)
    assert result.max() > 255
    np.testing.assert_array_equal(result, image)


@pytest.mark.parametrize("byte_order", ["<u2", ">u2"])
def test_png_16_bit_written_by_pillow_keeps_16_bits(tmp_path, byte_order):
    image = _gray(top=65535, dtype=np.uint16)
    Image.fromarray(image).save(tmp_path / "p16.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p16.png"), image)
    # Big-endian samples written by hand, as other libraries store them.
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in image)
    header = struct.pack(">IIBBBBB", image.shape[1], image.shape[0], 16, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )
    (tmp_path / "hand.png").write_bytes(png)
    np.testing.assert_array_equal(read_image(tmp_path / "hand.png"), image)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _png_bytes(samples, colour_type, filters=(0,)):
    """A 16-bit PNG of ``samples`` (H, W, C), rows filtered with the given PNG filter types."""
    height, width = samples.shape[:2]
    bpp = samples.shape[2] * 2
    rows = [row.astype(">u2").tobytes() for row in samples]
    raw = bytearray()
    prior = bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = filters[y % len(filters)]
        out = bytearray()
        for x, value in enumerate(row):
            left = row[x - bpp] if x >= bpp else 0
            up_left = prior[x - bpp] if x >= bpp else 0
            predictor = {
                0: 0,
                1: left,
                2: prior[x],
                3: (left + prior[x]) // 2,
                4: _paeth(left, prior[x], up_left),
            }[kind]
            out.append((value - predictor) % 256)
        raw += bytes([kind]) + out
        prior = row
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw)))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("colour_type, channels", [(2, 3), (6, 4), (4, 2)])
@pytest.mark.parametrize("filters", [(0,), (1, 2, 3, 4)])
def test_16_bit_colour_png_keeps_16_bits(tmp_path, colour_type, channels, filters):
    samples = _gray(shape=(6, 7, channels), top=65535, dtype=np.uint16)
    path = tmp_path / "c16.png"
    path.write_bytes(_png_bytes(samples, colour_type, filters))
    # Alpha is ignored; gray+alpha keeps its gray channel.
    expected = samples[..., :3] @ LUMA if channels >= 3 else samples[..., 0].astype(np.float64)
    result = read_image(path)
    assert result.max() > 255
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_16_bit_gray_png_with_filters(tmp_path):
    samples = _gray(shape=(6, 7, 1), top=65535, dtype=np.uint16)
    path = tmp_path / "g16.png"
    path.write_bytes(_png_bytes(samples, 0, (1, 2, 3, 4)))
    np.testing.assert_array_equal(read_image(path), samples[..., 0])


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_png_becomes_luminance_and_alpha_is_ignored(tmp_path, mode):
    pixels = _gray(shape=(20, 30, len(mode)))
    Image.fromarray(pixels).save(tmp_path / "c.png")
    assert Image.open(tmp_path / "c.png").mode == mode
    expected = pixels[..., :3] @ LUMA
    np.testing.assert_allclose(read_image(tmp_path / "c.png"), expected, rtol=1e-6)


def test_gray_alpha_png_keeps_the_gray_channel(tmp_path):
    pixels = _gray(shape=(20, 30, 2))
    Image.fromarray(pixels).save(tmp_path / "la.png")
    assert Image.open(tmp_path / "la.png").mode == "LA"
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), pixels[..., 0])


def test_palette_png_goes_through_its_palette(tmp_path):
    indices = _gray(top=3)
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 30]
    img = Image.frombytes("P", indices.shape[::-1], indices.tobytes())
    img.putpalette(palette)
    img.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    colours = np.array(palette, dtype=np.float64).reshape(4, 3)
    np.testing.assert_allclose(read_image(tmp_path / "p.png"), (colours @ LUMA)[indices], rtol=1e-6)


def test_bilevel_png_reads_as_zero_and_one(tmp_path):
    mask = _gray(top=1).astype(bool)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    np.testing.assert_array_equal(read_image(tmp_path / "mask.png"), mask.astype(np.float32))


def test_jpeg_gray_and_colour(tmp_path):
    gray = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))
    Image.fromarray(gray).save(tmp_path / "g.jpg", quality=95)
    decoded = np.asarray(Image.open(tmp_path / "g.jpg"))
    np.testing.assert_array_equal(read_image(tmp_path / "g.jpg"), decoded)
    assert np.abs(read_image(tmp_path / "g.jpg") - gray).max() <= 8

    rgb = np.stack([gray, gray[::-1], 255 - gray], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "c.jpeg", quality=95)
    decoded = np.asarray(Image.open(tmp_path / "c.jpeg")).astype(np.float64)
    np.testing.assert_allclose(read_image(tmp_path / "c.jpeg"), decoded @ LUMA, rtol=1e-6)


@pytest.mark.parametrize("top, dtype", [(255, np.uint8), (65535, np.uint16)])
def test_pgm_binary_8_and_16_bit(tmp_path, top, dtype):
    image = _gray(top=top, dtype=dtype)
    Image.fromarray(image).save(tmp_path / "mdb001.pgm")
    assert (tmp_path / "mdb001.pgm").read_bytes()[:2] == b"P5"
    result = read_image(tmp_path / "mdb001.pgm")
    np.testing.assert_array_equal(result, image)


def test_pgm_like_mini_mias_with_comment_and_plain_ascii(tmp_path):
    image = _gray(shape=(6, 8))
    binary = b"P5\n# mini-MIAS style header\n8 6\n255\n" + image.tobytes()
    (tmp_path / "mdb002.pgm").write_bytes(binary)
    np.testing.assert_array_equal(read_image(tmp_path / "mdb002.pgm"), image)
    rows = "\n".join(" ".join(str(v) for v in row) for row in image)
    (tmp_path / "plain.pgm").write_text(f"P2\n8 6\n255\n{rows}\n")
    np.testing.assert_array_equal(read_image(tmp_path / "plain.pgm"), image)


@pytest.mark.parametrize("mode", ["L", "RGB", "1"])
def test_bmp(tmp_path, mode):
    if mode == "RGB":
        pixels = _gray(shape=(20, 30, 3))
        expected = pixels @ LUMA
    elif mode == "1":
        pixels = _gray(shape=(20, 30), top=1).astype(bool)
        expected = pixels.astype(np.float64)
    else:
        pixels = _gray(shape=(20, 30))
        expected = pixels.astype(np.float64)
    Image.fromarray(pixels).save(tmp_path / "b.bmp")
    np.testing.assert_allclose(read_image(tmp_path / "b.bmp"), expected, rtol=1e-6)


def test_window_on_an_8_bit_png(tmp_path):
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = write_png(tmp_path / "w.png", image)
    expected = np.clip((image - 50.0) / 100.0, 0, 1) * 255
    np.testing.assert_allclose(read_image(path, window=(100, 100)), expected, rtol=1e-6)
    # PNG has no window of its own.
    np.testing.assert_array_equal(read_image(path, window="auto"), image)


def test_animated_png_frames(tmp_path):
    frames = [Image.fromarray(_gray(seed=k)) for k in range(3)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(read_image(tmp_path / "anim.png", frame=2), np.asarray(frames[2]))
    with pytest.warns(UserWarning, match="3 frames read as one image; frame 0 was used"):
        image = read_image(tmp_path / "anim.png")
    np.testing.assert_array_equal(image, np.asarray(frames[0]))
    with pytest.raises(ImageReadError, match="frame 3 is out of range"):
        read_image(tmp_path / "anim.png", frame=3)


@pytest.mark.parametrize(
    "name, save",
    [
        ("t.png", lambda img, p: img.save(p)),
        ("t.jpg", lambda img, p: img.save(p, quality=90)),
        ("t.bmp", lambda img, p: img.save(p)),
        ("t.pgm", lambda img, p: img.save(p)),
    ],
)
@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_files_raise_image_read_error(tmp_path, name, save, keep):
    noise = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    img = Image.fromarray(noise if name != "t.pgm" else noise[..., 0])
    path = tmp_path / name
    save(img, path)
    data = path.read_bytes()
    path.write_bytes(data[: max(int(len(data) * keep), 20)])
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(path)
    assert info.value.path == str(path)
    assert name in str(info.value)


def test_read_raster_rejects_an_unknown_format_name(tmp_path):
    path = write_png(tmp_path / "a.png", _gray())
    with pytest.raises(ValueError, match="fmt"):
        read_raster(path, "tiff")
