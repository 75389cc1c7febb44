"""Synthetic stand-in for CBIS-DDSM full-field mammograms as Shen et al. (seed 002, whole-image
classifier) and Scuccimarra (seed 003, dense prediction) use them: 16-bit grey images of one
breast on a black background with the merged full-size ROI mask of each image.

Each patient has one breast (left or right) imaged in the CC and MLO views; its finding is
normal, a benign or malignant mass, or a benign or malignant calcification cluster (the two
views are drawn independently: the lesion is not at corresponding positions). Images show:

- the breast outline against the chest-wall edge (left breasts on the image's left, right
  breasts on its right, as displayed in DICOM), thinning towards the skin line; in MLO views
  the pectoral muscle as a bright triangle in the upper chest-wall corner;
- fatty and fibroglandular tissue from multi-scale random textures, with a random density;
- masses: benign ones round or oval with smooth borders, malignant ones irregular with
  spicules (brightness and size drawn from the same ranges for both);
- calcification clusters: benign ones few, larger, round and scattered; malignant ones many,
  tiny, pleomorphic and aligned in short branching rows (speck brightness alike);
- isolated benign-looking specks in any image, and a burned-in bright text label such as
  ``"L-CC"`` plus sometimes a bright edge strip, outside the breast, like the scanned films'
  markers.

Masks are 8-bit PNGs (0 / 255) of the image's size, the union of all ROIs; normal images get an
empty mask. Every ``dicom_every``-th image is written as a DICOM MG file (alternating
MONOCHROME2 and MONOCHROME1 storage) instead of a 16-bit PNG, so both readers are exercised.

Manifest columns: image_path, label (``normal``/``benign``/``malignant``), patient_id, split,
mask_path, view (``CC``/``MLO``), laterality (``L``/``R``), abnormality
(``mass``/``calcification``/``none``), pathology (same values as label), dataset.
The default size 288 x 224 is Shen's 1152 x 896 divided by 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_mia.synth import shapes
from keras_mia.synth.common import (
    assign_splits,
    parse_size,
    prepare_out_dir,
    synthetic_uid,
    write_dicom_reproducible,
    write_info,
    write_manifest_csv,
    write_png_gray,
)

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SIZE",
    "FINDINGS",
    "Roi",
    "Mammogram",
    "render_mammogram",
    "to_uint16",
    "parse_mammo_size",
    "minimum_images",
    "finding_quota",
    "plan_patients",
    "generate",
]

DEFAULT_N = 120
DEFAULT_SIZE: tuple[int, int] = (288, 224)
# (abnormality, pathology) of each finding kind; patients cycle through them evenly.
FINDINGS: dict[str, tuple[str, str]] = {
    "normal": ("none", "normal"),
    "mass_benign": ("mass", "benign"),
    "mass_malignant": ("mass", "malignant"),
    "calcification_benign": ("calcification", "benign"),
    "calcification_malignant": ("calcification", "malignant"),
}
VIEWS: tuple[str, str] = ("CC", "MLO")
# DICOM PatientOrientation (row, column directions) for breasts drawn with the chest wall on
# the image's left (L) or right (R).
_PATIENT_ORIENTATION = {
    ("L", "CC"): ["A", "R"],
    ("R", "CC"): ["P", "L"],
    ("L", "MLO"): ["A", "FR"],
    ("R", "MLO"): ["P", "FL"],
}
MIN_SIZE = 48


@dataclass
class Roi:
    """One lesion: its full-size boolean mask and what it is."""

    mask: np.ndarray
    abnormality: str
    pathology: str


@dataclass
class Mammogram:
    """A rendered mammogram before intensity quantisation.

    Attributes:
        image: float32 (H, W) in [0, 1], bright = dense.
        breast: boolean (H, W) breast region (pectoral muscle included).
        rois: the lesions, possibly none.
        laterality: ``"L"`` or ``"R"``.
        view: ``"CC"`` or ``"MLO"``.
    """

    image: np.ndarray
    breast: np.ndarray
    rois: list[Roi] = field(default_factory=list)
    laterality: str = "L"
    view: str = "CC"

    @property
    def mask(self) -> np.ndarray:
        """The union of every ROI mask, uint8 0/255."""
        merged = np.zeros(self.breast.shape, dtype=bool)
        for roi in self.rois:
            merged |= roi.mask
        return merged.astype(np.uint8) * 255


def parse_mammo_size(image_size) -> tuple[int, int]:
    """``None`` -> 288 x 224; an int is the height, the width keeping Shen's 9:7 aspect."""
    size = image_size
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), max(1, int(round(int(size) * 7 / 9))))
    height, width = parse_size(size, DEFAULT_SIZE)
    if min(height, width) < MIN_SIZE:
        raise ValueError(
            f"mammo images must be at least {MIN_SIZE} pixels each way. "
            f"Received: image_size={image_size}"
        )
    return height, width


def _breast_region(rng, height, width, view):
    """Breast mask (soft), normalised radius map, and pectoral-muscle membership."""
    yy, dd = np.mgrid[0:height, 0:width].astype(np.float32)  # dd: distance from chest wall
    scale = height / 288.0
    depth = rng.uniform(0.55, 0.85) * width
    if view == "CC":
        cy = rng.uniform(0.42, 0.58) * height
        half = rng.uniform(0.3, 0.42) * height
        tilt = 0.0
    else:
        cy = rng.uniform(0.5, 0.62) * height
        half = rng.uniform(0.36, 0.46) * height
        tilt = math.radians(rng.uniform(8, 22))
    dy = yy - cy
    u = dd * math.cos(tilt) - dy * math.sin(tilt)
    v = dd * math.sin(tilt) + dy * math.cos(tilt)
    theta = np.arctan2(v / half, u / depth)
    wobble = 1.0 + 0.03 * np.cos(3 * theta + rng.uniform(0, 6.3)) + 0.02 * np.cos(
        5 * theta + rng.uniform(0, 6.3)
    )
    radius = np.sqrt((u / depth) ** 2 + (v / half) ** 2) / wobble
    pectoral = np.zeros_like(radius)
    if view == "MLO":
        # The upper breast runs up to the axilla along the chest wall, widening from a top
        # width that contains the pectoral muscle's triangle.
        p_width = rng.uniform(0.22, 0.4) * width
        p_height = rng.uniform(0.35, 0.65) * height
        top = p_width * rng.uniform(1.25, 1.5)
        # Staying narrower than the (tilted) ellipse near its widest row avoids a notch.
        reach = top + (0.75 * depth - top) * np.clip(yy / cy, 0.0, 1.0) ** 2
        radius = np.where(yy < cy, np.minimum(radius, dd / reach), radius)
        pectoral = shapes.soft_inside((dd / p_width + yy / p_height - 1.0) * p_width, 1.5)
    inside = shapes.soft_inside((radius - 1.0) * depth, 1.5 * scale)
    inside = np.maximum(inside, pectoral)
    return inside, np.clip(radius, 0, None), pectoral


def _tissue(rng, inside, radius, pectoral, scale):
    """Fat and fibroglandular texture, thinner (darker) towards the skin line."""
    shape = inside.shape
    thickness = np.sqrt(np.clip(1.0 - radius**2, 0.0, 1.0)) ** 0.6
    thickness = np.maximum(thickness, pectoral)
    texture = (
        0.55 * shapes.smooth_noise(rng, shape, 14 * scale)
        + 0.35 * shapes.smooth_noise(rng, shape, 5 * scale)
        + 0.25 * shapes.smooth_noise(rng, shape, 1.6 * scale)
    )
    density = rng.uniform(-0.6, 0.9)
    central = np.clip(1.2 - radius, 0.0, 1.0)
    glandular = central / (1.0 + np.exp(-(texture - density + 0.6 * central) / 0.3))
    image = inside * thickness * (0.28 + 0.3 * glandular + 0.03 * texture)
    image = image * (1.0 - pectoral) + pectoral * rng.uniform(0.5, 0.7) * (
        1.0 + 0.04 * texture
    )
    return image.astype(np.float32)


def _lesion_centre(rng, radius, pectoral, reach, height, width, avoid=()):
    """A random point well inside the breast, outside the pectoral muscle and at least
    ``2 * reach`` from every point of ``avoid`` (earlier lesions)."""
    for attempt in range(400):
        cy = rng.uniform(reach, height - reach)
        cx = rng.uniform(reach, width - reach)
        iy, ix = int(cy), int(cx)
        # After 200 misses a small breast may lack room: allow lesions to lie closer.
        spacing = 2 * reach if attempt < 200 else reach
        far = all((cy - ay) ** 2 + (cx - ax) ** 2 >= spacing**2 for ay, ax in avoid)
        if radius[iy, ix] < 0.72 and pectoral[iy, ix] < 0.05 and far:
            return cy, cx
    raise RuntimeError("Could not place a lesion inside the synthetic breast.")


def _mass(rng, yy, xx, cy, cx, scale, malignant):
    size = rng.uniform(10, 21) * scale
    core = shapes.irregular_blob(
        yy, xx, cy, cx, size, rng,
        roughness=rng.uniform(0.12, 0.3) if malignant else rng.uniform(0.0, 0.09),
        elongation=rng.uniform(1.0, 1.6),
        edge=(1.0 if malignant else 2.5) * scale,
    )
    density = rng.uniform(0.1, 0.26)
    image = density * shapes.gaussian_blur(core, 0.8 * scale)
    if malignant:
        rays = shapes.spicules(yy, xx, cy, cx, size, rng, int(rng.integers(4, 15)),
                               (0.4, 1.4), 0.9 * scale)
        image = np.maximum(image, rng.uniform(0.3, 0.6) * density * rays)
    return image, core > 0.5


def _calcifications(rng, shape, cy, cx, scale, malignant):
    if malignant:
        count = int(rng.integers(10, 22))
        spread = rng.uniform(6, 12) * scale
        # Specks along a few short branches from the cluster centre.
        branches = rng.uniform(0, 2 * math.pi, size=int(rng.integers(1, 4)))
        which = rng.integers(0, len(branches), size=count)
        along = rng.uniform(-1.0, 1.0, size=count) * spread
        side = rng.normal(0.0, 1.2 * scale, size=count)
        angle = branches[which]
        centres = np.stack(
            [cy + along * np.sin(angle) + side * np.cos(angle),
             cx + along * np.cos(angle) - side * np.sin(angle)], axis=1)
        sigmas = rng.uniform(0.45, 0.8, size=count) * scale
        elongations = rng.uniform(1.0, 2.8, size=count)
    else:
        count = int(rng.integers(3, 9))
        spread = rng.uniform(9, 16) * scale
        angle = rng.uniform(0, 2 * math.pi, size=count)
        dist = spread * np.sqrt(rng.uniform(0.05, 1.0, size=count))
        centres = np.stack([cy + dist * np.sin(angle), cx + dist * np.cos(angle)], axis=1)
        sigmas = rng.uniform(1.0, 1.8, size=count) * scale
        elongations = np.ones(count)
    specks = shapes.gaussian_specks(
        shape, centres, sigmas, elongations, rng.uniform(0, math.pi, size=count)
    )
    image = rng.uniform(0.35, 0.6) * specks
    # The ROI is the cluster's outline: a disc around every speck, with a margin.
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    mcy, mcx = centres.mean(axis=0)
    tails = 2.5 * sigmas * elongations  # where a speck fades below 5 % of its peak
    reach = (np.sqrt(((centres - [mcy, mcx]) ** 2).sum(axis=1)) + tails).max() + 3.0 * scale
    mask = (yy - mcy) ** 2 + (xx - mcx) ** 2 <= reach**2
    return image, mask


def _burn_label(rng, image, breast, text, scale):
    """Writes a bright text label in a corner that does not touch the breast."""
    height, width = image.shape
    mark = shapes.text_mask(text, max(7, int(round(rng.uniform(8, 12) * scale))))
    h, w = mark.shape
    if w >= width // 2:
        mark = mark[:, : width // 2]
        w = mark.shape[1]
    pad = max(2, int(4 * scale))
    corners = [(pad, width - w - pad), (height - h - pad, width - w - pad), (pad, pad),
               (height - h - pad, pad)]
    order = rng.permutation(2)  # top or bottom first on the side away from the chest wall
    candidates = [corners[i] for i in order] + corners[2:]
    grown = shapes.gaussian_blur(breast.astype(np.float32), 2.0 * scale) > 0.01
    for top, left in candidates:
        if not grown[top:top + h, left:left + w].any():
            region = image[top:top + h, left:left + w]
            image[top:top + h, left:left + w] = np.maximum(
                region, rng.uniform(0.85, 1.0) * mark
            )
            return True
    return False


def render_mammogram(
    rng: np.random.Generator,
    height: int,
    width: int,
    laterality: str,
    view: str,
    finding: str,
    rois: int = 1,
) -> Mammogram:
    """Draws one synthetic mammogram.

    Args:
        rng: random state.
        height, width: image size in pixels.
        laterality: ``"L"`` or ``"R"``.
        view: ``"CC"`` or ``"MLO"``.
        finding: one of ``FINDINGS``.
        rois: how many lesions of that kind (ignored for ``"normal"``).

    Returns:
        The ``Mammogram`` (float image, breast region, lesions).
    """
    if finding not in FINDINGS:
        raise ValueError(f"finding must be one of {list(FINDINGS)}. Received: finding={finding!r}")
    scale = height / 288.0
    inside, radius, pectoral = _breast_region(rng, height, width, view)
    image = _tissue(rng, inside, radius, pectoral, scale)
    breast = inside > 0.5
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    abnormality, pathology = FINDINGS[finding]
    found: list[Roi] = []
    lesions = np.zeros_like(image)
    placed: list[tuple[float, float]] = []
    if abnormality != "none":
        for _ in range(rois):
            malignant = pathology == "malignant"
            reach = (40 if abnormality == "mass" else 20) * scale
            cy, cx = _lesion_centre(rng, radius, pectoral, reach, height, width, placed)
            placed.append((cy, cx))
            if abnormality == "mass":
                added, mask = _mass(rng, yy, xx, cy, cx, scale, malignant)
            else:
                added, mask = _calcifications(rng, image.shape, cy, cx, scale, malignant)
            lesions = np.maximum(lesions, added)
            found.append(Roi(mask & breast, abnormality, pathology))
    # Isolated specks (vascular or skin calcifications) appear in any image.
    stray = int(rng.poisson(1.5))
    if stray:
        centres = [_lesion_centre(rng, radius, pectoral, 4, height, width) for _ in range(stray)]
        lesions = np.maximum(
            lesions,
            rng.uniform(0.3, 0.55)
            * shapes.gaussian_specks(image.shape, np.array(centres),
                                     rng.uniform(0.6, 1.6, size=stray) * scale),
        )
    image = image + lesions * inside

    # Display conventions and film nuisances.
    if laterality == "R":
        image, breast = image[:, ::-1].copy(), breast[:, ::-1].copy()
        for roi in found:
            roi.mask = roi.mask[:, ::-1].copy()
    separator = str(rng.choice(["-", " ", ""]))
    _burn_label(rng, image, breast, f"{laterality}{separator}{view}", scale)
    if rng.random() < 0.3:
        strip = max(1, int(round(rng.uniform(1, 3) * scale)))
        far = slice(0, strip) if laterality == "R" else slice(width - strip, width)
        image[:, far] = np.maximum(image[:, far], rng.uniform(0.7, 1.0))
    return Mammogram(np.clip(image, 0.0, 1.0), breast, found, laterality, view)


def to_uint16(rng: np.random.Generator, mammogram: Mammogram) -> np.ndarray:
    """Quantises to 16 bits with a random, label-independent exposure and gamma."""
    image = mammogram.image
    image = np.clip(image * rng.uniform(0.8, 1.15), 0.0, 1.0) ** rng.uniform(0.8, 1.25)
    image = image + rng.uniform(0.0, 0.03) + rng.normal(0.0, 0.004, size=image.shape)
    return np.clip(np.rint(image * rng.uniform(48000, 65535)), 0, 65535).astype(np.uint16)


def finding_quota(n_patients: int, normal_fraction: float) -> list[str]:
    """One finding kind per patient: ``normal_fraction`` normals, the rest spread evenly
    over the four abnormal kinds (in a fixed order; callers shuffle).

    Args:
        n_patients: number of patients.
        normal_fraction: share of normal patients, in [0, 1).

    Returns:
        ``n_patients`` finding kinds.
    """
    abnormal = [kind for kind in FINDINGS if kind != "normal"]
    n_normal = int(round(normal_fraction * n_patients)) if normal_fraction > 0 else 0
    if normal_fraction > 0:
        n_normal = max(3, n_normal)
    kinds = ["normal"] * n_normal
    kinds += [abnormal[i % len(abnormal)] for i in range(n_patients - n_normal)]
    return kinds


def _plan_fits(n_images: int, normal_fraction: float) -> bool:
    """Whether ``n_images`` give 3 patients of every finding kind (see ``plan_patients``)."""
    if n_images < 1:
        return False
    kinds = finding_quota((n_images + 1) // 2, normal_fraction)
    counts = {kind: kinds.count(kind) for kind in set(kinds)}
    return len(counts) >= (5 if normal_fraction > 0 else 4) and min(counts.values()) >= 3


def minimum_images(normal_fraction: float = 0.2) -> int:
    """The smallest ``n`` that :func:`plan_patients` accepts for ``normal_fraction``.

    Args:
        normal_fraction: share of normal patients, in [0, 1).

    Returns:
        The least number of images (e.g. 29 for the default 0.2, 23 for 0).

    Raises:
        ValueError: ``normal_fraction`` is outside [0, 1).
    """
    if not 0.0 <= normal_fraction < 1.0:
        raise ValueError(
            f"normal_fraction must be in [0, 1). Received: normal_fraction={normal_fraction}"
        )
    n = 1
    while not _plan_fits(n, normal_fraction):
        n += 1
    return n


def plan_patients(
    rng: np.random.Generator, n_images: int, normal_fraction: float
) -> list[tuple[str, str, str, list[str]]]:
    """Assigns findings, laterality and views to patients (two views each, the last one may
    have one).

    Args:
        rng: random state.
        n_images: total number of images.
        normal_fraction: share of normal patients, in [0, 1).

    Returns:
        ``(patient_id, finding, laterality, views)`` per patient.

    Raises:
        ValueError: too few images for three patients of every finding kind (needed for
            every split to see every kind).
    """
    n_patients = (n_images + 1) // 2
    if not _plan_fits(n_images, normal_fraction):
        kinds_needed = 5 if normal_fraction > 0 else 4
        least = minimum_images(normal_fraction)
        raise ValueError(
            f"Too few images: 3 patients (2 images each) of each of {kinds_needed} finding "
            f"kinds, so that every split sees every kind, need n >= {least}. Received: "
            f"n={n_images}, normal_fraction={normal_fraction}. Choose n >= {least} (on the "
            f"command line: --n {least} or more)"
        )
    kinds = finding_quota(n_patients, normal_fraction)
    kinds = [kinds[i] for i in rng.permutation(n_patients)]
    plan = []
    for index, kind in enumerate(kinds):
        views = list(VIEWS) if 2 * index + 1 < n_images else [VIEWS[0]]
        plan.append((f"P_{index + 1:05d}", kind, str(rng.choice(["L", "R"])), views))
    return plan


def generate(
    out_dir: str | Path,
    n: int | None = None,
    seed: int = 0,
    image_size=None,
    dicom_every: int = 4,
    normal_fraction: float = 0.2,
    overwrite: bool = False,
) -> Path:
    """Writes the synthetic whole-mammogram data set with masks.

    Args:
        out_dir: destination folder (created; must be empty unless ``overwrite``).
        n: number of images (default ``DEFAULT_N``; two views per patient).
        seed: random seed; the same seed gives byte-identical files.
        image_size: ``(height, width)``, or an int height (width = 7/9 of it); default
            288 x 224.
        dicom_every: every k-th image is a DICOM MG file instead of a PNG (0: none).
        normal_fraction: share of patients without findings (the rest split evenly over
            benign/malignant masses and calcifications). 0 gives only abnormal images.
        overwrite: write into a non-empty folder.

    Returns:
        The path of ``OUT_DIR/manifest.csv``.
    """
    n = DEFAULT_N if n is None else int(n)
    if not 0.0 <= normal_fraction < 1.0:
        raise ValueError(
            f"normal_fraction must be in [0, 1). Received: normal_fraction={normal_fraction}"
        )
    if dicom_every < 0:
        raise ValueError(f"dicom_every must be >= 0. Received: dicom_every={dicom_every}")
    height, width = parse_mammo_size(image_size)
    rng = np.random.default_rng(seed)
    plan = plan_patients(rng, n, normal_fraction)
    out = prepare_out_dir(out_dir, overwrite)
    splits = assign_splits({pid: kind for pid, kind, _, _ in plan}, rng)
    rows = []
    count = 0
    dicoms = 0
    for pid, kind, laterality, views in plan:
        for view in views:
            rois = 2 if kind != "normal" and rng.random() < 0.15 else 1
            mammogram = render_mammogram(rng, height, width, laterality, view, kind, rois)
            pixels = to_uint16(rng, mammogram)
            side = "LEFT" if laterality == "L" else "RIGHT"
            stem = f"{pid}_{side}_{view}"
            count += 1
            if dicom_every and count % dicom_every == 0:
                photometric = "MONOCHROME2" if dicoms % 2 == 0 else "MONOCHROME1"
                dicoms += 1
                relative = Path("images") / f"{stem}.dcm"
                stored = pixels if photometric == "MONOCHROME2" else 65535 - pixels
                write_dicom_reproducible(
                    out / relative,
                    stored.astype(np.uint16),
                    sop_uid=synthetic_uid("mammo", seed, stem),
                    modality="MG",
                    photometric=photometric,
                    patient_id=pid,
                    study_uid=synthetic_uid("mammo", seed, pid, "study"),
                    series_uid=synthetic_uid("mammo", seed, stem, "series"),
                    series_description=f"{side} {view} (synthetic)",
                    instance_number=1,
                    extra={
                        "ImageLaterality": laterality,
                        "ViewPosition": view,
                        "BodyPartExamined": "BREAST",
                        "PatientOrientation": _PATIENT_ORIENTATION[(laterality, view)],
                    },
                )
            else:
                relative = Path("images") / f"{stem}.png"
                write_png_gray(out / relative, pixels, 16)
            mask_relative = Path("masks") / f"{stem}_mask.png"
            write_png_gray(out / mask_relative, mammogram.mask, 8)
            abnormality, pathology = FINDINGS[kind]
            rows.append(
                {
                    "image_path": relative.as_posix(),
                    "label": pathology,
                    "patient_id": pid,
                    "split": splits[pid],
                    "mask_path": mask_relative.as_posix(),
                    "view": view,
                    "laterality": laterality,
                    "abnormality": abnormality,
                    "pathology": pathology,
                    "dataset": "synthetic_mammo",
                }
            )
    manifest = write_manifest_csv(out / "manifest.csv", rows)
    write_info(
        out,
        {
            "recipe": "mammo",
            "synthetic": True,
            "seed": seed,
            "n_images": len(rows),
            "n_patients": len(plan),
            "image_size": [height, width],
            "dicom_images": dicoms,
            "dicom_every": dicom_every,
            "normal_fraction": normal_fraction,
            "labels": {label: sum(r["label"] == label for r in rows)
                       for label in ("normal", "benign", "malignant")},
            "imitates": "CBIS-DDSM full mammograms with merged ROI masks (Shen; Scuccimarra)",
        },
    )
    return manifest
