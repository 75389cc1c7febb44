"""Synthetic CBIS-DDSM in TCIA's on-disk layout, as input for ``keras-mia prepare cbis-ddsm``.

Written (all images synthetic, drawn by ``keras_mia.synth.mammo.render_mammogram``)::

    OUT/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-NNNNN/
        1.000000-full mammogram images-NNNNN/000000.dcm            16-bit MG, full image
    OUT/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC_1/07-21-2016-DDSM-NNNNN/
        1.000000-ROI mask images-NNNNN/000000.dcm, 000001.dcm     mask (8-bit 0/255) and
                                                                   cropped lesion (16-bit)
    OUT/mass_case_description_train_set.csv, ..._test_set.csv,
    OUT/calc_case_description_train_set.csv, ..._test_set.csv

The quirks of the real download are reproduced: the CSVs give paths of the form
``<case>/<StudyInstanceUID>/<SeriesInstanceUID>/00000N.dcm`` while the folders on disk are
named by the NBIA retriever (date / series description); which of ``000000.dcm`` and
``000001.dcm`` is the mask varies; some abnormalities have mask and crop in two separate
series folders; some CSV rows give the mask's path as the cropped image's and vice versa;
one quoted path per row ends with a newline inside its quotes (the mask path in the mass
files, the cropped-image path in the calc files); the calc files' header says
``breast density`` where the mass files say ``breast_density``. With ``n >= 10`` one patient
has a scan in the official training set and another in the test set. The first scan holds
a malignant mass and a benign calcification and is listed twice, as the real data lists such
scans: ``Mass-Training_P_00001_LEFT_CC`` (abnormality 1) and ``Calc-Training_P_00001_LEFT_CC``
(abnormality 2), each folder with its own copy of the full mammogram (same pixels, own UIDs).
DICOM tags follow the real files: PatientID is the folder name, SeriesDescription
``full mammogram images`` / ``ROI mask images`` / ``cropped images``.

Most full mammograms (and their cropped lesions) are 16-bit MONOCHROME2, as CBIS-DDSM's are;
two are stored as a hospital's FFDM files may be, to test that ``prepare`` and the deployed
path (``keras-mia predict``) read them alike (``ENCODINGS``): the second scan as 12 bits
stored (values 0..4095, ``BitsStored`` 12 of 16 allocated) and the third as MONOCHROME1
(stored values inverted: high = dark).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_N", "DEFAULT_SIZE", "ENCODINGS", "write_cbis_ddsm"]

DEFAULT_N = 10
DEFAULT_SIZE: tuple[int, int] = (400, 250)
# (abnormality kind, official split) per patient, cycling; every CSV gets rows.
# Scan index -> (BitsStored, PhotometricInterpretation) of its full mammogram and crop; the
# other scans are (16, "MONOCHROME2").
ENCODINGS: dict[int, tuple[int, str]] = {1: (12, "MONOCHROME2"), 2: (16, "MONOCHROME1")}
_PATTERNS = (("Mass", "Training"), ("Mass", "Test"), ("Calc", "Test"), ("Calc", "Training"))
_MASS_HEADER = [
    "patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
    "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
    "image file path", "cropped image file path", "ROI mask file path",
]
_CALC_HEADER = [
    "patient_id", "breast density", "left or right breast", "image view", "abnormality id",
    "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
    "image file path", "cropped image file path", "ROI mask file path",
]


def _plan(n: int) -> list[dict]:
    """One entry per full mammogram: patient, side, view, kind, split, pathologies."""
    scans = []
    for i in range(n):
        p = i // 2
        kind, split = _PATTERNS[p % len(_PATTERNS)]
        if p == 4 and i % 2 == 1:
            # A patient in both official splits (a mass test scan and a calc training scan).
            kind, split = "Calc", "Training"
        elif p == 4:
            kind, split = "Mass", "Test"
        pathologies = ["MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"]
        first = pathologies[i % 3]
        rois = 2 if i % 4 == 0 else 1
        # The first scan's second ROI is listed as a calcification of a twin Calc case.
        twin = i == 0 and kind == "Mass" and rois == 2
        scans.append(
            dict(
                patient=f"P_{p + 1:05d}",
                side="LEFT" if p % 2 == 0 else "RIGHT",
                view="CC" if i % 2 == 0 else "MLO",
                kind=kind,
                split=split,
                pathologies=[first] + ["BENIGN"] * (rois - 1),
                twin_rois=(2,) if twin else (),
            )
        )
    return scans


def _render(rng, height: int, width: int, scan: dict):
    """A mammogram whose ROIs are all non-empty, with one finding kind per scan."""
    from keras_mia.synth.mammo import render_mammogram, to_uint16

    abnormality = "mass" if scan["kind"] == "Mass" else "calcification"
    malignant = "MALIGNANT" in scan["pathologies"]
    finding = f"{abnormality}_{'malignant' if malignant else 'benign'}"
    for _ in range(20):
        mammogram = render_mammogram(
            rng, height, width, scan["side"][0], scan["view"], finding,
            rois=len(scan["pathologies"]),
        )
        if len(mammogram.rois) == len(scan["pathologies"]) and all(
            r.mask.any() for r in mammogram.rois
        ):
            return to_uint16(rng, mammogram), [r.mask for r in mammogram.rois]
    raise RuntimeError(f"Could not place {len(scan['pathologies'])} lesions in {height}x{width}")


def _crop(image: np.ndarray, mask: np.ndarray, margin: int) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, image.shape[0])
    c0, c1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, image.shape[1])
    return image[r0:r1, c0:c1].copy()


def write_cbis_ddsm(out: Path, n: int | None, seed: int, image_size=None) -> Path:
    """Writes the synthetic CBIS-DDSM download into ``out`` (see the module docstring).

    Args:
        out: an empty folder.
        n: number of full mammograms (default 10); 2 per patient (CC and MLO).
        seed: random seed.
        image_size: ``(height, width)`` of the full mammograms (default 400 x 250).

    Returns:
        ``out``.
    """
    from keras_mia.synth.common import parse_size, synthetic_uid
    from keras_mia.synth.raw._dicom import write_slice

    n = DEFAULT_N if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1. Received: n={n}")
    height, width = parse_size(image_size, DEFAULT_SIZE)
    rng = np.random.default_rng(seed)
    root = out / "CBIS-DDSM"
    rows: dict[tuple[str, str], list[list[str]]] = {
        (kind, split): [] for kind, split in _PATTERNS
    }
    abnormality_count = 0
    for i, scan in enumerate(_plan(n)):
        case = f"{scan['kind']}-{scan['split']}_{scan['patient']}_{scan['side']}_{scan['view']}"
        image, masks = _render(rng, height, width, scan)

        bits, photometric = ENCODINGS.get(i, (16, "MONOCHROME2"))

        def dicom(path, pixels, description, key, study, series, instance=1, mask=False):
            stored_bits, stored_photometric = (None, "MONOCHROME2") if mask else (
                bits, photometric)
            if not mask:
                # Keep the top bits (a 12-bit detector's range), then invert MONOCHROME1.
                pixels = pixels >> (16 - bits)
                if photometric == "MONOCHROME1":
                    pixels = (2**bits - 1) - pixels
            return write_slice(
                path, pixels, sop_uid=synthetic_uid("cbis", seed, key), modality="MG",
                patient_id=key.split("/")[0], study_uid=study, series_uid=series,
                series_description=description, instance_number=instance,
                extra={"Laterality": scan["side"][0], "ViewPosition": scan["view"],
                       "BodyPartExamined": "BREAST", "SeriesNumber": 1},
                bits_stored=stored_bits, photometric=stored_photometric,
            )

        twin_case = f"Calc-{scan['split']}_{scan['patient']}_{scan['side']}_{scan['view']}"
        full_csv_of = {}
        for this_case in [case] + ([twin_case] if scan["twin_rois"] else []):
            study = synthetic_uid("cbis", seed, this_case, "study")
            series = synthetic_uid("cbis", seed, this_case, "series")
            tag = 10000 + int(rng.integers(0, 89999))
            full_dir = (
                root / this_case / f"07-20-2016-DDSM-{tag}"
                / f"1.000000-full mammogram images-{tag + 1}"
            )
            dicom(full_dir / "000000.dcm", image, "full mammogram images", this_case, study,
                  series)
            full_csv_of[this_case] = f"{this_case}/{study}/{series}/000000.dcm"

        for k, (mask, pathology) in enumerate(zip(masks, scan["pathologies"]), start=1):
            abnormality_count += 1
            kind = "Calc" if k in scan["twin_rois"] else scan["kind"]
            roi_case = f"{twin_case if k in scan['twin_rois'] else case}_{k}"
            full_csv = full_csv_of[roi_case.rsplit("_", 1)[0]]
            roi_study = synthetic_uid("cbis", seed, roi_case, "study")
            roi_series = synthetic_uid("cbis", seed, roi_case, "series")
            tag = 10000 + int(rng.integers(0, 89999))
            study_dir = root / roi_case / f"07-21-2016-DDSM-{tag}"
            mask8 = mask.astype(np.uint8) * 255
            crop = _crop(image, mask, margin=int(rng.integers(2, 12)))
            if abnormality_count % 3 == 0:
                # Mask and crop in two series folders, each a 000000.dcm.
                crop_series = synthetic_uid("cbis", seed, roi_case, "series2")
                mask_file = study_dir / f"1.000000-ROI mask images-{tag + 1}" / "000000.dcm"
                crop_file = study_dir / f"1.000000-cropped images-{tag + 2}" / "000000.dcm"
                dicom(mask_file, mask8, "ROI mask images", roi_case + "/m", roi_study, roi_series,
                      mask=True)
                dicom(crop_file, crop, "cropped images", roi_case + "/c", roi_study, crop_series)
                mask_csv = f"{roi_case}/{roi_study}/{roi_series}/000000.dcm"
                crop_csv = f"{roi_case}/{roi_study}/{crop_series}/000000.dcm"
            else:
                mask_first = bool(rng.integers(0, 2))
                series_dir = study_dir / f"1.000000-ROI mask images-{tag + 1}"
                mask_name, crop_name = (
                    ("000000.dcm", "000001.dcm") if mask_first else ("000001.dcm", "000000.dcm")
                )
                dicom(series_dir / mask_name, mask8, "ROI mask images", roi_case + "/m",
                      roi_study, roi_series, instance=1 if mask_first else 2, mask=True)
                dicom(series_dir / crop_name, crop, "cropped images", roi_case + "/c",
                      roi_study, roi_series, instance=2 if mask_first else 1)
                mask_csv = f"{roi_case}/{roi_study}/{roi_series}/{mask_name}"
                crop_csv = f"{roi_case}/{roi_study}/{roi_series}/{crop_name}"
            if abnormality_count % 4 == 2:
                mask_csv, crop_csv = crop_csv, mask_csv  # the CSV swaps them
            if kind == "Mass":
                described = ["OVAL", "CIRCUMSCRIBED"] if pathology != "MALIGNANT" else [
                    "IRREGULAR", "SPICULATED"]
                mask_csv += "\n"
            else:
                described = ["PLEOMORPHIC", "CLUSTERED"] if pathology == "MALIGNANT" else [
                    "PUNCTATE", "SEGMENTAL"]
                crop_csv += "\n"
            rows[(kind, scan["split"])].append(
                [scan["patient"], str(1 + i % 4), scan["side"], scan["view"], str(k),
                 "mass" if kind == "Mass" else "calcification", *described,
                 "5" if pathology == "MALIGNANT" else "3", pathology, str(1 + i % 5),
                 full_csv, crop_csv, mask_csv]
            )

    for (kind, split), table in rows.items():
        subset = "train" if split == "Training" else "test"
        name = f"{kind.lower()}_case_description_{subset}_set.csv"
        with open(out / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(_MASS_HEADER if kind == "Mass" else _CALC_HEADER)
            writer.writerows(table)
    return out
