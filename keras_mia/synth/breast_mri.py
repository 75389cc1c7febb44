"""Synthetic stand-in for the Duke Breast Cancer MRI data set (DBC, TCIA) as Konz's slice
classifier uses it (seed 000): for every patient an axial, fat-saturated, pre-contrast T1
series (SeriesDescription ``"ax dyn pre"``, as DBC names it) written as one DICOM file per
slice (Modality MR, 16-bit, InstanceNumber, SliceLocation, ImagePositionPatient,
ImageOrientationPatient, PixelSpacing, SliceThickness), plus ``OUT/manifest.csv``.

Each volume shows two half-ellipsoid breasts above the chest wall (dark suppressed fat,
brighter fibroglandular tissue with a 3D texture, a thin skin line), the pectoral muscle,
lungs and heart below, a smooth coil-sensitivity bias field and Rician noise. One breast holds
an ellipsoidal tumour with a lobulated border, brighter than the glandular tissue. The
tumour's slice range plays the role of DBC's ``Annotation_Boxes.csv`` box: manifest rows are
the slices inside it (``positive``) and slices more than ``margin`` slices away from it
(``negative``); the slices in between are written to the series but left out of the manifest,
as Konz's recipe skips slices near the box.

Manifest columns: image_path, label, patient_id, split, study_id (the StudyInstanceUID),
slice_index (0-based position in the series, i.e. InstanceNumber - 1), dataset.
"""

from __future__ import annotations

import math
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
)

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SIZE",
    "DEFAULT_SLICES",
    "SERIES_DESCRIPTION",
    "LABELS",
    "render_volume",
    "generate",
]

DEFAULT_N = 20
DEFAULT_SIZE = 64
DEFAULT_SLICES = 16
DEFAULT_MARGIN = 2
SERIES_DESCRIPTION = "ax dyn pre"
LABELS: tuple[str, str] = ("negative", "positive")
FIELD_OF_VIEW_MM = 340.0
SLICE_THICKNESS_MM = 8.0


def render_volume(
    rng: np.random.Generator, slices: int, height: int, width: int, tumour: bool = True
) -> tuple[np.ndarray, tuple[int, int]]:
    """Draws one patient's axial breast volume (anterior at the top of each slice).

    Args:
        rng: random state.
        slices: number of axial slices (inferior to superior).
        height, width: slice size in pixels.
        tumour: draw the tumour (false gives the same volume without it: the random draws
            are the same).

    Returns:
        ``(volume, (first, last))``: float32 ``(slices, height, width)`` signal in about
        [0, 1.2], and the inclusive slice range the tumour occupies.
    """
    y, x = shapes.normalized_grid(height, width)
    z = (np.arange(slices, dtype=np.float32) + 0.5) / slices * 2.0 - 1.0
    px = 2.0 / min(height, width)
    wall = rng.uniform(0.15, 0.35)

    # 3D glandular texture: smoother across slices, thresholded at a patient-specific density.
    texture = shapes.smooth_noise(rng, (slices, height, width), (0.8, 1.8, 1.8))
    density = rng.uniform(-0.6, 0.8)
    breasts = []
    for side in (-1.0, 1.0):
        breasts.append(
            dict(
                cx=side * rng.uniform(0.44, 0.52),
                rx=rng.uniform(0.38, 0.47),
                ry=min(rng.uniform(0.7, 1.0), wall + 0.92),
                cz=rng.uniform(-0.2, 0.2),
                rz=rng.uniform(1.5, 2.0),
            )
        )

    # Tumour: an ellipsoid spanning 2 * half + 1 slices, inside one breast.
    half = int(rng.integers(1, 4))
    centre_slice = int(rng.integers(half, slices - half))
    box = (centre_slice - half, centre_slice + half)
    host = breasts[int(rng.integers(0, 2))]
    t_radius = rng.uniform(0.08, 0.15)
    t_angle = rng.uniform(math.radians(20), math.radians(160))
    t_depth = rng.uniform(0.2, 0.6)
    t_value = rng.uniform(0.6, 0.95)
    blob_rng_seed = int(rng.integers(0, 2**31))
    shrink = math.sqrt(max(0.0, 1.0 - ((z[centre_slice] - host["cz"]) / host["rz"]) ** 2))
    t_centre = (
        wall - t_depth * host["ry"] * shrink * math.sin(t_angle),
        host["cx"] + t_depth * host["rx"] * shrink * math.cos(t_angle),
    )

    # Class-independent bright structures (vessels crossing the slices, the heart's blood
    # pool) as bright as the tumour, so a slice's maximum does not give the tumour away.
    vessels = []
    for _ in range(int(rng.integers(3, 9))):
        b = breasts[int(rng.integers(0, 2))]
        angle, depth = rng.uniform(0.2, math.pi - 0.2), rng.uniform(0.15, 0.8)
        drift = rng.normal(0.0, 0.04, size=2)
        vessels.append((b, angle, depth, drift, rng.uniform(0.02, 0.04), rng.uniform(0.55, 1.0)))
    heart_value = rng.uniform(0.5, 0.9)

    bias = 1.0 + 0.25 * shapes.smooth_noise(rng, (height, width), min(height, width) / 3.0)
    bias *= 1.0 - 0.25 * (y + 1.0) / 2.0  # breast coil: more signal anteriorly

    body = shapes.soft_inside(
        shapes.superellipse_radius(y, x, wall + 0.95, 0.0, 0.95, 1.0, 3.0) - 1.0, px
    ) * (y > wall)
    muscle = body * shapes.soft_inside(np.abs(y - wall - 0.07) - 0.06, px)
    lungs = np.zeros_like(y)
    for side in (-1.0, 1.0):
        r = shapes.ellipse_radius(y, x, wall + 0.62, side * 0.45, 0.35, 0.33)
        lungs = np.maximum(lungs, shapes.soft_inside(r - 1.0, px / 0.3))
    heart = shapes.soft_inside(
        shapes.ellipse_radius(y, x, wall + 0.5, 0.05, 0.22, 0.28) - 1.0, px / 0.2
    )
    chest = body * (0.16 + 0.18 * muscle) * (1.0 - 0.8 * lungs) * (1.0 - heart)
    chest += heart_value * heart * body

    volume = np.empty((slices, height, width), dtype=np.float32)
    for k in range(slices):
        tissue = np.zeros((height, width), dtype=np.float32)
        glandular = np.zeros_like(tissue)
        skin = np.zeros_like(tissue)
        image = chest.copy()
        for b in breasts:
            shrink = math.sqrt(max(0.0, 1.0 - ((z[k] - b["cz"]) / b["rz"]) ** 2))
            rx, ry = b["rx"] * shrink, b["ry"] * shrink
            r = shapes.ellipse_radius(y, x, wall, b["cx"], ry, rx)
            inside = shapes.soft_inside(r - 1.0, px / min(rx, ry)) * (y <= wall)
            tissue = np.maximum(tissue, inside)
            skin = np.maximum(skin, shapes.soft_inside(np.abs(r - 0.97) - 0.02, px / ry)
                              * (y <= wall))
            deep = np.clip(1.0 - r, 0.0, 1.0) ** 0.5
            glandular = np.maximum(
                glandular, inside * deep / (1.0 + np.exp(-(texture[k] - density) / 0.35))
            )
            b["shrink"] = shrink
        image += 0.12 * tissue + 0.38 * glandular + 0.12 * skin
        for b, angle, depth, drift, radius, value in vessels:
            cy = wall - depth * b["ry"] * b["shrink"] * math.sin(angle) + drift[0] * z[k]
            cx = b["cx"] + depth * b["rx"] * b["shrink"] * math.cos(angle) + drift[1] * z[k]
            dot = shapes.soft_inside(np.sqrt((y - cy) ** 2 + (x - cx) ** 2) - radius, px)
            image = image * (1.0 - dot) + value * dot
        if tumour and box[0] <= k <= box[1]:
            shrink = math.sqrt(max(0.0, 1.0 - ((k - centre_slice) / (half + 0.6)) ** 2))
            radius = max(1.0, t_radius * shrink / px)
            yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
            cy = (t_centre[0] + 1.0) / 2.0 * height - 0.5
            cx = (t_centre[1] + 1.0) / 2.0 * width - 0.5
            # The same outline on every slice: a fresh generator with the drawn seed.
            blob = shapes.irregular_blob(
                yy, xx, cy, cx, radius, np.random.default_rng(blob_rng_seed), roughness=0.15,
                elongation=1.3,
            )
            grain = 1.0 + 0.08 * texture[k]
            image = image * (1.0 - blob) + blob * t_value * grain
        volume[k] = image * bias
    return volume, box


def _rician(rng: np.random.Generator, volume: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude-image noise: |signal + complex Gaussian noise|."""
    real = volume + rng.normal(0.0, sigma, size=volume.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, size=volume.shape).astype(np.float32)
    return np.sqrt(real * real + imag * imag)


def generate(
    out_dir: str | Path,
    n: int | None = None,
    seed: int = 0,
    image_size=None,
    slices: int = DEFAULT_SLICES,
    margin: int = DEFAULT_MARGIN,
    overwrite: bool = False,
) -> Path:
    """Writes the synthetic breast MRI slice data set.

    Args:
        out_dir: destination folder (created; must be empty unless ``overwrite``).
        n: number of patients (default ``DEFAULT_N``, at least 3).
        seed: random seed; the same seed gives byte-identical files.
        image_size: slice size, an int or ``(height, width)`` (default 64 x 64).
        slices: slices per series (at least ``2 * margin + 8`` so every patient has
            negative slices).
        margin: slices next to the tumour box that are left unlabelled (DBC recipe).
        overwrite: write into a non-empty folder.

    Returns:
        The path of ``OUT_DIR/manifest.csv``.
    """
    n = DEFAULT_N if n is None else int(n)
    if n < 3:
        raise ValueError(
            f"breast_mri needs n >= 3 patients (one per split). Received: n={n}. Choose "
            "n >= 3 (on the command line: --n 3 or more)"
        )
    if margin < 0 or slices < 2 * margin + 8:
        raise ValueError(
            "breast_mri needs margin >= 0 and slices >= 2 * margin + 8. "
            f"Received: slices={slices}, margin={margin}"
        )
    height, width = parse_size(image_size, (DEFAULT_SIZE, DEFAULT_SIZE))
    if min(height, width) < 16:
        raise ValueError(
            f"breast_mri slices must be at least 16 pixels. Received: image_size={image_size}"
        )
    out = prepare_out_dir(out_dir, overwrite)
    rng = np.random.default_rng(seed)

    patients = [f"Breast_MRI_{index + 1:03d}" for index in range(n)]
    # Every patient has both classes, so one stratum.
    splits = assign_splits({pid: "all" for pid in patients}, rng)
    spacing = FIELD_OF_VIEW_MM / max(height, width)
    rows = []
    skipped = 0
    for pid in patients:
        volume, box = render_volume(rng, slices, height, width)
        volume = _rician(rng, volume, rng.uniform(0.015, 0.04))
        gain = rng.uniform(600.0, 2500.0)
        stored = np.clip(np.rint(volume * gain), 0, 65535).astype(np.uint16)
        study_uid = synthetic_uid("breast_mri", seed, pid, "study")
        series_uid = synthetic_uid("breast_mri", seed, pid, "series")
        origin_z = rng.uniform(-80.0, -40.0)
        for k in range(slices):
            location = float(round(origin_z + k * SLICE_THICKNESS_MM, 3))
            relative = Path(pid) / "ax_dyn_pre" / f"1-{k + 1:03d}.dcm"
            write_dicom_reproducible(
                out / relative,
                stored[k],
                sop_uid=synthetic_uid("breast_mri", seed, pid, "slice", k),
                modality="MR",
                patient_id=pid,
                study_uid=study_uid,
                series_uid=series_uid,
                series_description=SERIES_DESCRIPTION,
                instance_number=k + 1,
                slice_location=location,
                extra={
                    "ImagePositionPatient": [
                        -FIELD_OF_VIEW_MM / 2, -FIELD_OF_VIEW_MM / 2, location
                    ],
                    "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
                    "PixelSpacing": [round(spacing, 4), round(spacing, 4)],
                    "SliceThickness": SLICE_THICKNESS_MM,
                    "SeriesNumber": 3,
                    "BodyPartExamined": "BREAST",
                    "PatientPosition": "FFP",
                    "StudyDescription": "MRI BREAST BILATERAL (synthetic)",
                },
            )
            if box[0] <= k <= box[1]:
                label = "positive"
            elif k < box[0] - margin or k > box[1] + margin:
                label = "negative"
            else:
                skipped += 1
                continue
            rows.append(
                {
                    "image_path": relative.as_posix(),
                    "label": label,
                    "patient_id": pid,
                    "split": splits[pid],
                    "study_id": study_uid,
                    "slice_index": k,
                    "dataset": "synthetic_breast_mri",
                }
            )
    manifest = write_manifest_csv(out / "manifest.csv", rows)
    write_info(
        out,
        {
            "recipe": "breast_mri",
            "synthetic": True,
            "seed": seed,
            "n_patients": n,
            "slices_per_series": slices,
            "slice_size": [height, width],
            "margin": margin,
            "rows": len(rows),
            "positive_rows": sum(row["label"] == "positive" for row in rows),
            "negative_rows": sum(row["label"] == "negative" for row in rows),
            "unlabelled_boundary_slices": skipped,
            "series_description": SERIES_DESCRIPTION,
            "imitates": "Duke Breast Cancer MRI pre-contrast fat-sat slices (Konz)",
        },
    )
    return manifest
