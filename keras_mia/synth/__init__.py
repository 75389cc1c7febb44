"""Synthetic data sets that imitate the data of each reproduced system.

``generate(recipe, out_dir)`` writes images (PNG / DICOM) and ``OUT_DIR/manifest.csv``
(columns of ``keras_mia.data.schema``), split train/val/test by patient. Every image is
synthetic (drawn from simple shapes and random textures), never real patient data.

Recipes:

- ``hello_world``: chest vs abdomen radiographs, 8-bit PNG in ``TRAIN|VAL|TEST/<class>/``
  (imitates the Open-I set of Lakhani et al.).
- ``breast_mri``: per-patient axial DICOM MR series with a bright tumour; slices labelled
  ``positive`` / ``negative`` (imitates Duke Breast Cancer MRI, Konz's slice recipe).
- ``mammo`` (also ``mammo_whole_image``, ``mammo_dense``): 16-bit PNG and DICOM MG
  mammograms with merged full-size lesion masks (imitates CBIS-DDSM as Shen and
  Scuccimarra use it).
- ``mammo_patch``: Shen's five-class patch set (set S) cut from synthetic mammograms.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RECIPES", "ALIASES", "DESCRIPTIONS", "canonical_recipe", "generate"]

# Canonical generator names and one line each, for `keras-mia recipes` / `synth --help`.
DESCRIPTIONS: dict[str, str] = {
    "hello_world": "chest vs abdomen radiographs, 8-bit PNG in TRAIN|VAL|TEST/<class>/ "
    "(Open-I, Lakhani et al.)",
    "breast_mri": "axial breast MR DICOM series, slices positive/negative for a tumour "
    "(Duke Breast Cancer MRI, Konz)",
    "mammo": "16-bit PNG + DICOM MG mammograms with lesion masks, normal/benign/malignant "
    "(CBIS-DDSM for Shen and Scuccimarra)",
    "mammo_patch": "Shen's 5-class patches (background, calcification and mass, "
    "malignant/benign) cut from synthetic mammograms",
}
# Training-recipe names that read a data set generated under another name.
ALIASES: dict[str, str] = {"mammo_whole_image": "mammo", "mammo_dense": "mammo"}
# Every name ``generate`` accepts.
RECIPES: tuple[str, ...] = tuple(DESCRIPTIONS) + tuple(ALIASES)


def canonical_recipe(recipe: str) -> str:
    """Maps a recipe name or alias (``-`` and ``_`` alike, any case) to its generator name.

    Args:
        recipe: e.g. ``"mammo-dense"``.

    Returns:
        One of ``DESCRIPTIONS``' keys.

    Raises:
        ValueError: the name is unknown.
    """
    name = str(recipe).strip().lower().replace("-", "_")
    name = ALIASES.get(name, name)
    if name not in DESCRIPTIONS:
        raise ValueError(
            f"Unknown synthetic recipe; expected one of {', '.join(RECIPES)}. "
            f"Received: recipe={recipe!r}"
        )
    return name


def generate(
    recipe: str,
    out_dir: str | Path,
    n: int | None = None,
    seed: int = 0,
    layout: str = "manifest",
    image_size=None,
    **options,
) -> Path:
    """Writes a synthetic data set and its manifest.

    Args:
        recipe: one of ``RECIPES``; with ``layout="raw"``, a public data set name that
            ``keras_mia.synth.raw.generate_raw`` knows (e.g. ``"dbc"``, ``"cbis-ddsm"``).
        out_dir: destination folder; created, and it must be empty unless
            ``overwrite=True`` is passed.
        n: size of the set (default per recipe): images for ``hello_world`` and ``mammo``,
            patients for ``breast_mri``, source mammograms for ``mammo_patch``.
        seed: random seed; the same seed gives byte-identical files.
        layout: ``"manifest"`` (images + ``manifest.csv``) or ``"raw"`` (a public data set's
            own on-disk layout, written by ``keras_mia.synth.raw`` when it is installed).
        image_size: ``None`` for the recipe's default, an int or ``(height, width)``;
            for ``mammo_patch`` it is the patch size.
        **options: recipe-specific keyword arguments (see each module's ``generate``), e.g.
            ``overwrite=True``, ``dicom_every=4`` for ``mammo``.

    Returns:
        The path of ``OUT_DIR/manifest.csv`` (for ``layout="raw"``, what ``generate_raw``
        returns).

    Raises:
        ValueError: unknown recipe or layout, ``keras_mia.synth.raw`` missing, or invalid
            sizes.
    """
    if layout == "raw":
        try:
            from keras_mia.synth.raw import generate_raw
        except ImportError:
            raise ValueError(
                "Raw public-data-set layouts are written by keras_mia.synth.raw, which is not "
                f"available in this installation. Received: layout={layout!r}"
            ) from None
        return generate_raw(recipe, out_dir, n=n, seed=seed, image_size=image_size, **options)
    if layout != "manifest":
        raise ValueError(f"layout must be 'manifest' or 'raw'. Received: layout={layout!r}")
    name = canonical_recipe(recipe)
    if name == "hello_world":
        from keras_mia.synth.hello_world import generate as run
    elif name == "breast_mri":
        from keras_mia.synth.breast_mri import generate as run
    elif name == "mammo":
        from keras_mia.synth.mammo import generate as run
    else:
        from keras_mia.synth.mammo_patch import generate as run
    return run(out_dir, n=n, seed=seed, image_size=image_size, **options)
