"""Synthetic stand-ins for the public data sets in their *own* on-disk layouts.

``generate_raw(dataset, out_dir)`` writes what a user gets after downloading a data set -
folder structure, metadata files (CSV, ``Info.txt``), DICOM tags - filled with synthetic
images from ``keras_mia.synth``'s drawing code, quirks included. It is the input that
``keras-mia prepare DATASET SRC OUT`` converts, so every adapter runs end to end in CI
without the real data. Nothing here is real patient data.

Data sets (``keras-mia synth DATASET OUT --layout raw``):

- ``cbis-ddsm``: TCIA's CBIS-DDSM folders + the four case-description CSVs
  (``keras_mia.synth.raw.cbis_ddsm``);
- ``mias``: mini-MIAS ``mdbNNN.pgm`` (1024 x 1024) + ``Info.txt`` (``...raw.mias``);
- ``dbc``: Duke-Breast-Cancer-MRI DICOM series + ``Annotation_Boxes.csv`` (``...raw.dbc``);
- ``open-i``: the Hello World ``TRAIN|VAL/<class>/*.png`` + ``TEST/*.png`` folders
  (``...raw.open_i``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RAW_DATASETS", "canonical_raw_dataset", "generate_raw"]

RAW_DATASETS: tuple[str, ...] = ("cbis-ddsm", "mias", "dbc", "open-i")
_ALIASES = {
    "cbis_ddsm": "cbis-ddsm",
    "cbis": "cbis-ddsm",
    "mini-mias": "mias",
    "dbc_breast_mri": "dbc",
    "duke-breast-cancer-mri": "dbc",
    "open_i": "open-i",
    "openi": "open-i",
    "open_i_abd_vs_cxr": "open-i",
}


def canonical_raw_dataset(dataset: str) -> str:
    """Maps a data set name (any case, ``-`` or ``_``) to one of ``RAW_DATASETS``.

    Raises:
        ValueError: an unknown name.
    """
    name = str(dataset).strip().lower()
    name = _ALIASES.get(name, _ALIASES.get(name.replace("-", "_"), name))
    if name not in RAW_DATASETS:
        raise ValueError(
            f"No raw layout for this data set; expected one of {', '.join(RAW_DATASETS)}. "
            f"Received: dataset={dataset!r}"
        )
    return name


def generate_raw(
    dataset: str,
    out_dir: str | Path,
    n: int | None = None,
    seed: int = 0,
    *,
    image_size=None,
    overwrite: bool = False,
    **options,
) -> Path:
    """Writes a synthetic copy of a public data set in its real on-disk layout.

    Args:
        dataset: ``"cbis-ddsm"``, ``"mias"``, ``"dbc"`` or ``"open-i"``.
        out_dir: destination folder (created; must be empty unless ``overwrite``).
        n: size: full mammograms (cbis-ddsm, default 10), images (mias, default 8),
            patients (dbc, default 5), training images (open-i, default 12).
        seed: random seed; the same seed writes the same data.
        image_size: data-set specific: ``(height, width)`` of a CBIS-DDSM mammogram
            (default 400 x 250), the side of a DBC slice (default 48), of an Open-I image
            (default 64); MIAS images are always 1024 x 1024.
        overwrite: write into a non-empty folder.
        **options: data-set specific extras: ``slices`` (dbc: slices per series, default
            32).

    Returns:
        ``out_dir``: pass it as ``SRC`` to ``keras-mia prepare DATASET SRC OUT``.

    Raises:
        ValueError: unknown data set or bad size.
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is false.
    """
    from keras_mia.synth.common import prepare_out_dir

    name = canonical_raw_dataset(dataset)
    out = prepare_out_dir(Path(out_dir).expanduser(), overwrite)
    if name == "cbis-ddsm":
        from keras_mia.synth.raw.cbis_ddsm import write_cbis_ddsm as write
    elif name == "mias":
        from keras_mia.synth.raw.mias import write_mias as write
    elif name == "dbc":
        from keras_mia.synth.raw.dbc import write_dbc as write
    else:
        from keras_mia.synth.raw.open_i import write_open_i as write
    return write(out, n=n, seed=int(seed), image_size=image_size, **options)
