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
    "Placement",
    "PreparedMammogram",
    "parse_image_size",
    "placement",
    "prepare_mammogram",
    "resize_with_padding",
    "resize_mask_with_padding",
    "segment_breast",
]

# (height, width) of Shen et al.'s whole-image input.
SHEN_IMAGE_SIZE: tuple[int, int] = (1152, 896)
_OVERFLOW_MODES = ("crop", "fit")


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
    """Where ``resize_with_padding`` puts a source image inside its output canvas.

    The source (``source_shape``) is scaled to ``resized_shape``, cropped by ``crop``
    (top, left) when it overflows the canvas, and placed at ``offset`` (top, left) in a
    canvas of ``output_shape``; everything else is padding.

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


def placement(shape, size=SHEN_IMAGE_SIZE, *, overflow: str = "crop") -> Placement:
    """Where ``resize_with_padding(image, size, overflow=overflow)`` puts an image of ``shape``.

    Args:
        shape: ``(height, width)`` of the source image.
        size: ``(height, width)`` or ``"HxW"`` of the output.
        overflow: ``"crop"`` or ``"fit"`` (see ``resize_with_padding``).

    Returns:
        The ``Placement``.

    Raises:
        ValueError: a bad ``size`` or ``overflow``, or an empty ``shape``.
    """
    source = tuple(int(v) for v in shape)
    if len(source) != 2 or min(source) < 1:
        raise ValueError(f"Expected a non-empty (height, width). Received: shape={shape!r}")
    out = parse_image_size(size)
    new_h, new_w, pad_top, pad_left, crop_top, crop_left = _geometry(source, out, overflow)
    return Placement(source, out, (new_h, new_w), (pad_top, pad_left), (crop_top, crop_left))


def _resize(image: np.ndarray, new_h: int, new_w: int, order: int) -> np.ndarray:
    """Resizes a 2-D array with Pillow (float32 mode); antialiased when shrinking."""
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
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear). Received: order={order!r}")
    out_h, out_w = parse_image_size(size)
    new_h, new_w, pad_top, pad_left, crop_top, crop_left = _geometry(
        image.shape, (out_h, out_w), overflow
    )
    resized = _resize(image, new_h, new_w, order)
    resized = resized[crop_top : crop_top + out_h, crop_left : crop_left + out_w]
    out = np.full((out_h, out_w), pad_value, dtype=np.float32)
    out[pad_top : pad_top + resized.shape[0], pad_left : pad_left + resized.shape[1]] = resized
    return out


def resize_mask_with_padding(mask: np.ndarray, size=SHEN_IMAGE_SIZE, *, overflow: str = "crop"):
    """Resizes a binary mask exactly like ``resize_with_padding`` resizes its image.

    The mask is resampled as a coverage fraction (antialiased bilinear) and kept where at
    least half of an output pixel was foreground, so the region's area scales faithfully.
    A region too small to cover half of any output pixel (a single calcification shrunk
    4x) is kept as the output pixels it touches at all, so no annotated lesion vanishes.

    Args:
        mask: 2-D array; any non-zero pixel is foreground.
        size: ``(height, width)`` or ``"HxW"``.
        overflow: as in ``resize_with_padding``.

    Returns:
        bool array of shape ``size``.
    """
    mask = np.asarray(mask) != 0
    coverage = resize_with_padding(mask.astype(np.float32), size, order=1, overflow=overflow)
    out = coverage >= 0.5
    if mask.any() and not out.any():
        out = coverage > 0
    return out


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
    level = low + float(low_int_threshold) * (high - low)
    foreground = image > level
    labels, count = ndimage.label(foreground, structure=eight)
    if count == 0:
        return np.zeros(image.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    breast = labels == int(np.argmax(sizes))
    if grow_threshold is not None:
        dark = image[~foreground]
        centre = float(np.median(dark))
        noise = 1.4826 * float(np.median(np.abs(dark - centre)))
        grow_level = max(low + float(grow_threshold) * (high - low), centre + 4.0 * noise)
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
    image_size=SHEN_IMAGE_SIZE,
    overflow: str = "crop",
    segment: bool = True,
) -> PreparedMammogram:
    """Shen et al.'s preparation of one raw mammogram: resize, segment, scale to 16 bits.

    The image is resized to ``image_size`` keeping its aspect ratio
    (``resize_with_padding``), the breast is segmented on the resized image
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
        image_size: ``(height, width)`` or ``"HxW"`` of the prepared image (Shen: 1152 x 896).
        overflow: ``"crop"`` or ``"fit"`` for an image wider than ``image_size`` once scaled
            to its height.
        segment: segment the breast and zero everything else.

    Returns:
        The ``PreparedMammogram``. A constant image has an empty ``breast`` (and an all-zero
        ``image``); callers refuse it.

    Raises:
        ValueError: ``image`` is not a non-empty 2-D array, ``source_top`` is not positive,
            or a bad ``image_size`` / ``overflow``.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"Expected a non-empty 2-D image. Received: shape={image.shape}")
    where = placement(image.shape, image_size, overflow=overflow)
    resized = resize_with_padding(image, where.output_shape, overflow=overflow)
    if segment:
        breast = segment_breast(resized)
    else:
        breast = np.ones(resized.shape, dtype=bool)
    return PreparedMammogram(to_uint16(resized * breast, source_top), breast, where)
