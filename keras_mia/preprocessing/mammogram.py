"""Shen et al.'s whole-mammogram preprocessing: aspect-preserving resize and breast segmentation.

Shen et al. ("Deep Learning to Improve Breast Cancer Detection on Screening Mammography",
seed 002) resize every CBIS-DDSM mammogram to 1152 x 896 without distorting it (scale to
the target height, then pad the width symmetrically), then keep only the breast: pixels
above 5 % of the image's maximum, the largest connected region, filled. That removes the
burned-in view labels ("R MLO"), skin markers and scanner specks that lie apart from the
breast and that a classifier could otherwise learn from.

``prepare_mammogram`` is the whole chain, from a mammogram as a hospital stores it (any bit
depth, MONOCHROME1 already inverted by ``keras_mia.io.read_image``) to the 16-bit prepared
image. ``keras-mia prepare cbis-ddsm`` writes its training images with it, and the deployed
path (``keras_mia.inference``, ``keras-mia predict``) prepares raw files with the very same
function, so a model sees at inference what it saw in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from keras_mia.preprocessing.intensity import to_uint16

__all__ = [
    "SHEN_IMAGE_SIZE",
    "resize_image",
    "SEED_SCALE",
    "Placement",
    "PreparedMammogram",
    "apply_placement",
    "apply_placement_to_mask",
    "check_segmentation",
    "parse_image_size",
    "parse_scale",
    "placement",
    "prepare_mammogram",
    "resize_with_padding",
    "resize_mask_with_padding",
    "segment_breast",
]

# (height, width) of Shen et al.'s whole-image input.
SHEN_IMAGE_SIZE: tuple[int, int] = (1152, 896)
# Scuccimarra's relative scale (seed 003): every full scan shrunk to 0.66 of its size.
SEED_SCALE: float = 0.66
_OVERFLOW_MODES = ("crop", "fit")
# segment_breast: connections narrower than 2 x this fraction of the image height are cut.
_NECK = 0.004


def parse_image_size(size) -> tuple[int, int]:
    """Reads an image size given as ``(height, width)``, ``"HxW"`` / ``"H,W"`` or one int.

    Args:
        size: e.g. ``(1152, 896)``, ``"1152x896"`` or ``64`` (square).

    Returns:
        ``(height, width)`` as positive Python ints.

    Raises:
        ValueError: the size cannot be read or is not positive.
    """
    original = size
    if isinstance(size, str):
        parts = size.lower().replace(",", "x").split("x")
        try:
            size = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(
                f"image size must look like 'HEIGHTxWIDTH' (e.g. '1152x896'). Received: "
                f"size={original!r}"
            ) from None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)
        or min(size) < 1
    ):
        raise ValueError(
            "image size must be two positive integers (height, width). "
            f"Received: size={original!r}"
        )
    return int(size[0]), int(size[1])


def parse_scale(scale) -> float:
    """Reads a relative scale factor (``0.66``, ``"0.66"``).

    Args:
        scale: a number in (0, 1]: the prepared image is ``scale`` times the source's height
            and width.

    Returns:
        The factor as a Python float.

    Raises:
        ValueError: not a number in (0, 1].
    """
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(scale, bool) or not 0.0 < value <= 1.0:
        raise ValueError(
            "scale must be a number in (0, 1] (the fraction of the source's height and width). "
            f"Received: scale={scale!r}"
        )
    return value


def _geometry(shape: tuple[int, int], size: tuple[int, int], overflow: str):
    """Scaled size and placement of an image of ``shape`` inside a ``size`` canvas.

    Returns:
        ``(new_h, new_w, pad_top, pad_left, crop_top, crop_left)``: the image is resized to
        ``new_h x new_w``, then cropped by ``crop_*`` and placed at ``pad_*``.
    """
    h, w = shape
    out_h, out_w = size
    if overflow not in _OVERFLOW_MODES:
        raise ValueError(
            f"overflow must be one of {_OVERFLOW_MODES}. Received: overflow={overflow!r}"
        )
    scale = out_h / h
    new_h, new_w = out_h, max(1, int(round(w * scale)))
    if new_w > out_w and overflow == "fit":
        scale = out_w / w
        new_h, new_w = max(1, int(round(h * scale))), out_w
    pad_top = (out_h - new_h) // 2 if new_h < out_h else 0
    pad_left = (out_w - new_w) // 2 if new_w < out_w else 0
    crop_left = (new_w - out_w) // 2 if new_w > out_w else 0
    return new_h, new_w, pad_top, pad_left, 0, crop_left


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a source image lies in its prepared image (``apply_placement``).

    The source (``source_shape``) is scaled to ``resized_shape``, cropped by ``crop``
    (top, left) when it overflows the canvas, and placed at ``offset`` (top, left) in a
    canvas of ``output_shape``; everything else is padding. In relative-scale mode
    (``placement(shape, scale=...)``) the canvas is the scaled source itself: no crop, no
    padding.

    Attributes:
        source_shape: ``(height, width)`` of the source image.
        output_shape: ``(height, width)`` of the canvas.
        resized_shape: ``(height, width)`` of the scaled source.
        offset: ``(top, left)`` of the scaled source in the canvas.
        crop: ``(top, left)`` cut from the scaled source (``"crop"`` overflow).
    """

    source_shape: tuple[int, int]
    output_shape: tuple[int, int]
    resized_shape: tuple[int, int]
    offset: tuple[int, int]
    crop: tuple[int, int]

    @property
    def scale(self) -> float:
        """Output pixels per source pixel along the height (above 1: the source is enlarged)."""
        return self.resized_shape[0] / self.source_shape[0]


def placement(
    shape, size=None, *, overflow: str = "crop", scale: float | None = None
) -> Placement:
    """Where an image of ``shape`` goes: into a ``size`` canvas, or scaled by ``scale``.

    With ``size`` (default 1152 x 896 when neither is given): as
    ``resize_with_padding(image, size, overflow=overflow)`` places it. With ``scale``: the
    image is resized to ``round(scale * height) x round(scale * width)`` (Scuccimarra's
    0.66), nothing cropped or padded.

    Args:
        shape: ``(height, width)`` of the source image.
        size: ``(height, width)`` or ``"HxW"`` of the output; not with ``scale``.
        overflow: ``"crop"`` or ``"fit"`` (see ``resize_with_padding``).
        scale: relative scale in (0, 1]; not with ``size``.

    Returns:
        The ``Placement``.

    Raises:
        ValueError: a bad ``size``, ``scale`` or ``overflow``, both ``size`` and ``scale``,
            or an empty ``shape``.
    """
    source = tuple(int(v) for v in shape)
    if len(source) != 2 or min(source) < 1:
        raise ValueError(f"Expected a non-empty (height, width). Received: shape={shape!r}")
    if scale is not None:
        if size is not None:
            raise ValueError(
                "Give an output size or a relative scale, not both. Received: "
                f"size={size!r}, scale={scale!r}"
            )
        factor = parse_scale(scale)
        scaled = tuple(max(1, int(round(v * factor))) for v in source)
        return Placement(source, scaled, scaled, (0, 0), (0, 0))
    out = parse_image_size(SHEN_IMAGE_SIZE if size is None else size)
    new_h, new_w, pad_top, pad_left, crop_top, crop_left = _geometry(source, out, overflow)
    return Placement(source, out, (new_h, new_w), (pad_top, pad_left), (crop_top, crop_left))


def resize_image(image: np.ndarray, new_h: int, new_w: int, order: int = 1) -> np.ndarray:
    """Resizes a 2-D array to ``new_h x new_w`` with Pillow (float32 mode).

    The one resampler of the mammogram preparation: ``prepare``, the deployed path and the
    heatmaps' rescaling share it, so their pixels agree exactly.

    Args:
        image: 2-D array.
        new_h: output height.
        new_w: output width.
        order: 1 for bilinear (antialiased when shrinking), 0 for nearest.

    Returns:
        float32 array of shape ``(new_h, new_w)`` (a copy, also when the size is unchanged).
    """
    from PIL import Image

    if image.shape == (new_h, new_w):
        return image.astype(np.float32, copy=True)
    resample = Image.Resampling.BILINEAR if order == 1 else Image.Resampling.NEAREST
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F")
    return np.asarray(pil.resize((new_w, new_h), resample=resample), dtype=np.float32)


def resize_with_padding(
    image: np.ndarray,
    size=SHEN_IMAGE_SIZE,
    *,
    order: int = 1,
    overflow: str = "crop",
    pad_value: float = 0.0,
) -> np.ndarray:
    """Resizes to ``size`` keeping the aspect ratio: scale to the height, pad the width.

    As in Shen et al.: the image is scaled so that its height becomes ``size[0]``; a
    narrower result is padded with ``pad_value`` symmetrically on the left and right (the
    extra column, for an odd difference, goes to the right). Mammograms are taller than
    wide (CBIS-DDSM's width/height is about 0.45-0.75, below 896 / 1152 = 0.78), so that is
    the usual case.

    An image that comes out *wider* than ``size[1]`` is handled by ``overflow``:
    ``"crop"`` (default) keeps the central ``size[1]`` columns, cutting equally from both
    sides (Shen et al. only describe the padding case; cropping keeps the 1152-pixel height
    and hence the same pixel scale as every other image); ``"fit"`` instead scales the image
    to the width and pads the height symmetrically (nothing is lost, but the scale differs).
    Apply the same call with ``order=0`` (or use ``resize_mask_with_padding``) to a mask so
    that it stays aligned with its image.

    Args:
        image: 2-D array (any numeric or bool dtype).
        size: ``(height, width)`` of the output, or ``"HxW"``; default 1152 x 896.
        order: 1 for bilinear (antialiased when shrinking) interpolation, 0 for nearest.
        overflow: ``"crop"`` or ``"fit"``, see above.
        pad_value: value of the padded pixels.

    Returns:
        float32 array of shape ``size``.

    Raises:
        ValueError: ``image`` is not 2-D or empty, or a bad ``size``/``order``/``overflow``.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"Expected a non-empty 2-D image. Received: shape={image.shape}")
    where = placement(image.shape, size, overflow=overflow)
    return apply_placement(image, where, order=order, pad_value=pad_value)


def apply_placement(
    image: np.ndarray, where: Placement, *, order: int = 1, pad_value: float = 0.0
) -> np.ndarray:
    """Resizes, crops and pads an image as ``where`` (from ``placement``) says.

    Args:
        image: 2-D array of shape ``where.source_shape``.
        where: the ``Placement``.
        order: 1 for bilinear (antialiased when shrinking) interpolation, 0 for nearest.
        pad_value: value of the padded pixels.

    Returns:
        float32 array of shape ``where.output_shape``.

    Raises:
        ValueError: ``image`` does not have the placement's source shape, or a bad ``order``.
    """
    image = np.asarray(image)
    if image.shape != where.source_shape:
        raise ValueError(
            f"Expected an image of shape {where.source_shape}. Received: shape={image.shape}"
        )
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear). Received: order={order!r}")
    out_h, out_w = where.output_shape
    (crop_top, crop_left), (pad_top, pad_left) = where.crop, where.offset
    resized = resize_image(image, *where.resized_shape, order)
    if where.resized_shape == where.output_shape and where.offset == (0, 0):
        return resized
    resized = resized[crop_top : crop_top + out_h, crop_left : crop_left + out_w]
    out = np.full((out_h, out_w), pad_value, dtype=np.float32)
    out[pad_top : pad_top + resized.shape[0], pad_left : pad_left + resized.shape[1]] = resized
    return out


def apply_placement_to_mask(mask: np.ndarray, where: Placement) -> np.ndarray:
    """Resizes a binary mask as ``apply_placement`` resizes its image.

    The mask is resampled as a coverage fraction (antialiased bilinear) and kept where at
    least half of an output pixel was foreground, so the region's area scales faithfully.
    A region too small to cover half of any output pixel (a single calcification shrunk
    4x) is kept as the output pixels it touches at all, so no annotated lesion vanishes.

    Args:
        mask: 2-D array of shape ``where.source_shape``; any non-zero pixel is foreground.
        where: the image's ``Placement`` (``PreparedMammogram.placement``).

    Returns:
        bool array of shape ``where.output_shape``.
    """
    mask = np.asarray(mask) != 0
    coverage = apply_placement(mask.astype(np.float32), where, order=1)
    out = coverage >= 0.5
    if mask.any() and not out.any():
        out = coverage > 0
    return out


def resize_mask_with_padding(mask: np.ndarray, size=SHEN_IMAGE_SIZE, *, overflow: str = "crop"):
    """Resizes a binary mask exactly like ``resize_with_padding`` resizes its image.

    See ``apply_placement_to_mask`` for how the mask is resampled.

    Args:
        mask: 2-D array; any non-zero pixel is foreground.
        size: ``(height, width)`` or ``"HxW"``.
        overflow: as in ``resize_with_padding``.

    Returns:
        bool array of shape ``size``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"Expected a non-empty 2-D mask. Received: shape={mask.shape}")
    return apply_placement_to_mask(mask, placement(mask.shape, size, overflow=overflow))


def segment_breast(
    image: np.ndarray,
    *,
    low_int_threshold: float = 0.05,
    grow_threshold: float | None = 0.01,
    grow_distance: float = 0.02,
    fill_holes: bool = True,
) -> np.ndarray:
    """Finds the breast: the largest bright connected region, with its holes filled.

    Shen et al.'s segmentation (their ``segment_breast``: threshold at 5 % of the maximum,
    largest external contour, filled), with one addition. Pixels brighter than
    ``min + low_int_threshold * (max - min)`` are foreground; the largest 8-connected
    foreground region is the breast, and everything else - burned-in view labels, skin
    markers, scanner specks and scratches lying apart from the breast - is background.

    The addition: the thin breast periphery (skin line, subcutaneous fat where the
    compressed breast is only millimetres thick) is often fainter than 5 % of the maximum,
    so a lesion at the skin line would be clipped. The region is therefore grown into the
    faint pixels connected to it that lie above ``grow_threshold`` of the range *and* above
    the background's noise (its median plus 4 robust standard deviations, estimated from the
    pixels below the 5 % threshold), like a hysteresis threshold, but no farther than
    ``grow_distance`` times the image height from the thresholded breast (on the two real
    CBIS-DDSM samples the faint rim reaches 1-1.7 % of the height), so that noise in the film
    cannot carry the region away. Labels and markers stay out because empty film separates
    them from the breast. ``grow_threshold=None`` gives Shen's plain threshold.

    Holes inside the breast (dark fatty tissue) are filled so that no lesion inside the
    breast is cut out. A marker touching the skin line stays, as it does in Shen's method.

    Thresholds count from the film base, not from the image's minimum, where the two differ
    (``_film_base``): mini-MIAS pads each film strip with exact zeros, and its unexposed film
    lies at 3-15 of 255, around or above 5 % of the range, so the plain rule took whole
    film strips, with their labels, for breast (mdb317, mdb318, mdb029, mdb321 of
    ``mias_dev``). On scans whose empty film is the minimum itself (the CBIS-DDSM samples)
    the film base is the minimum and nothing changes. And the largest region is found after
    cutting connections narrower than 0.8 % of the image height (an opening, then restored
    to the thresholded outline near the region), because the film's bright edge lines chained
    labels to the breast (mdb021, mdb029, mdb081, mdb129, mdb321; on mdb274 the film's
    border strips): breast tissue that narrow is at most the tip of a skin fold.

    Args:
        image: 2-D array in any intensity units (brighter = denser, i.e. MONOCHROME1 already
            inverted, which ``keras_mia.io.read_image`` does).
        low_int_threshold: the threshold that picks the breast, as a fraction of the
            intensity range (0 < value < 1).
        grow_threshold: the lower threshold the breast is grown into (a fraction smaller
            than ``low_int_threshold``), or ``None`` not to grow.
        grow_distance: how far the region may grow, as a fraction of the image height.
        fill_holes: fill holes inside the breast region.

    Returns:
        bool mask of the breast, same shape as ``image``; all ``False`` for a constant image.

    Raises:
        ValueError: ``image`` is not 2-D, a threshold is not a fraction in (0, 1),
            ``grow_threshold`` is not below ``low_int_threshold``, or ``grow_distance`` < 0.
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"Expected a 2-D image. Received: shape={image.shape}")
    if not 0.0 < float(low_int_threshold) < 1.0:
        raise ValueError(
            "low_int_threshold must be a fraction in (0, 1). "
            f"Received: low_int_threshold={low_int_threshold!r}"
        )
    if grow_threshold is not None and not 0.0 < float(grow_threshold) < float(low_int_threshold):
        raise ValueError(
            "grow_threshold must be None or a fraction in (0, low_int_threshold). Received: "
            f"grow_threshold={grow_threshold!r}, low_int_threshold={low_int_threshold!r}"
        )
    if not float(grow_distance) >= 0.0:
        raise ValueError(f"grow_distance must be >= 0. Received: grow_distance={grow_distance!r}")
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    if not high > low:
        return np.zeros(image.shape, dtype=bool)
    eight = np.ones((3, 3), dtype=bool)
    base = _film_base(image, low, high)
    level = base + float(low_int_threshold) * (high - base)
    foreground = image > level
    # The largest region once necks narrower than 2 * neck are cut (an opening), then
    # restored to its own outline within `neck` of it: the film's edge lines (1-3 pixels)
    # cannot chain a label to the breast.
    neck = max(1, int(round(_NECK * image.shape[0])))
    opened = _square_filter(_square_filter(foreground, neck, ndimage.minimum_filter1d), neck,
                            ndimage.maximum_filter1d)
    labels, count = ndimage.label(opened if opened.any() else foreground, structure=eight)
    if count == 0:
        return np.zeros(image.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    core = labels == int(np.argmax(sizes))
    within = foreground & _square_filter(core, neck, ndimage.maximum_filter1d)
    restored, _ = ndimage.label(within, structure=eight)
    breast = restored == restored[core & within][0]
    if grow_threshold is not None:
        dark = image[~foreground]
        if base > low:
            dark = dark[dark > low]  # the padding is not the film's noise
        centre = float(np.median(dark))
        noise = 1.4826 * float(np.median(np.abs(dark - centre)))
        grow_level = max(base + float(grow_threshold) * (high - base), centre + 4.0 * noise)
        reach = max(1, int(round(float(grow_distance) * image.shape[0])))
        if grow_level < level:
            # Square dilation by `reach` as two running maxima (linear time in any reach).
            near = breast.view(np.uint8)
            for axis in (0, 1):
                near = ndimage.maximum_filter1d(near, 2 * reach + 1, axis=axis)
            faint, _ = ndimage.label((image > grow_level) & (near > 0), structure=eight)
            # The core lies inside one faint component (its pixels are brighter still).
            breast = faint == faint[breast][0]
    if fill_holes:
        breast = _fill_holes(breast)
    return breast


def _square_filter(mask: np.ndarray, radius: int, running) -> np.ndarray:
    """Square erosion (``running=minimum_filter1d``) or dilation (``maximum_filter1d``) of a
    bool mask by ``radius``, as two running filters (linear time in any radius)."""
    out = mask.view(np.uint8)
    for axis in (0, 1):
        out = running(out, 2 * radius + 1, axis=axis)
    return out > 0


def _film_base(image: np.ndarray, low: float, high: float, min_area: float = 0.02) -> float:
    """The grey level of the empty film, when it is not the image's minimum.

    Values above the minimum (exact minimum values are digital padding, or film already
    clipped to black) and in the lowest quarter of the range are histogrammed in 64 bins;
    when the most common level, with its two neighbouring bins, covers at least
    ``min_area`` of the image and lies clearly above the minimum (more than 4 robust
    standard deviations of that expanse), it is empty film and its median level is
    returned. Otherwise (empty film at the minimum: a faint skin line or noise clipped at
    black spreads over the lowest levels) the minimum is.
    """
    top = low + 0.25 * (high - low)
    film = image[(image > low) & (image < top)]
    if film.size < min_area * image.size:
        return low
    counts, edges = np.histogram(film, bins=64, range=(low, top))
    peak = int(np.argmax(counts))
    first, last = max(0, peak - 1), min(len(counts), peak + 2)
    if counts[first:last].sum() < min_area * image.size:
        return low
    flat = film[(film >= edges[first]) & (film <= edges[last])]
    base = float(np.median(flat))
    noise = 1.4826 * float(np.median(np.abs(flat - base)))
    # Noise clipped at black (half of it at the minimum) is no film base above black.
    return base if base - low > 4.0 * noise else low


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` (4-connected background), several times faster on
    a large image: background components that do not touch the border are holes."""
    from scipy import ndimage

    background, _ = ndimage.label(~mask)
    outside = np.zeros(int(background.max()) + 1, dtype=bool)
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        outside[edge] = True
    outside[0] = False
    return ~outside[background]


@dataclasses.dataclass(frozen=True)
class PreparedMammogram:
    """A mammogram as ``keras-mia prepare cbis-ddsm`` writes it.

    Attributes:
        image: uint16 ``(height, width)``: bit depth scaled to 0..65535, everything outside
            the breast zero (when segmented).
        breast: bool ``(height, width)``: the segmented breast (all ``True`` without
            segmentation; all ``False`` when no breast was found, i.e. a constant image).
        placement: where the source image lies in ``image``.
    """

    image: np.ndarray
    breast: np.ndarray
    placement: Placement


def prepare_mammogram(
    image: np.ndarray,
    source_top: float,
    *,
    image_size=None,
    overflow: str = "crop",
    segment: bool = True,
    scale: float | None = None,
) -> PreparedMammogram:
    """Shen et al.'s preparation of one raw mammogram: resize, segment, scale to 16 bits.

    The image is resized to ``image_size`` keeping its aspect ratio
    (``resize_with_padding``; Shen et al.), or, with ``scale``, to ``scale`` times its own
    height and width with no canvas and no padding (Scuccimarra: 0.66, so images keep
    their differing sizes); the breast is segmented on the resized image
    (``segment_breast``) and everything else - burned-in labels, markers, padding - set to
    zero, and ``[0, source_top]`` is scaled onto 0..65535. ``keras-mia prepare cbis-ddsm``
    writes its training images with this function and ``keras_mia.inference`` prepares raw
    files with it; there is no other copy.

    Args:
        image: 2-D array in original units, brighter = denser (``keras_mia.io.read_image``
            inverts MONOCHROME1).
        source_top: the largest value the file's encoding can hold
            (``keras_mia.preprocessing.source_range``): 4095 for a 12-bit file, 65535 for
            16 bits, 255 for an 8-bit scan.
        image_size: ``(height, width)`` or ``"HxW"`` of the prepared image; ``None`` (the
            default): Shen's 1152 x 896, unless ``scale`` is given.
        overflow: ``"crop"`` or ``"fit"`` for an image wider than ``image_size`` once scaled
            to its height (unused with ``scale``).
        segment: segment the breast and zero everything else.
        scale: relative scale in (0, 1] instead of ``image_size`` (Scuccimarra: 0.66).

    Returns:
        The ``PreparedMammogram``. A constant image has an empty ``breast`` (and an all-zero
        ``image``); callers refuse it.

    Raises:
        ValueError: ``image`` is not a non-empty 2-D array, ``source_top`` is not positive,
            a bad ``image_size`` / ``overflow`` / ``scale``, or both ``image_size`` and
            ``scale``.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"Expected a non-empty 2-D image. Received: shape={image.shape}")
    where = placement(image.shape, image_size, overflow=overflow, scale=scale)
    resized = apply_placement(image, where)
    if segment:
        breast = segment_breast(resized)
    else:
        breast = np.ones(resized.shape, dtype=bool)
    return PreparedMammogram(to_uint16(resized * breast, source_top), breast, where)


def check_segmentation(
    breast: np.ndarray,
    *,
    min_fraction: float = 0.05,
    max_borders: int = 2,
    band_depth: float = 0.03,
    band_ratio: float = 1.3,
) -> list[str]:
    """Signs that a breast segmentation went wrong, for a human to look at.

    A breast covering less than ``min_fraction`` of the image is implausibly small (a label
    or a scratch was taken for it, or the breast was cut). A region touching more than
    ``max_borders`` of the four image borders has usually grown into film edges or scanner
    marks (a breast meets the chest-wall side and, in an MLO view clipped by the film, the
    top and bottom); a very large breast on an unpadded scan can do so too, hence "look".
    A region much wider along the top or bottom border than ``band_depth`` of the height
    further in has taken in a band of the film's edge (mdb002 of ``mias_dev``: a bright
    strip across the top of the film, 650 px wide on the border row where the breast is 373).

    Not caught (a human looking at the prepared images sees them): a film label or tape
    that touches the breast and so joins its region, as in Shen's method (mdb006's "ML"
    label, the tape across the top of mdb289 and mdb305), and marks lying on the tissue
    itself (mdb274).

    Args:
        breast: bool ``(height, width)`` breast mask (``PreparedMammogram.breast``).
        min_fraction: the smallest plausible breast area, as a fraction of the image.
        max_borders: the most image borders a plausible breast touches.
        band_depth: how far in (fraction of the height) the border row's width is compared.
        band_ratio: a border row wider than ``band_ratio`` times the row ``band_depth``
            further in (plus 2 % of the image width) is a film-edge band.

    Returns:
        One short sentence per sign; empty when nothing looks wrong.
    """
    breast = np.asarray(breast, dtype=bool)
    if breast.ndim != 2 or breast.size == 0:
        raise ValueError(f"Expected a non-empty 2-D mask. Received: shape={breast.shape}")
    problems = []
    fraction = float(breast.mean())
    if fraction < min_fraction:
        problems.append(
            f"breast area is {100 * fraction:.1f} % of the image (< {100 * min_fraction:g} %)"
        )
    edges = {"top": breast[0], "bottom": breast[-1], "left": breast[:, 0],
             "right": breast[:, -1]}
    touched = [name for name, edge in edges.items() if edge.any()]
    if len(touched) > max_borders:
        problems.append(f"breast region touches {len(touched)} image borders "
                        f"({', '.join(touched)})")
    height, width = breast.shape
    depth = min(max(int(band_depth * height), 1), height - 1)
    for name, border, inner in (("top", breast[:2].any(axis=0), breast[depth]),
                                ("bottom", breast[-2:].any(axis=0), breast[-1 - depth])):
        along, within = int(border.sum()), int(inner.sum())
        if along and along > band_ratio * within + 0.02 * width:
            problems.append(
                f"breast region runs along the {name} border ({along} px) far beyond the "
                f"breast {depth} px further in ({within} px): a band of the film's edge"
            )
    return problems
