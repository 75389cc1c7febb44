"""Synthetic mini-MIAS in its distributed layout, as input for ``keras-mia prepare mias``.

Written: ``OUT/mdb001.pgm`` ... (8-bit binary PGM, 1024 x 1024: a film strip drawn by
``keras_mia.synth.mammo.render_mammogram`` at 256 x 192 and enlarged 4x, like MIAS's
200-micron film scans, centred between columns of exact zeros as mini-MIAS pads its strips,
with the unexposed film fogged to 4-14 of 255 - around 5 % of the range, which is what made
breast segmentation take whole strips on the real set) and ``OUT/Info.txt``: a few
description lines, then one row per abnormality ``REFNUM BG CLASS SEVERITY X Y RADIUS`` with
the centre measured from the image's bottom-left corner. Quirks reproduced: NORM rows have no
severity; the second image of every four has two lesions (two rows); one image's abnormal row
has no coordinates; rows end with a trailing space as in the real file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_N", "SIZE", "write_mias"]

DEFAULT_N = 8
SIZE = 1024
_RENDER = 256
_FILM_WIDTH = 192  # rendered width of the film strip; x4 = 768 of the 1024 columns
_PAD = (SIZE - 4 * _FILM_WIDTH) // 2
# (finding, MIAS class, severity) cycling over the images.
_PLAN = (
    ("normal", "NORM", None),
    ("mass_benign", "CIRC", "B"),
    ("mass_malignant", "SPIC", "M"),
    ("calcification_malignant", "CALC", "M"),
    ("normal", "NORM", None),
    ("calcification_benign", "CALC", "B"),
    ("mass_malignant", "MISC", "M"),
    ("mass_benign", "ARCH", "B"),
)
_HEADER = """\
Synthetic mini-MIAS stand-in written by keras_mia (not real patient data).
1st column: MIAS database reference number.
2nd column: Character of background tissue: F Fatty, G Fatty-glandular, D Dense-glandular.
3rd column: Class of abnormality present: CALC, CIRC, SPIC, MISC, ARCH, ASYM, NORM.
4th column: Severity of abnormality: B Benign, M Malignant.
5th,6th columns: x,y image-coordinates of centre of abnormality (origin bottom-left).
7th column: Approximate radius (in pixels) of a circle enclosing the abnormality.
"""


def _enclosing_circle(mask: np.ndarray) -> tuple[int, int, int]:
    """``(x, y, radius)`` in MIAS coordinates of a circle around the mask's pixels."""
    rows, cols = np.nonzero(mask)
    cy, cx = rows.mean(), cols.mean()
    radius = int(np.ceil(np.sqrt(((rows - cy) ** 2 + (cols - cx) ** 2).max()))) + 2
    return int(round(cx)), int(round(mask.shape[0] - cy)), radius


def write_mias(out: Path, n: int | None, seed: int, image_size=None) -> Path:
    """Writes the synthetic mini-MIAS files into ``out`` (see the module docstring).

    Args:
        out: an empty folder.
        n: number of images (default 8; pairs of images are one woman's two breasts).
        seed: random seed.
        image_size: must be ``None`` or 1024: mini-MIAS images are 1024 x 1024.

    Returns:
        ``out``.
    """
    from PIL import Image

    from keras_mia.synth.mammo import render_mammogram

    if image_size not in (None, SIZE, (SIZE, SIZE)):
        raise ValueError(
            f"mini-MIAS images are {SIZE} x {SIZE}. Received: image_size={image_size!r}"
        )
    n = DEFAULT_N if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1. Received: n={n}")
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        refnum = f"mdb{i + 1:03d}"
        finding, code, severity = _PLAN[i % len(_PLAN)]
        lesions = 2 if i % 4 == 1 else 1
        side = "R" if i % 2 == 0 else "L"
        small = render_mammogram(rng, _RENDER, _FILM_WIDTH, side, "MLO", finding, rois=lesions)
        image = Image.fromarray(np.clip(small.image * 255.0, 0, 255).astype(np.uint8))
        film = np.asarray(image.resize((4 * _FILM_WIDTH, SIZE), Image.Resampling.BILINEAR))
        fog = float(rng.uniform(4.0, 14.0))
        big = np.zeros((SIZE, SIZE), np.uint8)
        big[:, _PAD:_PAD + film.shape[1]] = np.clip(
            film + fog + rng.normal(0.0, 1.0, film.shape), 1, 255).astype(np.uint8)
        Image.fromarray(big).save(out / f"{refnum}.pgm")
        background = "FGD"[int(rng.integers(0, 3))]
        if severity is None:
            lines.append(f"{refnum} {background} NORM ")
            continue
        rois = [r.mask for r in small.rois if r.mask.any()]
        if i % len(_PLAN) == 7 or not rois:
            # An abnormal row without coordinates, as a few real rows are.
            lines.append(f"{refnum} {background} {code} {severity} ")
            continue
        for mask in rois:
            enlarged = np.zeros((SIZE, SIZE), bool)
            enlarged[:, _PAD:_PAD + 4 * _FILM_WIDTH] = np.kron(
                mask.astype(np.uint8), np.ones((4, 4), np.uint8)).astype(bool)
            x, y, radius = _enclosing_circle(enlarged)
            lines.append(f"{refnum} {background} {code} {severity} {x} {y} {radius} ")
    (out / "Info.txt").write_text(_HEADER + "\n" + "\n".join(lines) + "\n", encoding="latin-1")
    return out
