"""Tests for keras_mia.preprocessing.patches: Shen's patch sets S and S10."""

import numpy as np
import pytest

from keras_mia.preprocessing import (
    PATCH_LABELS,
    PatchWindow,
    crop_patch,
    patch_class,
    sample_patch_windows,
)


def _overlap(window, roi):
    """Shen's ratio, recomputed independently with boolean masks."""
    patch = np.zeros_like(roi)
    patch[window.top : window.top + window.size, window.left : window.left + window.size] = True
    inter = (patch & roi).sum()
    return max(inter / roi.sum(), inter / patch.sum())


def _scene():
    breast = np.zeros((160, 120), bool)
    breast[:, :100] = True
    small = np.zeros_like(breast)
    small[40:52, 30:44] = True  # smaller than a patch
    large = np.zeros_like(breast)
    large[90:150, 20:90] = True  # larger than a patch
    return breast, small, large


def test_patch_class_numbers():
    assert patch_class("calcification", "MALIGNANT") == 1
    assert patch_class("CALC", "BENIGN") == 2
    assert patch_class("mass", "MALIGNANT") == 3
    assert patch_class("mass", "BENIGN_WITHOUT_CALLBACK") == 4
    with pytest.raises(ValueError, match="abnormality type"):
        patch_class("cyst", "BENIGN")
    with pytest.raises(ValueError, match="pathology"):
        patch_class("mass", "UNKNOWN")
    assert sorted(PATCH_LABELS) == list(PATCH_LABELS)  # name order = class number


def test_set_s_centres_one_patch_per_roi_and_one_background():
    breast, small, large = _scene()
    windows, shortfalls = sample_patch_windows(
        [small, large], [3, 4], breast, "s", patch_size=32, rng=0
    )
    assert shortfalls == []
    first, second, background = windows
    # bbox rows 40..51, cols 30..43: centre (45, 36), window starts 16 before it
    assert (first.top, first.left) == (45 - 16, 36 - 16) and first.label == 3
    assert second.roi_index == 1 and second.label == 4
    assert background.label == 0 and background.roi_index == -1
    assert _overlap(background, small | large) == 0


def test_set_s10_overlaps_and_background_rules():
    breast, small, large = _scene()
    windows, shortfalls = sample_patch_windows(
        [small, large], [1, 2], breast, "s10", patch_size=32, rng=np.random.default_rng(3)
    )
    assert shortfalls == []
    for index, roi in enumerate([small, large]):
        mine = [w for w in windows if w.roi_index == index]
        assert len(mine) == 10
        assert len({(w.top, w.left) for w in mine}) == 10
        for w in mine:
            assert _overlap(w, roi) >= 0.9 and abs(w.overlap - _overlap(w, roi)) < 1e-9
    background = [w for w in windows if w.roi_index == -1]
    assert len(background) == 10 and all(w.label == 0 for w in background)
    for w in background:
        assert _overlap(w, small | large) == 0
        assert breast[w.top + 16, w.left + 16]
        assert breast[w.top : w.top + 32, w.left : w.left + 32].mean() >= 0.5
        assert 0 <= w.top <= 160 - 32 and 0 <= w.left <= 120 - 32


def test_sampling_is_seeded():
    breast, small, large = _scene()
    a = sample_patch_windows([small], [1], breast, "s10", patch_size=16, rng=5)[0]
    b = sample_patch_windows([small], [1], breast, "s10", patch_size=16, rng=5)[0]
    c = sample_patch_windows([small], [1], breast, "s10", patch_size=16, rng=6)[0]
    assert a == b and a != c


def test_shortfalls_are_reported_not_hidden():
    breast = np.ones((100, 300), bool)
    line = np.zeros_like(breast)
    line[50, 20:280] = True  # too long and thin for any 32-pixel patch to overlap it by 90 %
    windows, shortfalls = sample_patch_windows([line], [3], breast, "s10", patch_size=32, rng=0)
    assert not [w for w in windows if w.roi_index == 0]
    assert shortfalls[0][0] == 0 and "0 of 10" in shortfalls[0][1]

    tiny_breast = np.zeros((100, 100), bool)
    tiny_breast[:5, :5] = True
    _, shortfalls = sample_patch_windows([], [], tiny_breast, "s", patch_size=32, rng=0)
    assert shortfalls and shortfalls[0][0] == -1


def test_bad_arguments():
    breast = np.ones((50, 50), bool)
    with pytest.raises(ValueError, match="patch_set"):
        sample_patch_windows([], [], breast, "s20")
    with pytest.raises(ValueError, match="one label per ROI"):
        sample_patch_windows([breast], [], breast)
    with pytest.raises(ValueError, match="shape"):
        sample_patch_windows([np.ones((10, 10), bool)], [1], breast)


def test_crop_patch_pads_when_the_image_is_small():
    image = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30)
    window = PatchWindow(top=0, left=0, size=32, label=0, roi_index=-1, overlap=0.0)
    patch = crop_patch(image, window)
    assert patch.shape == (32, 32) and patch.dtype == np.uint16
    np.testing.assert_array_equal(patch[:20, :30], image)
    assert not patch[20:].any() and not patch[:, 30:].any()
    inner = crop_patch(image, PatchWindow(2, 3, 8, 0, -1, 0.0))
    np.testing.assert_array_equal(inner, image[2:10, 3:11])
