"""Synthetic Duke-Breast-Cancer-MRI (DBC) in TCIA's layout, as input for ``keras-mia prepare dbc``.

Written (all images synthetic)::

    OUT/Duke-Breast-Cancer-MRI/Breast_MRI_001/01-01-1990-NA-MRI BREAST BILATERAL W  WO-NNNNN/
        3.000000-ax dyn pre-NNNNN/1-01.dcm ...       one folder per series, one file per slice
    OUT/Annotation_Boxes.csv                         CRLF, 1-based inclusive voxel boxes

Each patient has a non-fat-saturated T1 series, the pre-contrast fat-saturated series and
one or two post-contrast series, named in one of the vendor styles found in DBC (``ax t1`` /
``ax dyn pre`` / ``ax dyn 1st pass``; ``ax 3d dyn pre``; ``t1_fl3d_tra_dynVIEW_pre``). The
tumour (an ellipsoid in one breast) is brighter than glandular tissue in the pre-contrast
series and brightest after contrast; fat is dark with fat saturation and bright without.
Quirks reproduced: the second patient's InstanceNumber runs against the slice position
(slice 1 is the most superior); the third patient's series carry no recognisable
pre-contrast name (``Ax Vibrant MultiPhase``), as happens in DBC; ``Annotation_Boxes.csv``
has a row for a patient whose images were not downloaded. The annotation's slice numbers
count slices in InstanceNumber order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_N", "DEFAULT_SIZE", "DEFAULT_SLICES", "SERIES_STYLES", "write_dbc"]

DEFAULT_N = 5
DEFAULT_SIZE = 48
DEFAULT_SLICES = 32
# (SeriesDescription, contrast) per series; one style per patient, cycling.
SERIES_STYLES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("ax t1", "t1"), ("ax dyn pre", "pre"), ("ax dyn 1st pass", "post")),
    (("ax 3d t1 bilat", "t1"), ("ax 3d dyn pre", "pre"), ("ax 3d dyn 1st pass", "post")),
    (("ax t1", "t1"), ("Ax Vibrant MultiPhase", "post")),
    (("t1_fl3d_tra_non_fs", "t1"), ("t1_fl3d_tra_dynVIEW_pre", "pre"),
     ("t1_fl3d_tra_dynVIEW_post_1", "post")),
    (("ax t1 tse", "t1"), ("Ax 3D Dyn Pre FS", "pre"), ("Ax 3D Dyn 1st pass FS", "post")),
)
_HEADER = "Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice"
_THICKNESS_MM = 2.0
_PIXEL_MM = 0.7


def _render(rng, slices: int, size: int):
    """Volumes per contrast and the tumour's 0-based inclusive (slices, rows, cols) box."""
    from keras_mia.synth import shapes

    y, x = shapes.normalized_grid(size, size)
    wall = rng.uniform(0.05, 0.2)
    px = 2.0 / size
    texture = shapes.smooth_noise(rng, (slices, size, size), (0.8, 1.5, 1.5))
    density = rng.uniform(-0.3, 0.6)
    body = shapes.soft_inside(
        shapes.superellipse_radius(y, x, wall + 0.9, 0.0, 0.9, 1.0, 3.0) - 1.0, px
    ) * (y > wall)
    side = 1.0 if rng.random() < 0.5 else -1.0
    breasts = [(s * rng.uniform(0.45, 0.52), rng.uniform(0.38, 0.46), rng.uniform(0.7, 0.9))
               for s in (-1.0, 1.0)]

    length = int(rng.integers(4, 6))
    first = int(rng.integers(slices // 2 - 4, slices // 2 - 1))
    centre_slice = first + (length - 1) / 2.0
    host = breasts[0] if side < 0 else breasts[1]
    t_row = wall - rng.uniform(0.3, 0.5) * host[2]
    t_col = host[0] + rng.uniform(-0.25, 0.25) * host[1]
    t_radius = rng.uniform(0.1, 0.16)

    volumes = {kind: np.empty((slices, size, size), np.float32) for kind in ("t1", "pre", "post")}
    tumour_box = np.zeros((size, size), dtype=bool)
    z = (np.arange(slices, dtype=np.float32) + 0.5) / slices * 2.0 - 1.0
    for k in range(slices):
        breast = np.zeros_like(y)
        for cx, rx, ry in breasts:
            shrink = math.sqrt(max(0.0, 1.0 - (z[k] / 1.3) ** 2))
            r = shapes.ellipse_radius(y, x, wall, cx, ry * shrink, rx * shrink)
            breast = np.maximum(breast, shapes.soft_inside(r - 1.0, px / rx) * (y <= wall))
        glandular = breast / (1.0 + np.exp(-(texture[k] - density) / 0.3))
        fat = breast - glandular
        tumour = np.zeros_like(y)
        if first <= k < first + length:
            scale = math.sqrt(max(0.05, 1.0 - ((k - centre_slice) / (length / 2.0 + 0.3)) ** 2))
            tumour = shapes.soft_inside(
                shapes.ellipse_radius(y, x, t_row, t_col, t_radius * scale, t_radius * scale * 1.2)
                - 1.0, px / t_radius,
            ) * breast
            tumour_box |= tumour > 0.5
        volumes["pre"][k] = 0.1 * fat + 0.45 * glandular + 0.3 * body
        volumes["t1"][k] = 0.85 * fat + 0.35 * glandular + 0.4 * body
        volumes["post"][k] = 0.12 * fat + 0.55 * glandular + 0.35 * body
        volumes["pre"][k] = volumes["pre"][k] * (1 - tumour) + 0.8 * tumour
        volumes["t1"][k] = volumes["t1"][k] * (1 - tumour) + 0.35 * tumour
        volumes["post"][k] = volumes["post"][k] * (1 - tumour) + 1.0 * tumour
    rows, cols = np.nonzero(tumour_box)
    box = (first, first + length - 1, int(rows.min()), int(rows.max()), int(cols.min()),
           int(cols.max()))
    out = {}
    for kind, volume in volumes.items():
        noisy = volume + rng.normal(0.0, 0.02, size=volume.shape).astype(np.float32)
        out[kind] = np.clip(np.rint(np.abs(noisy) * 1200.0), 0, 65535).astype(np.uint16)
    return out, box


def write_dbc(out: Path, n: int | None, seed: int, image_size=None, slices: int | None = None):
    """Writes the synthetic DBC download into ``out`` (see the module docstring).

    Args:
        out: an empty folder.
        n: number of patients (default 5; the third has no recognisable pre-contrast series).
        seed: random seed.
        image_size: slice side in pixels (default 48).
        slices: slices per series (default 32).

    Returns:
        ``out``.
    """
    from keras_mia.synth.common import synthetic_uid
    from keras_mia.synth.raw._dicom import write_slice

    n = DEFAULT_N if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1. Received: n={n}")
    size = DEFAULT_SIZE if image_size is None else int(
        image_size if np.isscalar(image_size) else image_size[0]
    )
    slices = DEFAULT_SLICES if slices is None else int(slices)
    if size < 24 or slices < 24:
        raise ValueError(
            f"DBC slices need at least 24 x 24 pixels and 24 slices. Received: "
            f"image_size={image_size!r}, slices={slices!r}"
        )
    rng = np.random.default_rng(seed)
    root = out / "Duke-Breast-Cancer-MRI"
    lines = [_HEADER]
    for p in range(n):
        patient = f"Breast_MRI_{p + 1:03d}"
        volumes, (s0, s1, r0, r1, c0, c1) = _render(rng, slices, size)
        lines.append(f"{patient},{r0 + 1},{r1 + 1},{c0 + 1},{c1 + 1},{s0 + 1},{s1 + 1}")
        reversed_z = p % 5 == 1
        study = synthetic_uid("dbc", seed, patient, "study")
        study_dir = root / patient / f"01-01-1990-NA-MRI BREAST BILATERAL W  WO-{10000 + p}"
        for number, (description, kind) in enumerate(SERIES_STYLES[p % len(SERIES_STYLES)], 2):
            series = synthetic_uid("dbc", seed, patient, description)
            folder = study_dir / f"{number}.000000-{description}-{20000 + 7 * p + number}"
            for k in range(slices):
                position = (slices - 1 - k) if reversed_z else k
                z = -40.0 + position * _THICKNESS_MM
                write_slice(
                    folder / f"1-{k + 1:02d}.dcm",
                    volumes[kind][k],
                    sop_uid=synthetic_uid("dbc", seed, patient, description, k),
                    modality="MR",
                    patient_id=patient,
                    study_uid=study,
                    series_uid=series,
                    series_description=description,
                    instance_number=k + 1,
                    extra={
                        "SliceLocation": z,
                        "SeriesNumber": number,
                        "ImagePositionPatient": [-size * _PIXEL_MM / 2, -size * _PIXEL_MM / 2, z],
                        "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
                        "PixelSpacing": [_PIXEL_MM, _PIXEL_MM],
                        "SliceThickness": _THICKNESS_MM,
                    },
                )
    lines.append(f"Breast_MRI_{n + 900:03d},10,20,10,20,5,9")
    (out / "Annotation_Boxes.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
    return out
