"""Tests for keras_mia.preprocessing.mammogram: Shen's resize and breast segmentation."""

from pathlib import Path

import numpy as np
import pytest

from keras_mia.preprocessing import (
    parse_image_size,
    placement,
    prepare_mammogram,
    resize_mask_with_padding,
    resize_with_padding,
    segment_breast,
)
from keras_mia.preprocessing.mammogram import check_segmentation

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cbis_ddsm_samples"


def test_parse_image_size_forms():
    assert parse_image_size("1152x896") == (1152, 896)
    assert parse_image_size("64,48") == (64, 48)
    assert parse_image_size(64) == (64, 64)
    assert parse_image_size((3, 4)) == (3, 4)
    for bad in ("abc", (0, 5), (1, 2, 3), 2.5, True):
        with pytest.raises(ValueError, match="Received"):
            parse_image_size(bad)


def test_resize_pads_width_symmetrically():
    image = np.full((200, 100), 7.0, dtype=np.float32)
    out = resize_with_padding(image, (64, 48), pad_value=-1.0)
    # 100 * 64/200 = 32 columns of content, 16 of padding: 8 left, 8 right.
    assert out.shape == (64, 48) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :8], -1.0)
    np.testing.assert_array_equal(out[:, 40:], -1.0)
    np.testing.assert_allclose(out[:, 8:40], 7.0, atol=1e-4)


def test_resize_odd_padding_puts_the_extra_column_right():
    out = resize_with_padding(np.ones((100, 50)), (10, 8))  # 5 columns of content
    content = np.nonzero(out[5] > 0.5)[0]
    assert (content.min(), content.max()) == (1, 5)


def test_resize_keeps_the_aspect_ratio():
    yy, xx = np.mgrid[0:300, 0:150]
    disk = ((yy - 150) ** 2 + (xx - 75) ** 2 <= 60**2).astype(np.float32)
    out = resize_with_padding(disk, (100, 80)) > 0.5
    rows, cols = np.nonzero(out)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert abs(height - width) <= 1 and abs(height - 40) <= 1


def test_resize_crops_a_too_wide_image_centrally():
    ramp = np.tile(np.arange(200, dtype=np.float32), (100, 1))  # value = column
    out = resize_with_padding(ramp, (64, 48))  # 128 columns after scaling, keep 40..87
    assert out.shape == (64, 48)
    assert abs(out[32, 0] - 40 * 200 / 128) < 3
    assert abs(out[32, -1] - 87 * 200 / 128) < 3


def test_resize_fit_letterboxes_a_too_wide_image():
    out = resize_with_padding(np.ones((100, 200)), (64, 48), overflow="fit", pad_value=-1)
    rows = np.nonzero(out[:, 24] > 0)[0]
    assert (rows.min(), rows.max()) == (20, 43)  # 24 rows of content, centred
    assert (out[:20] == -1).all()


def test_resize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="2-D"):
        resize_with_padding(np.zeros((2, 2, 2)), (4, 4))
    with pytest.raises(ValueError, match="overflow"):
        resize_with_padding(np.zeros((4, 8)), (4, 4), overflow="stretch")
    with pytest.raises(ValueError, match="order"):
        resize_with_padding(np.zeros((4, 4)), (4, 4), order=3)


def test_mask_stays_aligned_with_its_image():
    image = np.zeros((400, 300), np.float32)
    image[100:160, 200:260] = 1.0
    small_image = resize_with_padding(image, (80, 64)) > 0.5
    small_mask = resize_mask_with_padding(image > 0, (80, 64))
    assert small_mask.dtype == bool
    overlap = (small_image & small_mask).sum() / small_mask.sum()
    assert overlap > 0.9 and abs(int(small_mask.sum()) - 144) <= 20


def test_mask_resize_keeps_a_tiny_region():
    mask = np.zeros((400, 400), bool)
    mask[200, 200] = True
    assert resize_mask_with_padding(mask, (40, 40)).sum() >= 1


def _phantom(rng):
    """A half-disc breast at the left edge, a hole of fat, a faint skin rim, a label, a speck."""
    yy, xx = np.mgrid[0:200, 0:150]
    radius = np.sqrt((yy - 100.0) ** 2 + xx**2.0)
    image = np.where(radius < 80, 0.6, 0.0) + rng.normal(0, 0.01, (200, 150))
    image[(radius >= 80) & (radius < 84)] = 0.03  # skin: below 5 %, above 1 %
    image[90:100, 20:30] = 0.0  # dark fat inside the breast
    image[10:30, 110:140] = 1.0  # burned-in label
    image[180:183, 120:123] = 0.9  # marker speck
    return np.clip(image, 0, None).astype(np.float32), radius


def test_segment_breast_keeps_the_breast_and_drops_labels():
    image, radius = _phantom(np.random.default_rng(0))
    mask = segment_breast(image)
    assert mask.dtype == bool and mask.shape == image.shape
    assert mask[radius < 79].all()  # breast, including the filled hole
    assert mask[(radius >= 80.5) & (radius < 83.5)].mean() > 0.95  # grown into the skin
    assert not mask[10:30, 110:140].any() and not mask[180:183, 120:123].any()
    assert not mask[radius > 90].any()


def test_segment_breast_without_growth_is_shens_threshold():
    image, radius = _phantom(np.random.default_rng(0))
    mask = segment_breast(image, grow_threshold=None)
    assert mask[radius < 79].all()
    assert not mask[(radius >= 80.5) & (radius < 83.5)].any()


def test_segment_breast_does_not_grow_into_background_noise():
    rng = np.random.default_rng(1)
    image, radius = _phantom(rng)
    # Film background: mean and spread above the 1 % growth threshold.
    image = image + np.abs(rng.normal(0.03, 0.01, image.shape)).astype(np.float32)
    mask = segment_breast(image)
    assert mask[radius < 79].all()
    assert mask[radius > 90].mean() < 0.01


def test_segment_breast_edge_cases():
    assert not segment_breast(np.full((8, 8), 3.0)).any()
    with pytest.raises(ValueError, match="2-D"):
        segment_breast(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="low_int_threshold"):
        segment_breast(np.zeros((4, 4)), low_int_threshold=1.5)
    with pytest.raises(ValueError, match="grow_threshold"):
        segment_breast(np.zeros((4, 4)), grow_threshold=0.2)


# Burned-in labels and markers in the two real CBIS-DDSM samples, as (row0, row1, col0, col1)
# found by eye and by connected components: the "R MLO" letters and a skin marker dot on the
# MLO film, a bright marker dot beside the breast on the CC film.
REAL_CASES = {
    "Mass-Test_P_00116_RIGHT_MLO": {
        "labels": [(270, 391, 276, 422), (393, 493, 257, 409), (482, 619, 229, 388),
                   (639, 871, 121, 393), (981, 1023, 1581, 1620)],
        "rois": ["_1", "_2"],
    },
    "Mass-Test_P_00016_LEFT_CC": {"labels": [(3323, 3332, 1340, 1349)], "rois": ["_1"]},
}


@pytest.mark.shared_data
@pytest.mark.parametrize("case", sorted(REAL_CASES))
def test_segmentation_of_the_real_cbis_samples(case):
    from PIL import Image

    full = SHARED / "full" / f"{case}.png"
    if not full.is_file():
        pytest.skip("real CBIS-DDSM samples not available")
    image = np.asarray(Image.open(full), dtype=np.float32)
    mask = segment_breast(image)
    for r0, r1, c0, c1 in REAL_CASES[case]["labels"]:
        assert image[r0:r1, c0:c1].max() > 100  # the label is there to remove
        assert not mask[r0:r1, c0:c1].any(), (r0, r1, c0, c1)
    tissue = image > 30
    tissue[mask] = False
    for r0, r1, c0, c1 in REAL_CASES[case]["labels"]:
        tissue[r0:r1, c0:c1] = False
    assert tissue.sum() < 0.001 * mask.sum()  # all bright tissue outside labels is kept
    for suffix in REAL_CASES[case]["rois"]:
        roi = _lesion_mask(SHARED / "roi" / f"{case}{suffix}_mask.png")
        assert roi.sum() > 10_000
        # Every ROI pixel that shows anything is kept. One lesion outline (RIGHT_MLO_1, at the
        # skin line) reaches past the skin onto empty film (pixels exactly 0), which is not
        # breast; the others lie wholly on the breast and are kept whole.
        shown = roi & (image > 0)
        assert (shown & mask).sum() >= 0.99 * shown.sum()
        if not (roi & (image == 0)).any():
            assert (roi & mask).sum() >= 0.99 * roi.sum()


def _lesion_mask(path):
    """The lesion in a sample's ROI file: a 16-bit RGB PNG holding CBIS-DDSM's 0/255 mask as
    grey (R = G = B = 255 of 65535, so 255 after the luminance conversion) with the lesion's
    bounding box drawn over it in bright red (luminance 0.299 * 65535)."""
    from keras_mia.io import read_image

    return np.isclose(read_image(path), 255.0)


def _film(bits):
    """A breast (bright half-disc) with a burned-in label apart from it, at a bit depth."""
    rows, cols = np.mgrid[0:300, 0:200]
    image = np.where((rows - 150) ** 2 + cols**2 < 140**2, 0.7, 0.02)
    image[20:40, 150:190] = 0.95  # the label
    return np.rint(image * (2**bits - 1))


def test_prepare_mammogram_is_the_same_at_any_bit_depth():
    twelve = prepare_mammogram(_film(12), 4095.0, image_size=(60, 48))
    sixteen = prepare_mammogram(_film(16), 65535.0, image_size=(60, 48))
    assert twelve.image.dtype == np.uint16 and twelve.image.shape == (60, 48)
    assert np.abs(twelve.image.astype(int) - sixteen.image.astype(int)).max() <= 20
    np.testing.assert_array_equal(twelve.breast, sixteen.breast)
    # The label is zeroed, the breast kept, at 0.7 of the 16-bit range.
    assert not twelve.image[3:9, 33:43].any()
    assert abs(float(np.median(twelve.image[twelve.breast])) / 65535 - 0.7) < 0.02
    # Unsegmented, the label stays.
    assert prepare_mammogram(_film(12), 4095.0, image_size=(60, 48),
                             segment=False).image[5:7, 35:41].min() > 60000


def test_placement_says_where_the_source_went():
    where = placement((300, 200), (60, 48))
    assert where.resized_shape == (60, 40) and where.offset == (0, 4) and where.scale == 0.2
    prepared = prepare_mammogram(_film(8), 255.0, image_size=(60, 48), segment=False)
    assert prepared.placement == where
    assert not prepared.image[:, :4].any() and not prepared.image[:, 44:].any()
    assert placement((30, 20), (60, 48)).scale == 2.0  # a thumbnail would be enlarged
    with pytest.raises(ValueError, match="Received"):
        prepare_mammogram(np.zeros((3, 4, 3)), 255.0)
    with pytest.raises(ValueError, match="top must be a positive number"):
        prepare_mammogram(_film(8), 0.0)


def test_relative_scale_keeps_each_image_at_its_own_size():
    """Scuccimarra's 0.66: no canvas, no padding; masks follow the same placement."""
    from keras_mia.preprocessing import apply_placement_to_mask, placement, prepare_mammogram

    rng = np.random.default_rng(0)
    image = np.zeros((300, 180), np.float32)
    image[20:280, :120] = rng.uniform(1000, 4000, (260, 120))
    prepared = prepare_mammogram(image, 4095, scale=0.66)
    assert prepared.image.shape == (198, 119) == prepared.placement.output_shape
    assert prepared.placement.offset == (0, 0) and prepared.placement.crop == (0, 0)
    mask = np.zeros(image.shape, bool)
    mask[100:160, 30:90] = True
    scaled = apply_placement_to_mask(mask, prepared.placement)
    rows, cols = np.nonzero(scaled)
    assert abs(rows.min() - 66) <= 1 and abs(rows.max() - 105) <= 1
    assert abs(cols.min() - 20) <= 1 and abs(cols.max() - 59) <= 1
    # The fixed canvas stays the default, and the two cannot be combined.
    assert prepare_mammogram(image, 4095).image.shape == (1152, 896)
    with pytest.raises(ValueError, match="not both"):
        placement(image.shape, (64, 64), scale=0.5)
    with pytest.raises(ValueError, match="scale=0"):
        placement(image.shape, scale=0)


def _padded_film(rng):
    """mini-MIAS-like: digital padding (0) around a film strip whose empty film (0.08) lies
    above 5 % of the range, a breast, and a label tied to it by the film's 1-pixel edge line."""
    image = np.zeros((300, 240), np.float32)
    image[:, 40:200] = 0.08 + rng.normal(0, 0.004, (300, 160))
    rows, cols = np.mgrid[0:300, 0:240]
    breast = (rows - 150.0) ** 2 + (cols - 40.0) ** 2 < 100.0**2
    breast &= cols >= 40
    image[breast] = 0.6
    image[0, 40:200] = 0.5  # the film's top edge line
    image[1:40, 160:190] = 0.95  # a label touching that line
    return image, breast


def test_segment_breast_measures_from_the_film_base_and_cuts_edge_lines():
    image, breast = _padded_film(np.random.default_rng(0))
    mask = segment_breast(image)
    assert mask[breast].mean() > 0.99
    assert not mask[1:40, 160:190].any()  # label
    assert (mask & ~breast).sum() < 0.02 * breast.sum()  # not the empty film


def test_check_segmentation_names_what_looks_wrong():
    mask = np.zeros((100, 80), bool)
    mask[20:80, :40] = True
    assert check_segmentation(mask) == []
    small = np.zeros((100, 80), bool)
    small[10:12, 10:12] = True
    assert check_segmentation(small) == ["breast area is 0.1 % of the image (< 5 %)"]
    big = np.zeros((100, 80), bool)
    big[:, 5:] = True
    assert check_segmentation(big) == [
        "breast region touches 3 image borders (top, bottom, right)"]


def test_check_segmentation_names_a_film_edge_band():
    # An MLO breast meeting the top border over its own width is plausible ...
    mlo = np.zeros((100, 80), bool)
    mlo[:70, :40] = True
    assert check_segmentation(mlo) == []
    # ... a strip of the film's edge across the top, joined to it, is not.
    band = mlo.copy()
    band[:2, :75] = True
    assert check_segmentation(band) == [
        "breast region runs along the top border (75 px) far beyond the breast 3 px further "
        "in (40 px): a band of the film's edge"]
    flipped = check_segmentation(band[::-1])
    assert len(flipped) == 1 and "bottom border" in flipped[0]
