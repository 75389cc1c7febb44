"""Synthetic stand-in for Shen et al.'s patch data set "S" (seed 002): square 16-bit PNG patches
cut from synthetic mammograms (``keras_mia.synth.mammo``), five classes:

====================================  =====================================
label (sorted order = class index)    content
====================================  =====================================
``0_background``                      breast tissue away from every lesion
``1_malignant_calcification``         a malignant calcification cluster
``2_benign_calcification``            a benign calcification cluster
``3_malignant_mass``                  a malignant (irregular, spiculated) mass
``4_benign_mass``                     a benign (round, smooth) mass
====================================  =====================================

As in set S, every source mammogram gives one patch centred on each ROI (the centre of the
ROI's bounding box) and one background patch whose centre lies inside the breast and whose
window overlaps no ROI. Source mammograms all hold a finding (masses and calcifications,
benign and malignant, in equal shares) and have ``patch * 4.5`` x ``patch * 3.5`` pixels, the
ratio of Shen's 224-pixel patches to 1152 x 896 images.

Patches are written to ``OUT/<split>/<label>/<image>_<roi|bkg>.png``. Manifest columns:
image_path, label, patient_id, split, view, laterality, abnormality, pathology, dataset.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from keras_mia.synth.common import (
    assign_splits,
    parse_size,
    prepare_out_dir,
    write_info,
    write_manifest_csv,
    write_png_gray,
)
from keras_mia.preprocessing.patches import PATCH_LABELS
from keras_mia.synth.mammo import plan_patients, render_mammogram, to_uint16

__all__ = ["PATCH_CLASSES", "DEFAULT_N", "DEFAULT_PATCH", "patch_label", "source_size", "generate"]

# The same class names as the real CBIS-DDSM patch sets (``keras-mia prepare --patches``).
PATCH_CLASSES: tuple[str, ...] = PATCH_LABELS
DEFAULT_N = 160
DEFAULT_PATCH = 64
MIN_PATCH = 16
BACKGROUND_TRIES = 500


def patch_label(abnormality: str, pathology: str) -> str:
    """The class name of a patch, e.g. ``("mass", "benign") -> "4_benign_mass"``.

    Args:
        abnormality: ``"mass"``, ``"calcification"`` or ``"none"`` (background).
        pathology: ``"benign"`` or ``"malignant"`` (ignored for background).

    Returns:
        One of ``PATCH_CLASSES``.
    """
    if abnormality == "none":
        return PATCH_CLASSES[0]
    for name in PATCH_CLASSES[1:]:
        if name.endswith(f"_{pathology}_{abnormality}"):
            return name
    raise ValueError(
        f"No patch class for abnormality={abnormality!r}, pathology={pathology!r}"
    )


def source_size(patch: int) -> tuple[int, int]:
    """Source mammogram size for a patch size: Shen's 224 : 1152 x 896 ratio, in 8s."""
    return (max(64, 8 * round(patch * 4.5 / 8)), max(64, 8 * round(patch * 3.5 / 8)))


def _window(centre: tuple[float, float], patch: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of a ``patch`` window centred near ``centre``, kept inside the image."""
    top = int(round(centre[0] - patch / 2))
    left = int(round(centre[1] - patch / 2))
    return (int(np.clip(top, 0, shape[0] - patch)), int(np.clip(left, 0, shape[1] - patch)))


def _background_window(rng, breast: np.ndarray, rois: np.ndarray, patch: int):
    """A random window centred inside the breast that touches no ROI, or None."""
    ys, xs = np.nonzero(breast)
    for _ in range(BACKGROUND_TRIES):
        pick = int(rng.integers(0, len(ys)))
        top, left = _window((ys[pick], xs[pick]), patch, breast.shape)
        if not rois[top:top + patch, left:left + patch].any():
            return top, left
    return None


def generate(
    out_dir: str | Path,
    n: int | None = None,
    seed: int = 0,
    image_size=None,
    overwrite: bool = False,
) -> Path:
    """Writes the synthetic five-class patch data set.

    Args:
        out_dir: destination folder (created; must be empty unless ``overwrite``).
        n: number of source mammograms (default ``DEFAULT_N``, two views per patient; at
            least 23, i.e. three patients per lesion kind).
        seed: random seed; the same seed gives byte-identical files.
        image_size: the patch side in pixels (default 64; Shen used 224); an int or a
            square ``(size, size)`` pair.
        overwrite: write into a non-empty folder.

    Returns:
        The path of ``OUT_DIR/manifest.csv``.
    """
    n = DEFAULT_N if n is None else int(n)
    height, width = parse_size(image_size, (DEFAULT_PATCH, DEFAULT_PATCH))
    if height != width or height < MIN_PATCH:
        raise ValueError(
            f"mammo_patch patches are square and at least {MIN_PATCH} pixels. "
            f"Received: image_size={image_size}"
        )
    patch = height
    src_h, src_w = source_size(patch)
    rng = np.random.default_rng(seed)
    plan = plan_patients(rng, n, normal_fraction=0.0)
    out = prepare_out_dir(out_dir, overwrite)
    splits = assign_splits({pid: kind for pid, kind, _, _ in plan}, rng)

    rows = []
    skipped = []
    for pid, kind, laterality, views in plan:
        for view in views:
            rois = 2 if rng.random() < 0.15 else 1
            mammogram = render_mammogram(rng, src_h, src_w, laterality, view, kind, rois)
            pixels = to_uint16(rng, mammogram)
            side = "LEFT" if laterality == "L" else "RIGHT"
            stem = f"{pid}_{side}_{view}"
            union = mammogram.mask > 0
            cuts = []
            for index, roi in enumerate(mammogram.rois, start=1):
                ys, xs = np.nonzero(roi.mask)
                if len(ys) == 0:
                    skipped.append(f"{stem} ROI {index}: empty mask")
                    continue
                centre = ((ys.min() + ys.max()) / 2.0, (xs.min() + xs.max()) / 2.0)
                cuts.append((f"roi{index}", _window(centre, patch, union.shape), roi))
            corner = _background_window(rng, mammogram.breast, union, patch)
            if corner is None:
                skipped.append(f"{stem} background: no window inside the breast avoids the ROIs")
            else:
                cuts.append(("bkg", corner, None))
            for suffix, (top, left), roi in cuts:
                abnormality = "none" if roi is None else roi.abnormality
                pathology = "normal" if roi is None else roi.pathology
                label = patch_label(abnormality, pathology)
                relative = Path(splits[pid]) / label / f"{stem}_{suffix}.png"
                write_png_gray(out / relative, pixels[top:top + patch, left:left + patch], 16)
                rows.append(
                    {
                        "image_path": relative.as_posix(),
                        "label": label,
                        "patient_id": pid,
                        "split": splits[pid],
                        "view": view,
                        "laterality": laterality,
                        "abnormality": abnormality,
                        "pathology": pathology,
                        "dataset": "synthetic_mammo_patch",
                    }
                )
    if skipped:
        warnings.warn(
            f"mammo_patch skipped {len(skipped)} patch(es): " + "; ".join(skipped), stacklevel=2
        )
    manifest = write_manifest_csv(out / "manifest.csv", rows)
    write_info(
        out,
        {
            "recipe": "mammo_patch",
            "synthetic": True,
            "seed": seed,
            "n_source_images": sum(len(views) for _, _, _, views in plan),
            "n_patients": len(plan),
            "patch_size": patch,
            "source_size": [src_h, src_w],
            "patches": {label: sum(r["label"] == label for r in rows) for label in PATCH_CLASSES},
            "skipped": skipped,
            "imitates": "Shen et al. set S patches from CBIS-DDSM",
        },
    )
    return manifest
