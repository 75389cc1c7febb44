"""Drawing helpers for the synthetic images: coordinate grids, soft-edged shapes,
smooth random textures, lesion outlines and burned-in text.

Everything works on float32 arrays in the caller's coordinates and takes its randomness from
a ``numpy.random.Generator`` passed in, so generators stay reproducible.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "normalized_grid",
    "soft_inside",
    "ellipse_radius",
    "superellipse_radius",
    "segment_distance",
    "gaussian_blur",
    "smooth_noise",
    "irregular_blob",
    "spicules",
    "gaussian_specks",
    "text_mask",
    "match_moments",
]


def normalized_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates spanning ``(-1, 1)`` along each axis.

    Args:
        height: number of rows.
        width: number of columns.

    Returns:
        ``(y, x)`` float32 arrays of shape ``(height, width)``; y grows downwards.
    """
    y = (np.arange(height, dtype=np.float32) + 0.5) / height * 2.0 - 1.0
    x = (np.arange(width, dtype=np.float32) + 0.5) / width * 2.0 - 1.0
    return np.meshgrid(y, x, indexing="ij")


def soft_inside(signed_distance: np.ndarray, edge: float) -> np.ndarray:
    """A 0..1 membership from a signed distance (negative inside), ramped over ``edge``.

    The ramp anti-aliases shape borders, so a shape is never a hard, trivially detectable
    step.

    Args:
        signed_distance: distance to the border, negative inside the shape.
        edge: width of the linear ramp, in the same units (> 0).

    Returns:
        float32 array in [0, 1].
    """
    edge = max(float(edge), 1e-6)
    return np.clip(0.5 - signed_distance / edge, 0.0, 1.0).astype(np.float32)


def ellipse_radius(y, x, cy, cx, ry, rx, angle: float = 0.0) -> np.ndarray:
    """Normalised elliptical radius: < 1 inside the ellipse, 1 on its border.

    Args:
        y, x: coordinate arrays.
        cy, cx: centre.
        ry, rx: semi-axes (before rotation).
        angle: rotation in radians (counter-clockwise in a y-down image: positive turns
            the x semi-axis towards +y).

    Returns:
        float32 array of the same shape as ``y``.
    """
    dy, dx = y - cy, x - cx
    if angle:
        c, s = math.cos(angle), math.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    return np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2).astype(np.float32)


def superellipse_radius(y, x, cy, cx, ry, rx, power: float = 4.0) -> np.ndarray:
    """Like ``ellipse_radius`` for a box-like superellipse ``|dx/rx|^p + |dy/ry|^p = 1``."""
    r = np.abs((x - cx) / rx) ** power + np.abs((y - cy) / ry) ** power
    return (r ** (1.0 / power)).astype(np.float32)


def segment_distance(y, x, p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Distance from every point to the segment ``p0``-``p1`` (points as ``(y, x)``)."""
    (y0, x0), (y1, x1) = p0, p1
    vy, vx = y1 - y0, x1 - x0
    length2 = max(vy * vy + vx * vx, 1e-12)
    t = np.clip(((y - y0) * vy + (x - x0) * vx) / length2, 0.0, 1.0)
    return np.sqrt((y - (y0 + t * vy)) ** 2 + (x - (x0 + t * vx)) ** 2).astype(np.float32)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    taps = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma, axes=None) -> np.ndarray:
    """Separable Gaussian blur with reflected borders (numpy only).

    Args:
        image: float array of any rank.
        sigma: standard deviation in pixels, one value or one per blurred axis; 0 skips
            an axis.
        axes: the axes to blur (default: all).

    Returns:
        The blurred float32 array, same shape.
    """
    out = np.asarray(image, dtype=np.float32)
    axes = tuple(range(out.ndim)) if axes is None else tuple(axes)
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (len(axes),))
    for axis, s in zip(axes, sigmas):
        if s <= 0:
            continue
        kernel = _gaussian_kernel(float(s))
        radius = len(kernel) // 2
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        windows = np.lib.stride_tricks.sliding_window_view(padded, len(kernel), axis=axis)
        out = (windows @ kernel).astype(np.float32)
    return out


def _upsample_linear(array: np.ndarray, shape) -> np.ndarray:
    """Separable linear interpolation of ``array`` onto ``shape`` (pixel-centre aligned)."""
    out = array
    for axis, size in enumerate(shape):
        n_in = out.shape[axis]
        if n_in == size:
            continue
        pos = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0.0, n_in - 1.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        frac_shape = [1] * out.ndim
        frac_shape[axis] = size
        frac = (pos - lo).astype(np.float32).reshape(frac_shape)
        out = np.take(out, lo, axis=axis) * (1.0 - frac) + np.take(out, hi, axis=axis) * frac
    return out.astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape, sigma) -> np.ndarray:
    """Gaussian white noise blurred by ``sigma`` and rescaled to zero mean, unit std.

    Wide blurs are computed on a coarser grid and interpolated back, which looks the same
    for such smooth fields and keeps generators fast.

    Args:
        rng: random state.
        shape: output shape.
        sigma: blur in pixels (scalar or one per axis).

    Returns:
        float32 array of ``shape``.
    """
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (len(shape),))
    factors = [max(1, int(s // 3)) for s in sigmas]
    coarse = tuple(max(1, -(-size // f)) for size, f in zip(shape, factors))
    field = rng.standard_normal(coarse, dtype=np.float32)
    field = gaussian_blur(field, [s / f for s, f in zip(sigmas, factors)])
    field = _upsample_linear(field, shape)
    field -= field.mean()
    std = float(field.std())
    return field / std if std > 0 else field


def irregular_blob(
    y: np.ndarray,
    x: np.ndarray,
    cy: float,
    cx: float,
    radius: float,
    rng: np.random.Generator,
    roughness: float,
    elongation: float = 1.0,
    edge: float = 1.0,
    harmonics: int = 6,
) -> np.ndarray:
    """A star-shaped blob whose radius wobbles with angle: smooth for small ``roughness``
    (benign-looking), lobulated and irregular for large (malignant-looking).

    Args:
        y, x: pixel coordinate arrays.
        cy, cx: centre (pixels).
        radius: mean radius (pixels).
        rng: random state (harmonic amplitudes and phases, orientation).
        roughness: relative amplitude of the angular wobble (0 gives an ellipse).
        elongation: ratio of the long to the short axis.
        edge: border ramp width in pixels.
        harmonics: highest angular harmonic of the wobble.

    Returns:
        float32 membership in [0, 1].
    """
    dy, dx = y - cy, x - cx
    turn = rng.uniform(0.0, math.pi)
    c, s = math.cos(turn), math.sin(turn)
    u, v = c * dx + s * dy, -s * dx + c * dy
    stretch = math.sqrt(elongation)
    u, v = u / stretch, v * stretch
    dist = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    wobble = np.zeros_like(dist)
    for k in range(2, harmonics + 1):
        amplitude = roughness * rng.uniform(0.3, 1.0) / (k**0.7)
        wobble += amplitude * np.cos(k * theta + rng.uniform(0.0, 2.0 * math.pi))
    border = radius * np.clip(1.0 + wobble, 0.35, None)
    return soft_inside(dist - border, edge)


def spicules(
    y: np.ndarray,
    x: np.ndarray,
    cy: float,
    cx: float,
    radius: float,
    rng: np.random.Generator,
    count: int,
    length: tuple[float, float],
    width: float,
) -> np.ndarray:
    """Thin tapering rays radiating from a mass (the spiculated margin of a carcinoma).

    Args:
        y, x: pixel coordinate arrays.
        cy, cx: mass centre.
        radius: mass radius; rays start at half of it.
        rng: random state.
        count: number of rays.
        length: (min, max) ray length beyond ``radius``, as multiples of ``radius``.
        width: ray half-width in pixels at its root.

    Returns:
        float32 intensity in [0, 1] (1 at the root, fading to the tip).
    """
    out = np.zeros(y.shape, dtype=np.float32)
    for angle in rng.uniform(0.0, 2.0 * math.pi, size=count):
        reach = radius * (1.0 + rng.uniform(*length))
        start = (cy + 0.5 * radius * math.sin(angle), cx + 0.5 * radius * math.cos(angle))
        end = (cy + reach * math.sin(angle), cx + reach * math.cos(angle))
        dist = segment_distance(y, x, start, end)
        along = np.clip(
            np.sqrt((y - cy) ** 2 + (x - cx) ** 2) / max(reach, 1e-6), 0.0, 1.0
        )
        half_width = width * (1.0 - 0.7 * along)
        out = np.maximum(out, soft_inside(dist - half_width, 1.0) * (1.0 - 0.6 * along))
    return out


def gaussian_specks(
    shape: tuple[int, int],
    centres: np.ndarray,
    sigmas: np.ndarray,
    elongations: np.ndarray | None = None,
    angles: np.ndarray | None = None,
) -> np.ndarray:
    """Renders small bright specks (calcifications) as Gaussian dots with peak 1.

    Args:
        shape: ``(height, width)`` of the output.
        centres: ``(k, 2)`` array of ``(y, x)`` pixel positions.
        sigmas: ``(k,)`` speck sizes in pixels.
        elongations: optional ``(k,)`` length-to-width ratios (>= 1: rod-like specks).
        angles: optional ``(k,)`` orientations in radians.

    Returns:
        float32 map in [0, 1], specks combined by maximum.
    """
    out = np.zeros(shape, dtype=np.float32)
    k = len(centres)
    elongations = np.ones(k) if elongations is None else elongations
    angles = np.zeros(k) if angles is None else angles
    for (cy, cx), sigma, elong, angle in zip(centres, sigmas, elongations, angles):
        reach = int(math.ceil(3.0 * sigma * max(1.0, elong))) + 1
        y0, y1 = max(0, int(cy) - reach), min(shape[0], int(cy) + reach + 1)
        x0, x1 = max(0, int(cx) - reach), min(shape[1], int(cx) + reach + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        r = ellipse_radius(yy, xx, cy, cx, sigma, sigma * elong, angle)
        out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], np.exp(-0.5 * r * r))
    return out


def text_mask(text: str, height: int) -> np.ndarray:
    """Renders ``text`` (white on black) with Pillow's built-in font.

    Args:
        text: the characters to draw.
        height: target glyph height in pixels (>= 4).

    Returns:
        float32 array of shape ``(height, width)`` in [0, 1].
    """
    from PIL import Image, ImageDraw, ImageFont

    height = max(4, int(height))
    try:
        font = ImageFont.load_default(size=48)
    except TypeError:  # Pillow without FreeType has only the small bitmap font.
        font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), text, font=font
    )
    canvas = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(canvas).text((1 - left, 1 - top), text, fill=255, font=font)
    width = max(1, int(round(canvas.width * height / canvas.height)))
    small = canvas.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def match_moments(image: np.ndarray, mean: float, std: float, where=None) -> np.ndarray:
    """Affinely rescales ``image`` so its mean and std (over ``where``) take given values.

    Generators use it to draw global brightness and contrast independently of the label,
    so that neither statistic alone tells the classes apart.

    Args:
        image: float array.
        mean: target mean.
        std: target standard deviation.
        where: optional boolean mask of the pixels the statistics are taken over.

    Returns:
        float32 array (not clipped).
    """
    values = image if where is None else image[where]
    current_std = float(values.std())
    scale = std / current_std if current_std > 1e-8 else 1.0
    return ((image - float(values.mean())) * scale + mean).astype(np.float32)
