"""Synthetic stand-in for the Hello World data set (Lakhani et al. 2018, seed 004): Open-I
frontal chest radiographs versus abdominal radiographs, as 8-bit grey PNGs in the real copy's
folder layout ``OUT/TRAIN|VAL|TEST/<class>/*.png`` plus ``OUT/manifest.csv``.

Chest images (class ``openI_CXR``) show a bright torso with two dark lung fields, ribs,
clavicles, humeral heads, a heart shadow and the mediastinum. Abdomen images (class
``openI_abd_xray``) show lumbar vertebrae, iliac wings, femoral heads, a few lower ribs and
dark bowel-gas bubbles, but no lungs. Both classes share the nuisances of the real set
(position, scale and rotation of the patient, burned-in ``L``/``R`` markers, lines and tubes,
blur, noise, gamma) and every image is rescaled to a random mean and contrast drawn
independently of its class, so no global statistic separates them. About one image in six is
written in inverted polarity and named ``*_invert.png`` (the real set's ``_invert`` files are
radiographs whose grey scale was inverted). Some patients have two images (as in the real
set, e.g. ``86_IM-2380-1001`` and ``86_IM-2380-3001``).

Differences from the real copy: its TEST folder holds two unlabelled-by-folder files
(``abd2.png``, ``chest2.png``); here TEST uses class sub-folders like TRAIN and VAL, and
splits are 70/15/15 by patient instead of 65/10/2 images.
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
    write_info,
    write_manifest_csv,
    write_png_gray,
)

__all__ = ["CLASSES", "DEFAULT_N", "DEFAULT_SIZE", "render_chest", "render_abdomen", "generate"]

# Keras sorts class folders by name, so openI_CXR is class 0 and openI_abd_xray class 1.
CLASSES: tuple[str, str] = ("openI_CXR", "openI_abd_xray")
DEFAULT_N = 160  # a small CNN from scratch reaches > 0.9 test accuracy in 10 CPU epochs
DEFAULT_SIZE = 128
SPLIT_FOLDERS = {"train": "TRAIN", "val": "VAL", "test": "TEST"}
INVERT_PROBABILITY = 1.0 / 6.0
SECOND_IMAGE_PROBABILITY = 0.15


def _canvas(rng: np.random.Generator, size: int):
    """Canonical patient coordinates after a random scale, shift and rotation."""
    y, x = shapes.normalized_grid(size, size)
    scale = rng.uniform(0.82, 1.12)
    ty, tx = rng.uniform(-0.12, 0.12, size=2)
    angle = math.radians(rng.uniform(-8.0, 8.0))
    c, s = math.cos(angle), math.sin(angle)
    dy, dx = y - ty, x - tx
    cy = (c * dy - s * dx) / scale
    cx = (s * dy + c * dx) / scale
    pixel = 2.0 / (size * scale)
    return cy, cx, pixel


def _ribs(y, x, rng, pixel, levels, top, step, lateral_from, strength):
    """Paired arcs, convex upwards, as posterior ribs look on a frontal film."""
    out = np.zeros_like(y)
    ax = np.abs(x)
    curve = rng.uniform(0.9, 1.4)
    for k in range(levels):
        centre = top + k * step + curve * (ax - 0.45) ** 2 - 0.08
        band = shapes.soft_inside(np.abs(y - centre) - 0.028, 2 * pixel)
        out += band * (ax > lateral_from) * (ax < 0.9)
    return strength * np.clip(out, 0.0, 1.0)


def render_chest(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draws a frontal chest radiograph (bright = dense), values roughly in [0, 1].

    Args:
        rng: random state.
        size: image side in pixels.

    Returns:
        float32 ``(size, size)`` image before the global intensity transform.
    """
    y, x, px = _canvas(rng, size)
    edge = 2.0 * px
    torso = shapes.soft_inside(shapes.superellipse_radius(y, x, 0.15, 0.0, 1.3, 1.0) - 1, 0.05)
    neck = shapes.soft_inside(np.abs(x) - 0.24, edge) * (y < -0.6)
    body = np.maximum(torso, neck)
    image = 0.45 * body

    lung_w, lung_h = rng.uniform(0.26, 0.33), rng.uniform(0.5, 0.62)
    lungs = np.zeros_like(y)
    for side in (-1.0, 1.0):
        cx = side * rng.uniform(0.38, 0.45)
        r = shapes.ellipse_radius(y, x, -0.05 + rng.uniform(-0.04, 0.04), cx, lung_h, lung_w,
                                  side * math.radians(rng.uniform(2, 8)))
        lungs = np.maximum(lungs, shapes.soft_inside(r - 1.0, edge / lung_w))
    heart = shapes.soft_inside(
        shapes.ellipse_radius(y, x, 0.3 + rng.uniform(-0.05, 0.05), 0.12 + rng.uniform(-0.04, 0.06),
                              rng.uniform(0.22, 0.28), rng.uniform(0.28, 0.34), math.radians(20))
        - 1.0,
        edge / 0.25,
    )
    mediastinum = shapes.soft_inside(np.abs(x) - 0.12, edge) * (y < 0.45)
    lungs = lungs * (1.0 - heart) * (1.0 - mediastinum)
    vessels = 0.04 * shapes.smooth_noise(rng, y.shape, max(0.8, 1.5 * size / 128.0))
    image = image - lungs * (0.33 + vessels) * body
    image += 0.04 * mediastinum
    spine = shapes.soft_inside(np.abs(x) - 0.07, edge)
    image += 0.06 * spine * (0.8 + 0.2 * np.cos(y * 28.0))

    ribs = _ribs(y, x, rng, px, levels=9, top=-0.62, step=rng.uniform(0.1, 0.125),
                 lateral_from=0.08, strength=rng.uniform(0.08, 0.14))
    image += ribs * body * (0.4 + 0.6 * lungs)
    for side in (-1.0, 1.0):
        clavicle = shapes.segment_distance(
            y, x, (-0.62 + rng.uniform(-0.03, 0.03), side * 0.1),
            (-0.76 + rng.uniform(-0.04, 0.04), side * 0.62),
        )
        image += 0.14 * shapes.soft_inside(clavicle - 0.03, edge)
        humerus = shapes.ellipse_radius(y, x, -0.7, side * 0.93, 0.13, 0.11)
        image += 0.2 * shapes.soft_inside(humerus - 1.0, edge / 0.12)
    if rng.random() < 0.5:  # gastric air bubble under the left hemidiaphragm
        bubble = shapes.ellipse_radius(y, x, 0.66, 0.35, 0.05, 0.08)
        image -= 0.15 * shapes.soft_inside(bubble - 1.0, edge / 0.05)
    return image.astype(np.float32)


def render_abdomen(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draws a supine abdominal radiograph (bright = dense), values roughly in [0, 1].

    Args:
        rng: random state.
        size: image side in pixels.

    Returns:
        float32 ``(size, size)`` image before the global intensity transform.
    """
    y, x, px = _canvas(rng, size)
    edge = 2.0 * px
    body = shapes.soft_inside(shapes.superellipse_radius(y, x, 0.0, 0.0, 1.3, 0.98) - 1, 0.05)
    image = 0.5 * body

    # Lumbar vertebrae: blocks separated by disc spaces, with transverse processes.
    height = rng.uniform(0.14, 0.18)
    spine = np.zeros_like(y)
    for k in range(-8, 4):
        centre = 0.3 + k * (height + 0.035)
        block = shapes.soft_inside(
            np.maximum(np.abs(x) - 0.1, np.abs(y - centre) - height / 2), edge
        )
        process = shapes.soft_inside(
            np.maximum(np.abs(x) - 0.22, np.abs(y - centre) - 0.02), edge
        )
        spine = np.maximum(spine, np.maximum(block, 0.6 * process))
    image += 0.28 * spine * (y < 0.4)
    sacrum = shapes.soft_inside(np.abs(x) - 0.2 * np.clip(1.0 - (y - 0.4) / 0.55, 0, 1), edge)
    image += 0.22 * sacrum * (y >= 0.4)

    for side in (-1.0, 1.0):
        r = shapes.ellipse_radius(y, x, 0.62, side * 0.45, 0.32, 0.34, side * math.radians(15))
        wing = shapes.soft_inside(r - 1.0, edge / 0.3) * (y > 0.32)
        rim = shapes.soft_inside(np.abs(r - 0.93) - 0.06, edge / 0.3) * (y > 0.32)
        image += 0.1 * wing + 0.15 * rim
        femur = shapes.ellipse_radius(y, x, 1.05, side * 0.55, 0.13, 0.13)
        image += 0.3 * shapes.soft_inside(femur - 1.0, edge / 0.13)
    image += _ribs(y, x, rng, px, levels=3, top=-1.02, step=0.12, lateral_from=0.35,
                   strength=rng.uniform(0.06, 0.12)) * body

    gas = np.zeros_like(y)
    for _ in range(int(rng.integers(6, 18))):
        cy, cx = rng.uniform(-0.8, 0.6), rng.uniform(-0.75, 0.75)
        ry, rx = rng.uniform(0.03, 0.11, size=2)
        r = shapes.ellipse_radius(y, x, cy, cx, ry, rx, rng.uniform(0, math.pi))
        gas = np.maximum(gas, shapes.soft_inside(r - 1.0, edge / min(ry, rx)))
    stool = np.clip(shapes.smooth_noise(rng, y.shape, max(0.8, size / 100.0)), 0, None)
    image -= (rng.uniform(0.2, 0.32) * gas + 0.05 * stool * (np.abs(x) < 0.8)) * body
    return image.astype(np.float32)


def _distractors(rng, image: np.ndarray) -> np.ndarray:
    """Class-independent clutter: side markers and catheters or ECG leads."""
    size = image.shape[0]
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if rng.random() < 0.6:
        height = max(5, int(size * rng.uniform(0.05, 0.09)))
        mark = shapes.text_mask(str(rng.choice(["L", "R"])), height)
        h, w = mark.shape
        top = int(rng.integers(1, max(2, size // 8)))
        left = int(rng.choice([rng.integers(1, max(2, size // 8)), size - w - 2]))
        left = int(np.clip(left, 0, size - w))
        image[top:top + h, left:left + w] = np.maximum(image[top:top + h, left:left + w], mark)
    for _ in range(int(rng.poisson(0.7))):
        start = rng.uniform(0, size, size=2)
        end = rng.uniform(0, size, size=2)
        dist = shapes.segment_distance(y, x, tuple(start), tuple(end))
        image += 0.25 * shapes.soft_inside(dist - max(0.5, size / 200.0), 1.0)
    return image


def _finish(rng, image: np.ndarray) -> tuple[np.ndarray, bool]:
    """Film and display nuisances, then a label-independent mean/contrast; returns uint8."""
    size = image.shape[0]
    image = image * (1.0 + 0.08 * shapes.smooth_noise(rng, image.shape, size / 6.0))
    image = shapes.gaussian_blur(image, rng.uniform(0.3, 1.0) * size / 128.0)
    image = np.clip(image, 0.0, None) ** rng.uniform(0.75, 1.35)
    image = shapes.match_moments(image, rng.uniform(0.38, 0.6), rng.uniform(0.14, 0.24))
    image += rng.normal(0.0, rng.uniform(0.005, 0.035), size=image.shape).astype(np.float32)
    inverted = bool(rng.random() < INVERT_PROBABILITY)
    if inverted:
        image = 1.0 - image
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8), inverted


def _plan_patients(rng: np.random.Generator, n: int) -> list[tuple[str, int]]:
    """Returns ``(class, images)`` per patient: classes balanced, some patients with two."""
    plan: list[tuple[str, int]] = []
    for index, label in enumerate(CLASSES):
        left = n // 2 + (n % 2 if index == 0 else 0)
        while left > 0:
            count = 2 if left >= 2 and rng.random() < SECOND_IMAGE_PROBABILITY else 1
            plan.append((label, count))
            left -= count
    return [plan[i] for i in rng.permutation(len(plan))]


def generate(
    out_dir: str | Path,
    n: int | None = None,
    seed: int = 0,
    image_size=None,
    overwrite: bool = False,
) -> Path:
    """Writes the synthetic Hello World data set.

    Args:
        out_dir: destination folder (created; must be empty unless ``overwrite``).
        n: number of images (default ``DEFAULT_N``; at least 12 so every split holds both
            classes).
        seed: random seed; the same seed gives byte-identical files.
        image_size: image side in pixels (default ``DEFAULT_SIZE``); square images only.
        overwrite: write into a non-empty folder.

    Returns:
        The path of ``OUT_DIR/manifest.csv``.
    """
    n = DEFAULT_N if n is None else int(n)
    if n < 12:
        # 6 images per class make at least 3 patients per class, one for each split.
        raise ValueError(
            f"hello_world needs n >= 12 images (3 patients per class, one per split). "
            f"Received: n={n}. Choose n >= 12 (on the command line: --n 12 or more)"
        )
    height, width = parse_size(image_size, (DEFAULT_SIZE, DEFAULT_SIZE))
    if height != width or height < 16:
        raise ValueError(
            "hello_world images are square and at least 16 pixels. "
            f"Received: image_size={image_size}"
        )
    out = prepare_out_dir(out_dir, overwrite)
    rng = np.random.default_rng(seed)

    plan = _plan_patients(rng, n)
    patients = [f"HW{index + 1:04d}" for index in range(len(plan))]
    splits = assign_splits({pid: label for pid, (label, _) in zip(patients, plan)}, rng)

    rows = []
    inverted_count = 0
    for number, (pid, (label, count)) in enumerate(zip(patients, plan), start=1):
        for view in range(1, count + 1):
            render = render_chest if label == CLASSES[0] else render_abdomen
            pixels, inverted = _finish(rng, _distractors(rng, render(rng, height)))
            inverted_count += inverted
            if label == CLASSES[0]:
                stem = f"{number}_IM-{number:04d}-{view}001"
            else:
                stem = f"openI_{number}" + ("" if view == 1 else f"_{view}")
            name = stem + ("_invert" if inverted else "") + ".png"
            relative = Path(SPLIT_FOLDERS[splits[pid]]) / label / name
            write_png_gray(out / relative, pixels, 8)
            rows.append(
                {
                    "image_path": relative.as_posix(),
                    "label": label,
                    "patient_id": pid,
                    "split": splits[pid],
                    "dataset": "synthetic_hello_world",
                }
            )
    manifest = write_manifest_csv(out / "manifest.csv", rows)
    write_info(
        out,
        {
            "recipe": "hello_world",
            "synthetic": True,
            "seed": seed,
            "n_images": len(rows),
            "n_patients": len(patients),
            "image_size": [height, width],
            "classes": list(CLASSES),
            "inverted_images": inverted_count,
            "imitates": "Open-I chest vs abdominal radiographs (Lakhani et al. 2018)",
        },
    )
    return manifest
