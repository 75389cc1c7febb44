"""Scuccimarra's ROI-centred crops (keras_mia.preprocessing.roi_crops)."""

import numpy as np
import pytest

from keras_mia.preprocessing.roi_crops import crop_padded, roi_crop_window, roi_crops


def test_roi_crop_window_shifts_inside_the_image():
    roi = np.zeros((100, 80), bool)
    roi[2:6, 70:78] = True  # at the top-right corner
    assert roi_crop_window(roi, 32, roi.shape) == (0, 48)
    roi[:] = False
    roi[40:50, 30:40] = True
    assert roi_crop_window(roi, 20, roi.shape) == (35, 25)
    # An image narrower than the crop: the crop starts at 0 (and is padded when written).
    assert roi_crop_window(roi, 90, roi.shape) == (0, 0)


def test_each_crop_shows_every_roi_it_holds_and_is_padded_where_the_image_ends():
    image = np.arange(60 * 50, dtype=np.uint16).reshape(60, 50)
    first, second, empty = (np.zeros((60, 50), bool) for _ in range(3))
    first[20:24, 20:24] = True
    second[26:28, 26:28] = True  # close enough to appear in the first one's crop
    crops = list(roi_crops(image, [first, empty, second], 16))
    assert len(crops) == 2  # the empty ROI has no centre and gives no crop
    crop = crops[0]
    assert (crop.top, crop.left, crop.roi_extent) == (14, 14, (4, 4))
    np.testing.assert_array_equal(crop.image, image[14:30, 14:30])
    # The merged mask: the second ROI is labelled in the first one's crop too.
    assert crop.mask.sum() == 16 + 4 and crop.mask[26 - 14, 26 - 14]
    padded = crop_padded(image, 50, 40, 16)
    assert padded.shape == (16, 16) and not padded[10:].any() and not padded[:, 10:].any()
    with pytest.raises(ValueError, match="size=0"):
        list(roi_crops(image, [first], 0))
