"""Dataset adapters: a downloaded public data set -> PNGs + ``manifest.csv`` a recipe trains on.

``prepare(dataset, src, out, **options)`` is what ``keras-mia prepare DATASET SRC OUT``
runs. Each adapter prints a counts report (images, patients, per label and split, every
skipped item with its reason), writes it to ``OUT/prepare_report.txt`` and returns it as a
``PrepareReport``; the manifest it writes passes ``keras-mia validate``.

Data sets and their options (each option is the CLI flag with ``-`` for ``_``; every data set
also takes ``overwrite`` (``--overwrite``) and ``quiet`` (``--quiet``)):

- ``open-i`` (``keras_mia.datasets.open_i``): the Hello World folders
  ``TRAIN|VAL/<class>/*.png`` + ``TEST/*.png``. Options: ``keep_duplicates``,
  ``label_test_by_name``, ``patient_pattern``.
- ``cbis-ddsm`` (``keras_mia.datasets.cbis_ddsm``): TCIA's CBIS-DDSM folders + the four
  case-description CSVs -> Shen-preprocessed 16-bit PNGs, merged masks, official split plus
  a patient-level validation split, optional patch sets S / S10. Options: ``image_size``,
  ``patches``, ``patch_size``, ``val_fraction``, ``seed``, ``segment``, ``overflow``,
  ``csv_dir``, ``jobs``.
- ``mias`` (``keras_mia.datasets.mias``): mini-MIAS ``mdbNNN.pgm`` + ``Info.txt`` -> images,
  circular ROI masks, normal/benign/malignant labels (the external test set of
  ``mammo_dense``), breast-segmented like ``cbis-ddsm`` (``prepare_mammogram``). Options:
  ``info_file``, ``image_size``, ``split``, ``segment``.
- ``dbc`` (``keras_mia.datasets.dbc``): Duke-Breast-Cancer-MRI DICOM series +
  ``Annotation_Boxes.csv`` -> positive/negative pre-contrast fat-saturated slices, split by
  patient. Options: ``annotations``, ``negative_distance``, ``negatives_per_positive``,
  ``max_per_class``, ``series_pattern``, ``slice_order``, ``val_fraction``,
  ``test_fraction``, ``seed``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from keras_mia.datasets.report import PrepareReport

__all__ = ["DATASETS", "PrepareReport", "canonical_dataset", "dataset_options", "prepare"]

DATASETS: tuple[str, ...] = ("open-i", "cbis-ddsm", "mias", "dbc")
_ALIASES = {
    "open_i": "open-i",
    "openi": "open-i",
    "open_i_abd_vs_cxr": "open-i",
    "hello_world": "open-i",
    "cbis_ddsm": "cbis-ddsm",
    "cbis": "cbis-ddsm",
    "mini-mias": "mias",
    "mini_mias": "mias",
    "dbc_breast_mri": "dbc",
    "duke-breast-cancer-mri": "dbc",
}


def canonical_dataset(dataset: str) -> str:
    """Maps a data set name (any case; ``-`` or ``_``) to one of ``DATASETS``.

    Raises:
        ValueError: an unknown name.
    """
    name = str(dataset).strip().lower()
    name = _ALIASES.get(name, _ALIASES.get(name.replace("-", "_"), name))
    if name not in DATASETS:
        raise ValueError(
            f"Unknown data set; expected one of {', '.join(DATASETS)}. "
            f"Received: dataset={dataset!r}"
        )
    return name


def _adapter(name: str):
    if name == "open-i":
        from keras_mia.datasets.open_i import prepare_open_i as adapter
    elif name == "cbis-ddsm":
        from keras_mia.datasets.cbis_ddsm import prepare_cbis_ddsm as adapter
    elif name == "mias":
        from keras_mia.datasets.mias import prepare_mias as adapter
    else:
        from keras_mia.datasets.dbc import prepare_dbc as adapter
    return adapter


def dataset_options(dataset: str) -> dict[str, object]:
    """The keyword options a data set's adapter takes, with their defaults.

    Args:
        dataset: a name accepted by ``canonical_dataset``.

    Returns:
        option name -> default (plus ``quiet``: ``False``).
    """
    params = inspect.signature(_adapter(canonical_dataset(dataset))).parameters
    options = {
        name: p.default for name, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    options["quiet"] = False
    return options


def prepare(dataset: str, src: str | Path, out: str | Path, **options) -> PrepareReport:
    """Converts a downloaded public data set into PNGs plus ``OUT/manifest.csv``.

    Args:
        dataset: ``"open-i"``, ``"cbis-ddsm"``, ``"mias"`` or ``"dbc"`` (see the module
            docstring for what each reads and writes).
        src: the downloaded data set's folder.
        out: the output folder (created; must be empty unless ``overwrite=True``).
        **options: the adapter's options (``dataset_options(dataset)`` lists them); an
            option given as ``None`` takes its default, so a command line can pass every
            flag through. ``quiet=True`` suppresses the printed report.

    Returns:
        The ``PrepareReport`` (also written to ``OUT/prepare_report.txt``).

    Raises:
        ValueError: unknown data set or option, or a bad option value.
        FileNotFoundError: ``src`` or a required metadata file is missing.
    """
    name = canonical_dataset(dataset)
    adapter = _adapter(name)
    quiet = bool(options.pop("quiet", False) or False)
    allowed = dataset_options(name)
    unknown = sorted(k for k, v in options.items() if k not in allowed and v is not None)
    if unknown:
        raise ValueError(
            f"Option(s) {unknown} do not apply to data set {name!r}; it takes "
            f"{sorted(allowed)}. Received: {dict((k, options[k]) for k in unknown)}"
        )
    kwargs = {k: v for k, v in options.items() if v is not None and k in allowed}
    report = adapter(src, out, **kwargs)
    report.write()
    if not quiet:
        print(report.summary())
        print(f"  full report: {Path(report.out_dir) / 'prepare_report.txt'}")
    return report
