"""Shen et al.'s patch sets S and S10: where to cut 224 x 224 patches from a mammogram.

Five classes (Shen's numbering): 0 background, 1 malignant calcification, 2 benign
calcification, 3 malignant mass, 4 benign mass.

- Set S: per ROI one patch centred on the ROI (its bounding-box centre), and per image one
  background patch.
- Set S10: per ROI ten patches whose overlap with the ROI is at least 90 %, and per image
  ten background patches.

Overlap follows Shen's ``overlap_patch_roi``: the intersection of patch and ROI divided by
the ROI's area *or* by the patch's area, whichever is larger, so a patch lying wholly inside
a large mass counts as fully overlapping. Positive patch centres are drawn uniformly inside
the ROI's bounding box and kept when they reach the overlap. Background patches lie inside
the image, do not touch any ROI of the image, have their centre inside the breast and at
least ``min_breast_fraction`` of their area inside it. Windows never leave the image
(they are shifted inwards at the border); an image smaller than the patch is zero-padded
by ``crop_patch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PATCH_CLASSES",
    "PATCH_LABELS",
    "PATCH_SETS",
    "PatchWindow",
    "patch_class",
    "sample_patch_windows",
    "crop_patch",
]

PATCH_CLASSES: tuple[str, ...] = (
    "background",
    "malignant_calcification",
    "benign_calcification",
    "malignant_mass",
    "benign_mass",
)
# Manifest label names: the index prefix makes Python's (and Keras') name sort give Shen's
# class numbers.
PATCH_LABELS: tuple[str, ...] = tuple(f"{i}_{name}" for i, name in enumerate(PATCH_CLASSES))
# set name -> (patches per ROI, background patches per image)
PATCH_SETS: dict[str, tuple[int, int]] = {"s": (1, 1), "s10": (10, 10)}


@dataclass(frozen=True)
class PatchWindow:
    """A square patch position in an image.

    Attributes:
        top, left: the window's top-left pixel (inside the image).
        size: side length in pixels.
        label: class index into ``PATCH_CLASSES``.
        roi_index: index of the ROI the patch was drawn for, or -1 for background.
        overlap: Shen's overlap ratio with that ROI (0 for background).
    """

    top: int
    left: int
    size: int
    label: int
    roi_index: int
    overlap: float


def patch_class(abnormality_type: str, pathology: str) -> int:
    """Shen's class index of an ROI from its abnormality type and pathology.

    Args:
        abnormality_type: ``"mass"`` or ``"calcification"`` (``"calc"``), any case.
        pathology: ``"MALIGNANT"``, ``"BENIGN"`` or ``"BENIGN_WITHOUT_CALLBACK"``, any case.

    Returns:
        1 malignant calcification, 2 benign calcification, 3 malignant mass, 4 benign mass.

    Raises:
        ValueError: an unknown type or pathology.
    """
    kind = str(abnormality_type).strip().lower()
    path = str(pathology).strip().upper()
    if kind.startswith("calc"):
        base = 1
    elif kind == "mass":
        base = 3
    else:
        raise ValueError(
            f"abnormality type must be 'mass' or 'calcification'. Received: {abnormality_type!r}"
        )
    if path == "MALIGNANT":
        return base
    if path in ("BENIGN", "BENIGN_WITHOUT_CALLBACK"):
        return base + 1
    raise ValueError(
        "pathology must be MALIGNANT, BENIGN or BENIGN_WITHOUT_CALLBACK. "
        f"Received: pathology={pathology!r}"
    )


def _integral(mask: np.ndarray) -> np.ndarray:
    """Summed-area table with a leading zero row and column (int64)."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1)
    return table


def _window_sums(table: np.ndarray, tops, lefts, size: int) -> np.ndarray:
    """Sums of the mask over each window (clipped to the image)."""
    height, width = table.shape[0] - 1, table.shape[1] - 1
    bottoms = np.minimum(tops + size, height)
    rights = np.minimum(lefts + size, width)
    return table[bottoms, rights] - table[tops, rights] - table[bottoms, lefts] + table[tops, lefts]


def _window_areas(shape, tops, lefts, size: int) -> np.ndarray:
    return (np.minimum(tops + size, shape[0]) - tops) * (np.minimum(lefts + size, shape[1]) - lefts)


def _place(centres: np.ndarray, size: int, limit: int) -> np.ndarray:
    """Top (or left) coordinates of windows centred on ``centres``, shifted into the image."""
    return np.clip(centres - size // 2, 0, max(limit - size, 0))


def _unique_in_order(tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each (top, left) pair, in draw order."""
    _, first = np.unique(np.stack([tops, lefts], axis=1), axis=0, return_index=True)
    return np.sort(first)


def _overlap(roi_table, roi_area: int, shape, tops, lefts, size: int) -> np.ndarray:
    inter = _window_sums(roi_table, tops, lefts, size).astype(np.float64)
    areas = _window_areas(shape, tops, lefts, size).astype(np.float64)
    return np.maximum(inter / max(roi_area, 1), inter / np.maximum(areas, 1))


def sample_patch_windows(
    roi_masks: Sequence[np.ndarray],
    roi_labels: Sequence[int],
    breast_mask: np.ndarray | None,
    patch_set: str = "s10",
    *,
    patch_size: int = 224,
    rng: np.random.Generator | int = 0,
    min_overlap: float = 0.9,
    min_breast_fraction: float = 0.5,
    candidates: int = 2000,
    rounds: int = 4,
) -> tuple[list[PatchWindow], list[tuple[int, str]]]:
    """Chooses the patch windows of one image for Shen's set S or S10.

    Args:
        roi_masks: one 2-D mask per ROI (non-zero = ROI), all the image's shape.
        roi_labels: class index (1-4, see ``patch_class``) of each ROI.
        breast_mask: where the breast is (``segment_breast``); ``None`` means everywhere.
        patch_set: ``"s"`` or ``"s10"``.
        patch_size: side of the square patch in pixels (224 in Shen et al.).
        rng: a ``numpy.random.Generator`` or a seed.
        min_overlap: S10's overlap threshold (Shen: 0.9).
        min_breast_fraction: smallest fraction of a background patch inside the breast.
        candidates: random positions drawn per round.
        rounds: rounds of drawing before giving up on a quota.

    Returns:
        ``(windows, shortfalls)``: the windows (ROI patches in ROI order, then background),
        and one ``(roi_index, message)`` per quota that could not be filled (``roi_index``
        -1 for the background quota), e.g. an ROI too thin for any patch to overlap it by
        90 %, or a breast too small for a background patch, so the caller can report it.

    Raises:
        ValueError: unknown ``patch_set``, masks of different shapes, or mismatched
            ``roi_labels``.
    """
    key = str(patch_set).strip().lower()
    if key not in PATCH_SETS:
        raise ValueError(f"patch_set must be one of {sorted(PATCH_SETS)}. Received: {patch_set!r}")
    if len(roi_masks) != len(roi_labels):
        raise ValueError(
            "roi_labels needs one label per ROI mask. "
            f"Received: {len(roi_masks)} masks, {len(roi_labels)} labels"
        )
    size = int(patch_size)
    if size < 1:
        raise ValueError(f"patch_size must be positive. Received: patch_size={patch_size!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    per_roi, n_background = PATCH_SETS[key]
    masks = [np.asarray(m) != 0 for m in roi_masks]
    if breast_mask is None:
        shape = masks[0].shape if masks else None
        if shape is None:
            raise ValueError("Give breast_mask or at least one ROI mask (for the image shape).")
        breast = np.ones(shape, dtype=bool)
    else:
        breast = np.asarray(breast_mask) != 0
    shape = breast.shape
    for index, mask in enumerate(masks):
        if mask.shape != shape:
            raise ValueError(
                f"ROI mask {index} has shape {mask.shape}, the image {shape}. "
                "Resize masks with their image first."
            )

    windows: list[PatchWindow] = []
    shortfalls: list[tuple[int, str]] = []
    union = np.zeros(shape, dtype=bool)
    for index, (mask, label) in enumerate(zip(masks, roi_labels)):
        union |= mask
        area = int(mask.sum())
        if area == 0:
            shortfalls.append((index, "empty ROI mask, no patch"))
            continue
        table = _integral(mask)
        rows, cols = np.nonzero(mask)
        r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
        if key == "s":
            top = _place(np.array([(r0 + r1) // 2]), size, shape[0])
            left = _place(np.array([(c0 + c1) // 2]), size, shape[1])
            ratio = float(_overlap(table, area, shape, top, left, size)[0])
            windows.append(PatchWindow(int(top[0]), int(left[0]), size, int(label), index, ratio))
            continue
        chosen: list[PatchWindow] = []
        seen: set[tuple[int, int]] = set()
        for _ in range(rounds):
            tops = _place(rng.integers(r0, r1 + 1, size=candidates), size, shape[0])
            lefts = _place(rng.integers(c0, c1 + 1, size=candidates), size, shape[1])
            ratios = _overlap(table, area, shape, tops, lefts, size)
            for i in _unique_in_order(tops, lefts):
                pos = (int(tops[i]), int(lefts[i]))
                if ratios[i] >= min_overlap and pos not in seen:
                    seen.add(pos)
                    chosen.append(PatchWindow(*pos, size, int(label), index, float(ratios[i])))
                    if len(chosen) == per_roi:
                        break
            if len(chosen) == per_roi:
                break
        if len(chosen) < per_roi:
            shortfalls.append(
                (index, f"only {len(chosen)} of {per_roi} patches overlap the ROI by >= "
                 f"{min_overlap:.0%}")
            )
        windows.extend(chosen)

    union_table = _integral(union)
    breast_table = _integral(breast)
    background: list[PatchWindow] = []
    seen = set()
    for _ in range(rounds):
        tops = rng.integers(0, max(shape[0] - size, 0) + 1, size=candidates)
        lefts = rng.integers(0, max(shape[1] - size, 0) + 1, size=candidates)
        areas = _window_areas(shape, tops, lefts, size)
        free = _window_sums(union_table, tops, lefts, size) == 0
        inside = _window_sums(breast_table, tops, lefts, size) >= min_breast_fraction * areas
        centre_r = np.minimum(tops + size // 2, shape[0] - 1)
        centre_c = np.minimum(lefts + size // 2, shape[1] - 1)
        ok = free & inside & breast[centre_r, centre_c]
        for i in _unique_in_order(tops, lefts):
            pos = (int(tops[i]), int(lefts[i]))
            if ok[i] and pos not in seen:
                seen.add(pos)
                background.append(PatchWindow(*pos, size, 0, -1, 0.0))
                if len(background) == n_background:
                    break
        if len(background) == n_background:
            break
    if len(background) < n_background:
        shortfalls.append(
            (-1, f"only {len(background)} of {n_background} background patches fit inside "
             "the breast without touching an ROI")
        )
    return windows + background, shortfalls


def crop_patch(image: np.ndarray, window: PatchWindow) -> np.ndarray:
    """Cuts a window out of an image, zero-padding where the image is smaller than it.

    Args:
        image: 2-D array.
        window: from ``sample_patch_windows``.

    Returns:
        Array of shape ``(window.size, window.size)`` and the image's dtype.
    """
    image = np.asarray(image)
    part = image[window.top : window.top + window.size, window.left : window.left + window.size]
    if part.shape == (window.size, window.size):
        return part.copy()
    out = np.zeros((window.size, window.size), dtype=image.dtype)
    out[: part.shape[0], : part.shape[1]] = part
    return out
