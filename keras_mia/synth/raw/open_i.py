"""Synthetic Hello World (Open-I chest vs abdomen) folders, as input for ``prepare open-i``.

Written (images drawn by ``keras_mia.synth.hello_world``, saved as RGB PNG like the real
files)::

    OUT/TRAIN/openI_CXR/<k>_IM-<nnnn>-1001.png     chest radiographs (Indiana-style names;
                                                   one study has a second, -3001 image)
    OUT/TRAIN/openI_abd_xray/PMC<nnnnnnn>_f<k>.png abdominal radiographs (PubMed-style names)
    OUT/VAL/...                                    the same classes
    OUT/VAL/openI_abd_xray/<name> (1).png          a byte-identical copy of another file,
                                                   as in the real VAL folder
    OUT/TEST/chest<k>.png, OUT/TEST/abd<k>.png     unlabelled: no class folder
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_N", "DEFAULT_SIZE", "write_open_i"]

DEFAULT_N = 12
DEFAULT_SIZE = 64


def _rgb(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [0.5, 99.5])
    gray = np.clip((image - low) / max(high - low, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def write_open_i(out: Path, n: int | None, seed: int, image_size=None) -> Path:
    """Writes the synthetic Hello World folders into ``out`` (see the module docstring).

    Args:
        out: an empty folder.
        n: training images (default 12, split evenly over the two classes); VAL gets a
            third as many, TEST one image per class.
        seed: random seed.
        image_size: image side in pixels (default 64).

    Returns:
        ``out``.
    """
    from PIL import Image

    from keras_mia.synth.hello_world import render_abdomen, render_chest

    n = DEFAULT_N if n is None else int(n)
    if n < 2:
        raise ValueError(f"n must be at least 2. Received: n={n}")
    size = DEFAULT_SIZE if image_size is None else int(
        image_size if np.isscalar(image_size) else image_size[0]
    )
    rng = np.random.default_rng(seed)
    study = 0

    def save(path: Path, image: np.ndarray) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rgb(image)).save(path)
        return path

    for split, count in (("TRAIN", n), ("VAL", max(2, n // 3))):
        for k in range(count):
            study += 1
            if k % 2 == 0:
                name = f"{study}_IM-{1000 + study:04d}-1001.png"
                save(out / split / "openI_CXR" / name, render_chest(rng, size))
                if split == "TRAIN" and k == 0:
                    # A second image of the same study (a lateral film).
                    save(out / split / "openI_CXR" / name.replace("-1001", "-3001"),
                         render_chest(rng, size))
            else:
                name = f"PMC{3000000 + study}_f{k}.png"
                last = save(out / split / "openI_abd_xray" / name, render_abdomen(rng, size))
    duplicate = last.with_name(f"{last.stem} (1){last.suffix}")
    duplicate.write_bytes(last.read_bytes())
    save(out / "TEST" / "chest2.png", render_chest(rng, size))
    save(out / "TEST" / "abd2.png", render_abdomen(rng, size))
    return out
