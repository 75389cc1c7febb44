"""The Hello World data (Open-I chest vs abdominal radiographs) -> PNG folders + manifest.

Input (``SRC``), as in Lakhani et al.'s repository::

    TRAIN/openI_CXR/*.png  TRAIN/openI_abd_xray/*.png
    VAL/openI_CXR/*.png    VAL/openI_abd_xray/*.png
    TEST/abd2.png  TEST/chest2.png                     no class folder

Output (``OUT``): the images copied byte for byte to ``OUT/TRAIN|VAL|TEST/<class>/`` (the
folder layout Keras' ``image_dataset_from_directory`` reads) and ``manifest.csv`` with
``label`` (the class folder: ``openI_CXR`` = 0, ``openI_abd_xray`` = 1 in name order),
``patient_id``, ``split`` (the folder's) and ``dataset``.

- Duplicates: files with identical bytes are kept once (the real VAL folder holds
  ``PMC2584007_1752-1947-2-335-2 (1).png``, a copy of ``PMC2584007_1752-1947-2-335-2.png``).
  The copy whose name does not look like a download duplicate (``" (1)"``) is kept, else
  the first by split and name; the others are reported as skipped.
- TEST images have no class folder; with ``label_test_by_name`` (default) the class comes
  from the file name (``abd``/``abdomen`` -> the class whose name contains ``abd``;
  ``chest``/``cxr`` -> the class containing ``cxr``), otherwise they are skipped as
  unlabelled (``keras-mia predict`` can still classify them).
- Patients: the data has no patient IDs. ``patient_pattern`` (default ``PATIENT_PATTERN``)
  groups what is known to belong together: Indiana chest films ``86_IM-2380-1001`` and
  ``86_IM-2380-3001`` (study 86), figures of one article ``PMC3913410_*``; other files are
  their own patient.
- Every file is decoded once (``keras_mia.io.read_image``); unreadable ones are skipped.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from keras_mia.datasets._common import MANIFEST_NAME, check_src, prepare_out_dir
from keras_mia.datasets.report import PrepareReport

__all__ = ["PATIENT_PATTERN", "prepare_open_i"]

DATASET = "open_i_abd_vs_cxr"
PATIENT_PATTERN = r"^(?:(\d+)_IM-|(PMC\d+)_|(.+)\.[^.]+$)"
_FOLDER_OF_SPLIT = {"train": "TRAIN", "val": "VAL", "test": "TEST"}
_DOWNLOAD_COPY = re.compile(r" \(\d+\)$")
_NAME_KEYWORDS = {"abd": ("abd", "abdomen", "abdominal"), "cxr": ("chest", "cxr", "thorax")}


def _label_from_name(path: Path, classes: list[str]) -> str | None:
    stem = path.stem.lower()
    hits = set()
    for kind, words in _NAME_KEYWORDS.items():
        if any(w in stem for w in words):
            hits.update(c for c in classes if kind in c.lower())
    return hits.pop() if len(hits) == 1 else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_open_i(
    src: str | Path,
    out: str | Path,
    *,
    keep_duplicates: bool = False,
    label_test_by_name: bool = True,
    patient_pattern: str = PATIENT_PATTERN,
    overwrite: bool = False,
) -> PrepareReport:
    """Copies the Hello World images into ``OUT`` and writes their manifest.

    Options map 1:1 to ``keras-mia prepare open-i`` flags.

    Args:
        src: the folder holding ``TRAIN``, ``VAL`` (and ``TEST``).
        out: the output folder (created; must be empty unless ``overwrite``).
        keep_duplicates: keep byte-identical copies (they would fail ``keras-mia
            validate``'s duplicate check).
        label_test_by_name: label unlabelled TEST images from their file names.
        patient_pattern: regular expression giving the patient id from a file name (see
            ``keras_mia.data.folder_import.import_folder``).
        overwrite: write into a non-empty ``out``.

    Returns:
        The ``PrepareReport``.

    Raises:
        FileNotFoundError: ``src`` is missing.
        ValueError: no labelled image found, or a bad ``patient_pattern``.
    """
    from keras_mia.data.folder_import import DEFAULT_SPLIT_NAMES, import_folder
    from keras_mia.data.manifest import write_manifest
    from keras_mia.io import ImageReadError, read_image

    src = check_src(src)
    imported = import_folder(
        src, patient_pattern=patient_pattern, dataset=DATASET, log_skips=False
    )
    out = prepare_out_dir(out, src, overwrite)
    report = PrepareReport("open-i", src, out)
    rows = [dict(row) for row in imported]
    classes = sorted({row["label"] for row in rows})
    pattern = re.compile(patient_pattern)
    for path, reason in imported.skipped:
        split = DEFAULT_SPLIT_NAMES.get(path.parent.name.lower())
        label = _label_from_name(path, classes) if label_test_by_name else None
        if reason.startswith("unlabelled") and split is not None and label is not None:
            match = pattern.search(path.name)
            patient = next((g for g in match.groups() if g), match.group(0)) if match else path.stem
            rows.append(
                {"image_path": str(path.absolute()), "label": label, "patient_id": patient,
                 "split": split, "dataset": DATASET}
            )
            report.note(f"{path.relative_to(src)}: no class folder; labelled {label} by its name")
        else:
            report.skip(path, reason)

    def preference(row: dict) -> tuple:
        path = Path(row["image_path"])
        rank = {"train": 0, "val": 1, "test": 2}.get(row["split"], 3)
        return (bool(_DOWNLOAD_COPY.search(path.stem)), rank, str(path))

    kept: list[dict] = []
    first_of: dict[str, dict] = {}
    for row in sorted(rows, key=preference):
        path = Path(row["image_path"])
        try:
            read_image(path)
        except ImageReadError as err:
            report.skip(path, f"unreadable: {err.reason}")
            continue
        digest = _sha256(path)
        if digest in first_of and not keep_duplicates:
            original = first_of[digest]
            kept_name = Path(original["image_path"]).relative_to(src)
            report.skip(path, f"byte-identical duplicate of {kept_name}")
            if original["split"] != row["split"]:
                report.note(
                    f"{path.relative_to(src)} duplicates an image of split {original['split']}"
                )
            continue
        first_of.setdefault(digest, row)
        kept.append(row)

    for row in kept:
        source = Path(row["image_path"])
        folder = _FOLDER_OF_SPLIT.get(row["split"], row["split"] or "ALL")
        target = out / folder / row["label"] / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        row["image_path"] = str(target)
    split_rank = {"train": 0, "val": 1, "test": 2}
    kept.sort(key=lambda r: (split_rank.get(r["split"], 3), r["label"], r["image_path"]))
    patients: dict[str, set] = {}
    for row in kept:
        patients.setdefault(row["patient_id"], set()).add(row["split"])
    for patient, splits in sorted(patients.items()):
        if len(splits) > 1:
            report.note(
                f"patient {patient} has images in {sorted(splits)} (from the folder layout)"
            )
    report.rows = kept
    report.manifest_path = write_manifest(out / MANIFEST_NAME, kept)
    return report
