"""Tests for keras_mia.synth.shapes (drawing helpers)."""

import numpy as np

from keras_mia.synth import shapes


def test_normalized_grid_spans_minus_one_to_one():
    y, x = shapes.normalized_grid(4, 8)
    assert y.shape == x.shape == (4, 8)
    assert np.isclose(y.min(), -0.75) and np.isclose(y.max(), 0.75)
    assert np.isclose(x[0, 0], -1 + 1 / 8) and np.all(np.diff(x[0]) > 0)


def test_ellipse_radius_inside_and_outside():
    y, x = np.mgrid[0:21, 0:41].astype(np.float32)
    r = shapes.ellipse_radius(y, x, 10, 20, 5, 15)
    assert r[10, 20] == 0
    assert np.isclose(r[10, 35], 1.0) and np.isclose(r[15, 20], 1.0)
    rotated = shapes.ellipse_radius(y, x, 10, 20, 5, 15, angle=np.pi / 2)
    assert np.isclose(rotated[15, 20], 1 / 3) and rotated[10, 35] > 1


def test_soft_inside_ramps_over_edge():
    d = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(shapes.soft_inside(d, 1.0), [1, 1, 0.5, 0, 0])


def test_gaussian_blur_keeps_constants_and_mass():
    flat = np.full((9, 11), 3.0)
    np.testing.assert_allclose(shapes.gaussian_blur(flat, 2.0), flat, rtol=1e-5)
    impulse = np.zeros((31, 31), dtype=np.float32)
    impulse[15, 15] = 1.0
    blurred = shapes.gaussian_blur(impulse, 2.0)
    assert np.isclose(blurred.sum(), 1.0, atol=1e-4)
    assert blurred[15, 15] < 0.1 and blurred[15, 15] == blurred.max()
    # Blurring one axis only leaves the other untouched.
    rows_only = shapes.gaussian_blur(impulse, 2.0, axes=(0,))
    assert np.count_nonzero(rows_only[:, 14]) == 0


def test_smooth_noise_standardised_deterministic_and_smooth():
    a = shapes.smooth_noise(np.random.default_rng(1), (64, 48), 8.0)
    b = shapes.smooth_noise(np.random.default_rng(1), (64, 48), 8.0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (64, 48)
    assert abs(a.mean()) < 1e-4 and np.isclose(a.std(), 1.0, atol=1e-3)
    white = shapes.smooth_noise(np.random.default_rng(1), (64, 48), 0.0)
    # Neighbouring pixels of a smooth field are far more alike than those of white noise.
    assert np.abs(np.diff(a, axis=1)).mean() < 0.3 * np.abs(np.diff(white, axis=1)).mean()
    volume = shapes.smooth_noise(np.random.default_rng(2), (5, 16, 16), (1.0, 2.0, 2.0))
    assert volume.shape == (5, 16, 16)


def test_irregular_blob_roughness_makes_the_border_wobble():
    y, x = np.mgrid[0:96, 0:96].astype(np.float32)

    def border_wobble(roughness):
        """Coefficient of variation of the border pixels' distance to the centre."""
        blob = shapes.irregular_blob(y, x, 48, 48, 20, np.random.default_rng(3), roughness)
        inside = blob > 0.5
        edge = inside & ~(np.roll(inside, 1, 0) & np.roll(inside, -1, 0)
                          & np.roll(inside, 1, 1) & np.roll(inside, -1, 1))
        dist = np.sqrt((y[edge] - 48) ** 2 + (x[edge] - 48) ** 2)
        return dist.std() / dist.mean()

    smooth = shapes.irregular_blob(y, x, 48, 48, 20, np.random.default_rng(3), 0.0)
    assert abs((smooth > 0.5).sum() / (np.pi * 400) - 1) < 0.05
    assert border_wobble(0.0) < 0.03
    assert border_wobble(0.3) > 0.08


def test_spicules_radiate_beyond_the_core():
    y, x = np.mgrid[0:80, 0:80].astype(np.float32)
    rays = shapes.spicules(y, x, 40, 40, 10, np.random.default_rng(0), 8, (1.0, 1.5), 1.0)
    dist = np.sqrt((y - 40) ** 2 + (x - 40) ** 2)
    assert rays[(dist > 12) & (dist < 20)].max() > 0.3
    assert rays[dist > 27].max() == 0


def test_gaussian_specks_peak_at_centres():
    specks = shapes.gaussian_specks((20, 20), np.array([[5.0, 5.0], [14.0, 12.0]]),
                                    np.array([1.0, 0.7]))
    assert np.isclose(specks[5, 5], 1.0) and np.isclose(specks[14, 12], 1.0)
    assert specks[0, 19] == 0


def test_text_mask_draws_glyphs_of_the_requested_height():
    mask = shapes.text_mask("L-CC", 12)
    assert mask.shape[0] == 12 and mask.shape[1] > 12
    assert mask.max() > 0.5 and (mask > 0.5).mean() < 0.6


def test_match_moments_sets_mean_and_std():
    image = np.random.default_rng(0).random((10, 10)).astype(np.float32) * 7 + 3
    out = shapes.match_moments(image, 0.4, 0.1)
    assert np.isclose(out.mean(), 0.4, atol=1e-5) and np.isclose(out.std(), 0.1, atol=1e-5)
    where = np.zeros((10, 10), dtype=bool)
    where[:5] = True
    part = shapes.match_moments(image, 1.0, 0.5, where)
    assert np.isclose(part[where].mean(), 1.0, atol=1e-5)
