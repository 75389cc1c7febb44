"""CBIS-DDSM (TCIA) -> preprocessed 16-bit PNG mammograms, merged ROI masks and a manifest.

Input (``SRC``), as downloaded from TCIA with the NBIA Data Retriever:

- image folders, one per full mammogram and one per abnormality, anywhere below ``SRC``::

      Mass-Training_P_00001_LEFT_CC/<study>/<series>/000000.dcm        full mammogram
      Mass-Training_P_00001_LEFT_CC_1/<study>/<series>/000000.dcm      ROI mask or cropped
      Mass-Training_P_00001_LEFT_CC_1/<study>/<series>/000001.dcm      the other one

  (the study/series folder names differ between retriever versions: UIDs, or names like
  ``07-20-2016-DDSM-74994/1.000000-full mammogram images-24515``; files may be called
  ``1-1.dcm``; a PNG mirror's ``1-1.png`` works too);
- the four case-description CSVs (``mass_case_description_train_set.csv``,
  ``..._test_set.csv``, ``calc_case_description_...``), below ``SRC`` or in ``csv_dir``.

Each CSV row is one abnormality. Its paths are used only for their first component (the
case folder ``Mass-Training_P_00001_LEFT_CC`` and the abnormality folder ``..._1``),
because the study/series folders on disk rarely match them. Known quirks handled: a quoted
path with a newline inside it, ``breast density`` vs ``breast_density`` headers, and the
ROI mask and cropped image being swapped or in separate series: the mask is told from the
crop by content (a few values only - 0/255 in TCIA's files - and the mammogram's size),
never by name; every pixel above the mask's background value is ROI.

Output (``OUT``):

- One physical scan, one image: CBIS-DDSM lists a scan that holds both a mass and
  calcifications twice, once per abnormality type, in two case folders with the same
  patient, side and view (e.g. ``Calc-Test_P_01502_LEFT_CC`` and ``Mass-Test_P_01502_LEFT_CC``,
  a benign mass and a malignant calcification). Those cases are written as one image named
  after the first case folder (by name), with the ROIs of both merged into its mask and its
  label taken over all of them, as Scuccimarra did ("we combined all masks for each scan into
  one"); otherwise the same pixels would appear twice, possibly with opposite labels. The
  other copy's pixels are compared with the used one and any difference is noted; a copy
  whose folder is missing or unreadable still contributes its ROIs.
- ``images/<case>.png``: 16-bit, Shen's preprocessing (``prepare_mammogram``): resized to
  ``image_size`` keeping the aspect ratio (symmetric padding) - or, with ``scale``
  (Scuccimarra: 0.66), to that fraction of the scan's own height and width, so images keep
  their differing sizes - breast segmented (burned-in labels and markers zeroed),
  intensities scaled from the file's bit depth to 0..65535;
- ``masks/<case>.png``: all ROI masks of the scan merged (8-bit, 0/255), and
  ``masks/rois/<case>_<abnormality id>.png`` one per abnormality (``<case>_<type><id>``
  in a merged scan whose abnormality ids repeat);
- ``manifest.csv``: one row per scan: ``label`` benign/malignant (malignant when any of
  its abnormalities is), ``patient_id`` (``P_00001``), ``split`` (the official
  Training/Test split, with ``val_fraction`` of the training patients moved to ``val``;
  a patient in both official splits goes wholly to test), ``mask_path``, ``study_id``
  (the case folder name; the first one of a merged scan), ``view``, ``laterality`` (L/R),
  ``abnormality`` (mass/calcification) and ``pathology``;
- ``abnormalities.csv``: one row per abnormality (its case folder, the ``scan`` - the
  image's ``study_id`` - it was written into, type, pathology, Shen's class 1-4, its own
  mask, bounding box in the output image, the source files it was read from);
- with ``patches="s"`` or ``"s10"``: ``patches_<set>/<class>/*.png`` (16-bit, cut from the
  preprocessed image) and ``patches_<set>/manifest.csv`` (see
  ``keras_mia.preprocessing.patches``);
- with ``roi_crops=S``: Scuccimarra's second training set, ``roi_crops_<S>/images/*.png``
  (16-bit) and ``roi_crops_<S>/masks/*.png`` (the merged mask: every ROI inside the crop),
  one ``S x S`` crop of the prepared image per abnormality, centred on its bounding box and
  shifted to lie inside the image (an image smaller than ``S`` is padded with zeros at its
  bottom/right), with ``roi_crops_<S>/manifest.csv`` (the scan's label, patient and split,
  the abnormality's type and pathology, ``roi``, ``crop_top``/``crop_left`` in the prepared
  image). ``S`` is in prepared-image pixels: the seed's 1280 x 1280 crops of the original
  scans, shrunk to 0.66 with everything else, are ``roi_crops=845`` at ``scale=0.66``;
- ``preparation.json`` beside each manifest: the parameters of
  ``keras_mia.preprocessing.prepare_mammogram``, the one function that prepared the images
  (see ``keras_mia.preprocessing.record``); training copies it into the run and export into
  the SavedModel, so that ``keras-mia predict`` prepares a raw file the same way;
- ``prepare_report.txt``.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_mia.datasets._common import (
    MANIFEST_NAME,
    check_src,
    iter_files,
    prepare_out_dir,
    safe_name,
    source_range,
    write_gray_png,
)
from keras_mia.datasets.report import PrepareReport
from keras_mia.io.files import is_image_file

__all__ = [
    "prepare_cbis_ddsm", "read_case_descriptions", "Abnormality", "CASE_PATTERN",
]

DATASET = "cbis_ddsm"
CASE_PATTERN = re.compile(
    r"^(?P<kind>Mass|Calc)-(?P<split>Training|Test)_(?P<patient>P_\d+)_(?P<side>LEFT|RIGHT)_"
    r"(?P<view>CC|MLO)(?:_(?P<abnormality>\d+))?$",
    re.IGNORECASE,
)
# Normalised CSV header (lower case, "_" -> " ") -> attribute.
_COLUMNS = {
    "patient id": "patient_id",
    "left or right breast": "laterality",
    "image view": "view",
    "abnormality id": "abnormality_id",
    "abnormality type": "abnormality_type",
    "pathology": "pathology",
    "image file path": "image_path",
    "cropped image file path": "cropped_path",
    "roi mask file path": "mask_path",
}
_PATHOLOGIES = ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")
_TYPES = {"mass": "mass", "calcification": "calcification", "calc": "calcification"}
# A mask whose size is off by at most this fraction per side is resized onto its mammogram
# (a few CBIS-DDSM masks are a handful of pixels off); a larger mismatch is an error.
_MASK_SIZE_TOLERANCE = 0.02
_PATCH_SET_NAMES = ("s", "s10")


@dataclass
class Abnormality:
    """One case-description row: one abnormality of one full mammogram.

    Attributes:
        source: ``"<csv file> line <n>"``, for messages.
        patient_id, laterality (``LEFT``/``RIGHT``), view, abnormality_id,
            abnormality_type (``mass``/``calcification``), pathology: the row's values.
        image_path, cropped_path, mask_path: the row's paths as written.
        case: the full mammogram's folder name (first component of ``image_path``).
        roi_folders: the folder names of the mask and the cropped image.
        official_split: ``"train"`` or ``"test"``.
    """

    source: str
    patient_id: str
    laterality: str
    view: str
    abnormality_id: str
    abnormality_type: str
    pathology: str
    image_path: str
    cropped_path: str
    mask_path: str
    case: str
    roi_folders: tuple[str, ...]
    official_split: str


def _normalise_header(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


def _first_component(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return parts[0] if parts else ""


def _official_split(case: str, csv_name: str) -> str | None:
    match = CASE_PATTERN.match(case)
    if match:
        return "train" if match["split"].lower() == "training" else "test"
    name = csv_name.lower()
    if "train" in name:
        return "train"
    if "test" in name:
        return "test"
    return None


def read_case_descriptions(
    paths: Iterable[str | Path], report: PrepareReport | None = None
) -> list[Abnormality]:
    """Reads CBIS-DDSM case-description CSVs (mass/calc, train/test) into abnormalities.

    Args:
        paths: the CSV files.
        report: rows that cannot be used are recorded here as skipped, with the reason;
            without a report they raise.

    Returns:
        One ``Abnormality`` per usable row, in file order.

    Raises:
        ValueError: a file lacks a required column (always), or a row is bad and no
            ``report`` was given.
    """

    def reject(item: str, reason: str) -> None:
        if report is None:
            raise ValueError(f"{item}: {reason}")
        report.skip(item, reason)

    out: list[Abnormality] = []
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        path = Path(path)
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: empty case-description file")
            names = [_normalise_header(h) for h in header]
            missing = [c for c in _COLUMNS if c not in names]
            if missing:
                raise ValueError(
                    f"{path}: missing column(s) {missing} of a CBIS-DDSM case description. "
                    f"Received header: {header}"
                )
            index = {attr: names.index(col) for col, attr in _COLUMNS.items()}
            line = reader.line_num + 1
            for fields in reader:
                source = f"{path.name} line {line}"
                line = reader.line_num + 1
                if not any(cell.strip() for cell in fields):
                    continue
                if len(fields) != len(names):
                    reject(source, f"row has {len(fields)} fields, the header {len(names)}")
                    continue
                values = {attr: fields[i].strip() for attr, i in index.items()}
                kind = _TYPES.get(values["abnormality_type"].lower())
                pathology = values["pathology"].upper()
                case = _first_component(values["image_path"])
                if kind is None:
                    reject(source, f"unknown abnormality type {values['abnormality_type']!r}")
                    continue
                if pathology not in _PATHOLOGIES:
                    reject(source, f"unknown pathology {values['pathology']!r}")
                    continue
                if not case or not values["mask_path"]:
                    reject(source, "empty image or ROI mask path")
                    continue
                split = _official_split(case, path.name)
                if split is None:
                    reject(source, f"cannot tell the official split of {case!r}")
                    continue
                key = (case, values["abnormality_id"])
                if key in seen:
                    reject(source, f"duplicate of {seen[key]} (same case and abnormality id)")
                    continue
                seen[key] = source
                folders = tuple(
                    dict.fromkeys(
                        f for f in (_first_component(values["mask_path"]),
                                    _first_component(values["cropped_path"])) if f
                    )
                )
                out.append(
                    Abnormality(
                        source=source,
                        patient_id=values["patient_id"],
                        laterality=values["laterality"].upper(),
                        view=values["view"].upper(),
                        abnormality_id=values["abnormality_id"],
                        abnormality_type=kind,
                        pathology=pathology,
                        image_path=values["image_path"],
                        cropped_path=values["cropped_path"],
                        mask_path=values["mask_path"],
                        case=case,
                        roi_folders=folders,
                        official_split=split,
                    )
                )
    return out


@dataclass
class _ScanTask:
    """One physical scan: ``case`` names the output; ``case_dirs`` holds every case folder
    found for the scan (``case`` first when found), ``abnormalities`` those of all its cases,
    ``roi_files`` the image files of each ``(case, abnormality id)``."""

    case: str
    case_dirs: dict[str, Path]
    abnormalities: list[Abnormality]
    roi_files: dict[tuple[str, str], list[Path]]
    out_dir: Path
    split: str
    label: str
    image_size: tuple[int, int] | None
    overflow: str
    segment: bool
    patches: str | None
    patch_size: int
    seed: int
    scale: float | None = None
    roi_crops: int | None = None


@dataclass
class _ScanResult:
    row: dict | None = None
    abnormality_rows: list[dict] = field(default_factory=list)
    patch_rows: list[dict] = field(default_factory=list)
    roi_crop_rows: list[dict] = field(default_factory=list)
    # (positive pixels, pixels) of the ROI crops written.
    roi_crop_pixels: tuple[int, int] = (0, 0)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    swapped: int = 0


def _is_mask(image: np.ndarray, limit: int = 4) -> bool:
    """Whether an image looks like an ROI mask: a handful of distinct values (CBIS-DDSM's
    DICOM masks hold 0 and 255; PNG copies may add an edge or fill level), not the
    thousands of grey levels of a cropped lesion image."""
    values = np.unique(image.ravel()[:: max(1, image.size // 100_000)])
    if len(values) < 2 or len(values) > limit:
        return False
    return bool(np.isin(image, values).all())


def _series_description(path: Path) -> str:
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return str(ds.get("SeriesDescription", "") or "")
    except Exception:  # noqa: BLE001 - PNG or unreadable header: no description
        return ""


def _pick_full_image(
    case: str, case_dir: Path, csv_path: str, files: list[Path], result: _ScanResult
) -> Path | None:
    if len(files) == 1:
        return files[0]
    if not files:
        return None
    exact = case_dir.parent / csv_path
    if exact in files:
        return exact
    described = [p for p in files if "full mammogram" in _series_description(p).lower()]
    if len(described) == 1:
        return described[0]

    def pixels(p: Path) -> int:
        try:
            import pydicom

            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            return int(ds.Rows) * int(ds.Columns)
        except Exception:  # noqa: BLE001
            return 0

    chosen = max(files, key=pixels)
    result.notes.append(
        f"{case}: {len(files)} image files in the full-mammogram folder; used the "
        f"largest, {chosen.name}"
    )
    return chosen


def _series_uid(path: Path) -> str:
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return str(ds.get("SeriesInstanceUID", "") or "")
    except Exception:  # noqa: BLE001 - PNG or unreadable header
        return ""


def _csv_points_to(base: Path, csv_path: str, file: Path) -> bool:
    """Whether a CSV path names ``file``: the same path below ``base`` (the folder of the
    case folders), or (TCIA's ``<case>/<study UID>/<series UID>/<name>`` against renamed
    folders) the same series UID and file name."""
    if not csv_path:
        return False
    if base / csv_path == file:
        return True
    parts = [p for p in csv_path.replace("\\", "/").split("/") if p]
    return (
        len(parts) >= 3
        and parts[-1] == file.name
        and parts[-2] == _series_uid(file)
    )


def _resolve_roi(
    task: _ScanTask, abn: Abnormality, full_shape: tuple[int, int], result: _ScanResult
) -> np.ndarray | None:
    """The abnormality's ROI mask at full resolution, or ``None`` (reason recorded)."""
    from keras_mia.io import ImageReadError, read_image

    item = f"{abn.case} abnormality {abn.abnormality_id} ({abn.source})"
    files = task.roi_files.get((abn.case, abn.abnormality_id), [])
    if not files:
        result.skipped.append(
            (item, f"ROI folder {'/'.join(abn.roi_folders) or '?'} not found under SRC")
        )
        return None
    candidates = []
    for path in files:
        try:
            image = read_image(path)
        except ImageReadError as err:
            result.notes.append(f"{item}: unreadable file ignored: {err}")
            continue
        candidates.append((path, image, _is_mask(image)))
    masks = [c for c in candidates if c[2]]
    if not masks:
        result.skipped.append(
            (item, "no ROI mask (an image of a few values) among the files of its ROI folder")
        )
        return None
    masks.sort(
        key=lambda c: abs(c[1].shape[0] - full_shape[0]) + abs(c[1].shape[1] - full_shape[1])
    )
    mask_path, mask_image, _ = masks[0]
    crops = [c for c in candidates if c[0] != mask_path and not c[2]]
    crop_path = crops[0][0] if crops else None

    base = next(iter(task.case_dirs.values())).parent
    swapped = crop_path is not None and (
        _csv_points_to(base, abn.mask_path, crop_path)
        or _csv_points_to(base, abn.cropped_path, mask_path)
    )
    if swapped:
        result.swapped += 1
    # Any value above the background is ROI (a schema rule: non-zero = foreground).
    mask = mask_image > mask_image.min()
    if mask.shape != tuple(full_shape):
        off = [abs(a - b) / b for a, b in zip(mask.shape, full_shape)]
        if max(off) > _MASK_SIZE_TOLERANCE:
            result.skipped.append(
                (item, f"ROI mask size {mask.shape} does not match the mammogram's {full_shape}")
            )
            return None
        from keras_mia.preprocessing import resize_image

        mask = resize_image(mask.astype(np.float32), *full_shape, order=0) > 0.5
        result.notes.append(
            f"{item}: ROI mask {mask_image.shape} resized to the mammogram's {tuple(full_shape)}"
        )
    abn_row = {
        "roi_mask_source": str(mask_path),
        "cropped_image_source": "" if crop_path is None else str(crop_path),
        "mask_crop_swapped_in_csv": int(swapped),
    }
    result.abnormality_rows.append(abn_row)
    return mask


def _read_full_mammogram(
    task: _ScanTask, result: _ScanResult, scan_item: str
) -> tuple[Path, np.ndarray] | None:
    """The scan's full mammogram from the first of its case folders that gives one.

    The copies in the other folders (a scan listed as mass and as calcification case) are
    read too and compared with it; a difference is noted, never silently ignored.

    Returns:
        ``(path, image)``, or ``None`` when no folder gives a readable image (the reasons
        are recorded as the skip of ``scan_item``).
    """
    from keras_mia.io import ImageReadError, read_image

    problems, chosen = [], None
    for case, case_dir in task.case_dirs.items():
        csv_path = next(a.image_path for a in task.abnormalities if a.case == case)
        files = [p for p in iter_files(case_dir) if is_image_file(p)]
        path = _pick_full_image(case, case_dir, csv_path, files, result)
        if path is None:
            problems.append((case, "no image file in the full-mammogram folder"))
            continue
        try:
            image = read_image(path)
        except ImageReadError as err:
            problems.append((case, f"full mammogram unreadable: {err.reason}"))
            continue
        if chosen is None:
            chosen = (case, path, image)
        elif image.shape != chosen[2].shape:
            result.notes.append(
                f"{task.case}: the copy of this scan in {case} is {image.shape[0]}x"
                f"{image.shape[1]}, the one used ({chosen[0]}) {chosen[2].shape[0]}x"
                f"{chosen[2].shape[1]}; the ROIs of both are drawn on the one used"
            )
        elif not np.array_equal(image, chosen[2]):
            diff = float(np.max(np.abs(image - chosen[2])))
            result.notes.append(
                f"{task.case}: the copy of this scan in {case} differs from the one used "
                f"({chosen[0]}) by up to {diff:g} in value"
            )
    if chosen is None:
        if len(problems) == 1:
            result.skipped.append((scan_item, problems[0][1]))
        else:
            result.skipped.append(
                (scan_item, "no readable full mammogram: "
                 + "; ".join(f"{case}: {reason}" for case, reason in problems))
            )
        return None
    for case, reason in problems:
        result.notes.append(
            f"{task.case}: {case}: {reason}; its ROIs are drawn on the copy in {chosen[0]}"
        )
    return chosen[1], chosen[2]


def _roi_tags(abnormalities: Sequence[Abnormality]) -> list[str]:
    """File-name tag per abnormality of one scan: its id, made unique in a merged scan."""
    tags = [safe_name(a.abnormality_id) for a in abnormalities]
    if len(set(tags)) < len(tags):
        tags = [f"{a.abnormality_type}{safe_name(a.abnormality_id)}" for a in abnormalities]
    if len(set(tags)) < len(tags):
        tags = [f"{safe_name(a.case)}_{safe_name(a.abnormality_id)}" for a in abnormalities]
    return tags


def _group_same_scans(by_case: dict[str, list[Abnormality]]) -> list[list[str]]:
    """Case folders that hold one physical scan, i.e. the same patient, side and view.

    CBIS-DDSM lists a scan with both a mass and calcifications once per abnormality type
    (``Mass-..._P_01502_LEFT_CC`` and ``Calc-..._P_01502_LEFT_CC``). A DDSM case has one
    image per side and view, so these keys identify the image.
    """
    groups: dict[tuple[str, str, str], list[str]] = {}
    for case, abns in sorted(by_case.items()):
        match = CASE_PATTERN.match(case)
        if match:
            key = (match["patient"].upper(), match["side"].upper(), match["view"].upper())
        else:
            key = (abns[0].patient_id, abns[0].laterality, abns[0].view)
        groups.setdefault(key, []).append(case)
    return list(groups.values())


def _process_scan(task: _ScanTask) -> _ScanResult:
    """Reads, preprocesses and writes one full mammogram with its masks (and patches)."""
    from keras_mia.preprocessing import (
        PATCH_LABELS,
        apply_placement_to_mask,
        crop_patch,
        patch_class,
        prepare_mammogram,
        sample_patch_windows,
    )

    result = _ScanResult()
    n_abn = len(task.abnormalities)
    scan_item = f"{task.case} ({n_abn} abnormalit{'y' if n_abn == 1 else 'ies'})"
    found = _read_full_mammogram(task, result, scan_item)
    if found is None:
        return result
    full_path, full = found
    top = source_range(full_path, full)

    masks = []
    for abn in task.abnormalities:
        masks.append(_resolve_roi(task, abn, full.shape, result))
    failed = sum(m is None for m in masks)
    if failed:
        result.skipped.append(
            (scan_item, "scan left out: an abnormality's ROI mask is missing, so its merged "
             "mask would be incomplete (the abnormality's own reason is listed too)")
        )
        result.abnormality_rows = []
        return result

    # The deployed path (keras_mia.inference) prepares raw files with this same call.
    prepared = prepare_mammogram(
        full, top, image_size=task.image_size, overflow=task.overflow, segment=task.segment,
        scale=task.scale,
    )
    if not prepared.breast.any():
        result.skipped.append((scan_item, "no breast found (constant image)"))
        result.abnormality_rows = []
        return result
    image16, breast = prepared.image, prepared.breast
    # The masks follow the image's own geometry (canvas and padding, or relative scale).
    rois = [apply_placement_to_mask(m, prepared.placement) for m in masks]
    merged = np.zeros(image16.shape, dtype=bool)
    for roi in rois:
        merged |= roi

    name = safe_name(task.case)
    tags = _roi_tags(task.abnormalities)
    image_path = task.out_dir / "images" / f"{name}.png"
    mask_path = task.out_dir / "masks" / f"{name}.png"
    write_gray_png(image_path, image16)
    write_gray_png(mask_path, merged.astype(np.uint8) * 255)

    first = task.abnormalities[0]
    pathologies = sorted({a.pathology for a in task.abnormalities})
    kinds = sorted({a.abnormality_type for a in task.abnormalities})
    result.row = _image_row(task, image_path, mask_path, ";".join(kinds), ";".join(pathologies))

    classes = []
    for abn, tag, roi, abn_row in zip(task.abnormalities, tags, rois, result.abnormality_rows):
        roi_path = task.out_dir / "masks" / "rois" / f"{name}_{tag}.png"
        write_gray_png(roi_path, roi.astype(np.uint8) * 255)
        rows, cols = np.nonzero(roi)
        classes.append(patch_class(abn.abnormality_type, abn.pathology))
        inside = float((roi & breast).sum()) / max(int(roi.sum()), 1)
        if task.segment and inside < 0.99:
            result.notes.append(
                f"{task.case} abnormality {abn.abnormality_id}: {inside:.1%} of its ROI lies in "
                "the segmented breast (the rest is outside the skin line)"
            )
        abn_row.update(
            {
                "case": abn.case,
                "scan": task.case,
                "patient_id": abn.patient_id,
                "split": task.split,
                "abnormality_id": abn.abnormality_id,
                "abnormality_type": abn.abnormality_type,
                "pathology": abn.pathology,
                "patch_class": classes[-1],
                "mask_path": str(roi_path.relative_to(task.out_dir)),
                "bbox_top": int(rows.min()),
                "bbox_left": int(cols.min()),
                "bbox_bottom": int(rows.max()),
                "bbox_right": int(cols.max()),
                "roi_in_breast": round(inside, 4),
                "full_image_source": str(full_path),
                "csv_row": abn.source,
            }
        )

    if task.roi_crops:
        _write_roi_crops(task, result, image16, rois, tags, name)

    if task.patches:
        rng = np.random.default_rng([task.seed, zlib.crc32(task.case.encode("utf-8"))])
        windows, shortfalls = sample_patch_windows(
            rois, classes, breast, task.patches, patch_size=task.patch_size, rng=rng
        )
        for roi_index, message in shortfalls:
            where = (
                "background"
                if roi_index < 0
                else f"abnormality {task.abnormalities[roi_index].abnormality_id}"
            )
            result.skipped.append(
                (f"{task.case} {where}: {message}", f"patch set {task.patches}: quota not met")
            )
        folder = task.out_dir / f"patches_{task.patches}"
        counters: Counter = Counter()
        for window in windows:
            label = PATCH_LABELS[window.label]
            tag = "bg" if window.roi_index < 0 else f"roi{tags[window.roi_index]}"
            counters[tag] += 1
            path = folder / label / f"{name}_{tag}_{counters[tag] - 1:02d}.png"
            write_gray_png(path, crop_patch(image16, window))
            abn = task.abnormalities[window.roi_index] if window.roi_index >= 0 else None
            result.patch_rows.append(
                {
                    "image_path": str(path),
                    "label": label,
                    "patient_id": first.patient_id,
                    "split": task.split,
                    "study_id": task.case,
                    "view": first.view,
                    "laterality": first.laterality[:1],
                    "abnormality": "" if abn is None else abn.abnormality_type,
                    "pathology": "" if abn is None else abn.pathology,
                    "dataset": DATASET,
                }
            )
    return result


def _image_row(task, image_path: Path, mask_path: Path, abnormality: str,
               pathology: str) -> dict[str, str]:
    """The manifest row of an image written for ``task``'s scan (whole image or ROI crop)."""
    first = task.abnormalities[0]
    return {
        "image_path": str(image_path),
        "label": task.label,
        "patient_id": first.patient_id,
        "split": task.split,
        "mask_path": str(mask_path),
        "study_id": task.case,
        "view": first.view,
        "laterality": first.laterality[:1],
        "abnormality": abnormality,
        "pathology": pathology,
        "dataset": DATASET,
    }


def _write_roi_crops(task, result, image16, rois, tags, name) -> None:
    """Scuccimarra's second set: one ``S x S`` crop per ROI, centred on it (see the module
    docstring and ``keras_mia.preprocessing.roi_crops``); its mask is the merged mask, so
    every ROI the crop shows is labelled."""
    from keras_mia.preprocessing.roi_crops import roi_crops

    size = int(task.roi_crops)
    folder = task.out_dir / f"roi_crops_{size}"
    positive, total = result.roi_crop_pixels
    for abn, tag, crop in zip(task.abnormalities, tags, roi_crops(image16, rois, size)):
        if max(crop.roi_extent) > size:
            result.notes.append(
                f"{task.case} abnormality {abn.abnormality_id}: its ROI ({crop.roi_extent[0]}x"
                f"{crop.roi_extent[1]} px) is larger than the {size}x{size} ROI crop, which "
                "holds its centre"
            )
        image_path = folder / "images" / f"{name}_{tag}.png"
        mask_path = folder / "masks" / f"{name}_{tag}.png"
        write_gray_png(image_path, crop.image)
        write_gray_png(mask_path, crop.mask.astype(np.uint8) * 255)
        positive += int(crop.mask.sum())
        total += crop.mask.size
        row = _image_row(task, image_path, mask_path, abn.abnormality_type, abn.pathology)
        result.roi_crop_rows.append(
            {**row, "roi": tag, "crop_top": crop.top, "crop_left": crop.left}
        )
    result.roi_crop_pixels = (positive, total)


def _find_csvs(src: Path, csv_dir) -> list[Path]:
    folder = Path(csv_dir).expanduser() if csv_dir is not None else src
    if not folder.is_dir():
        raise FileNotFoundError(f"CSV folder not found. Received: csv_dir={str(csv_dir)!r}")
    found = [
        p for p in iter_files(folder)
        if p.suffix.lower() == ".csv" and "case_description" in p.name.lower()
    ]
    if not found:
        raise FileNotFoundError(
            f"No CBIS-DDSM case-description CSV (*case_description*.csv) found under {folder}. "
            "Download mass_/calc_case_description_train_/test_set.csv from TCIA and put them "
            "in SRC, or pass csv_dir (--csv-dir)."
        )
    return found


def _index_folders(src: Path, wanted: set[str], report: PrepareReport) -> dict[str, Path]:
    """Maps each wanted folder name to its folder below ``src`` (one walk of the tree)."""
    import os

    found: dict[str, Path] = {}
    for root, dirs, _ in os.walk(src):
        dirs.sort()
        for name in list(dirs):
            if name in wanted:
                path = Path(root) / name
                if name in found:
                    report.note(f"folder {name} found twice; using {found[name]}, not {path}")
                else:
                    found[name] = path
                # Nothing wanted lives inside a case folder.
                dirs.remove(name)
    return found


def _assign_splits(
    scans: dict[str, list[Abnormality]], val_fraction: float, seed: int, report: PrepareReport
) -> dict[str, str]:
    """Official split per scan, patients disjoint, then ``val`` carved from training."""
    from keras_mia.data.split import split_by_patient

    per_patient: dict[str, set[str]] = {}
    for abns in scans.values():
        per_patient.setdefault(abns[0].patient_id, set()).update(a.official_split for a in abns)
    split_of = {}
    for case, abns in scans.items():
        patient = abns[0].patient_id
        split_of[case] = "test" if len(per_patient[patient]) > 1 else abns[0].official_split
    for patient, splits in sorted(per_patient.items()):
        if len(splits) > 1:
            cases = sorted(
                {a.case for abns in scans.values() for a in abns if a.patient_id == patient}
            )
            report.note(
                f"patient {patient} is in the official training and test sets ({', '.join(cases)}):"
                " all their images go to test so that no patient is in two splits"
            )
    if val_fraction > 0:
        rows = [
            {"case": case, "patient_id": abns[0].patient_id, "label": _label(abns),
             "split": split_of[case]}
            for case, abns in scans.items()
        ]
        if any(r["split"] == "train" for r in rows):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rows = split_by_patient(
                    rows, (1.0 - val_fraction, val_fraction), seed=seed, only_split="train",
                    into=("train", "val"),
                )
            for warning in caught:
                report.note(str(warning.message))
            split_of = {r["case"]: r["split"] for r in rows}
    return split_of


def _label(abns: Sequence[Abnormality]) -> str:
    return "malignant" if any(a.pathology == "MALIGNANT" for a in abns) else "benign"


def prepare_cbis_ddsm(
    src: str | Path,
    out: str | Path,
    *,
    image_size=None,
    scale: float | None = None,
    roi_crops: int | None = None,
    patches: str | None = None,
    patch_size: int = 224,
    val_fraction: float = 0.2,
    seed: int = 0,
    segment: bool = True,
    overflow: str = "crop",
    csv_dir: str | Path | None = None,
    jobs: int = 1,
    overwrite: bool = False,
) -> PrepareReport:
    """Converts a CBIS-DDSM download to Shen-preprocessed PNGs and manifests.

    See the module docstring for the layouts. Options map 1:1 to ``keras-mia prepare
    cbis-ddsm`` flags (``image_size`` is ``--image-size``, and so on).

    Args:
        src: the download folder (``CBIS-DDSM/`` or its parent).
        out: the output folder (created; must be empty unless ``overwrite``).
        image_size: ``"HxW"`` or ``(height, width)`` of the output mammograms; default
            (``None`` without ``scale``): Shen's 1152x896.
        scale: instead of ``image_size``, resize each scan to this fraction of its own
            height and width (Scuccimarra: 0.66); images keep their differing sizes.
        roi_crops: also write Scuccimarra's ROI-crop set: one ``roi_crops x roi_crops``
            crop (prepared-image pixels) centred on each abnormality.
        patches: ``None``, ``"s"`` or ``"s10"``: also write Shen's patch set S or S10.
        patch_size: patch side in pixels (Shen: 224).
        val_fraction: fraction of the official training set's *patients* moved to
            ``val`` (stratified by their labels; Shen: 0.2).
        seed: seeds the validation split and the patch positions.
        segment: segment the breast and zero everything else (labels, markers).
        overflow: ``"crop"`` or ``"fit"`` for images wider than ``image_size`` after
            scaling to its height (see ``resize_with_padding``).
        csv_dir: folder of the case-description CSVs (default: found below ``src``).
        jobs: worker processes for the per-image work (1 = in this process).
        overwrite: write into a non-empty ``out``.

    Returns:
        The ``PrepareReport`` (manifest at ``OUT/manifest.csv``).

    Raises:
        FileNotFoundError: ``src`` or the CSVs are missing.
        ValueError: a bad option, or a CSV without the CBIS-DDSM columns.
    """
    from keras_mia.data.manifest import write_manifest
    from keras_mia.preprocessing import (
        MammogramPreparation,
        parse_image_size,
        parse_scale,
        write_preparation,
    )

    if scale is not None:
        if image_size is not None:
            raise ValueError(
                "Give image_size (a fixed canvas) or scale (relative), not both. Received: "
                f"image_size={image_size!r}, scale={scale!r}"
            )
        size, scale = None, parse_scale(scale)
    else:
        size = parse_image_size("1152x896" if image_size is None else image_size)
    if roi_crops is not None and (isinstance(roi_crops, bool) or int(roi_crops) < 1):
        raise ValueError(f"roi_crops must be a positive size. Received: roi_crops={roi_crops!r}")
    if patches is not None:
        patches = str(patches).strip().lower()
        if patches not in _PATCH_SET_NAMES:
            raise ValueError(f"patches must be None, 's' or 's10'. Received: patches={patches!r}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1). Received: val_fraction={val_fraction!r}")
    if overflow not in ("crop", "fit"):
        raise ValueError(f"overflow must be 'crop' or 'fit'. Received: overflow={overflow!r}")
    if int(patch_size) < 1 or int(jobs) < 1:
        raise ValueError(
            f"patch_size and jobs must be positive. Received: patch_size={patch_size!r}, "
            f"jobs={jobs!r}"
        )
    src = check_src(src)
    csvs = _find_csvs(src, csv_dir)
    out = prepare_out_dir(out, src, overwrite)
    report = PrepareReport("cbis-ddsm", src, out)
    report.note("case-description CSVs read: " + ", ".join(str(p) for p in csvs))

    abnormalities = read_case_descriptions(csvs, report)
    by_case: dict[str, list[Abnormality]] = {}
    for abn in abnormalities:
        by_case.setdefault(abn.case, []).append(abn)
    wanted = set(by_case) | {f for a in abnormalities for f in a.roi_folders}
    folders = _index_folders(src, wanted, report)

    # One task per physical scan, named after its first case folder found on disk.
    scans: dict[str, list[Abnormality]] = {}
    scan_dirs: dict[str, dict[str, Path]] = {}
    for cases in _group_same_scans(by_case):
        present = [case for case in cases if case in folders]
        if not present:
            for case in cases:
                abns = by_case[case]
                report.skip(
                    f"{case} ({len(abns)} abnormalit{'y' if len(abns) == 1 else 'ies'}; "
                    f"{abns[0].source})",
                    "full-mammogram folder not found under SRC",
                )
            continue
        scans[present[0]] = [a for case in cases for a in by_case[case]]
        scan_dirs[present[0]] = {case: folders[case] for case in present}
        if len(cases) > 1:
            missing = [case for case in cases if case not in folders]
            report.note(
                f"{present[0]}: one scan listed as {len(cases)} cases ({', '.join(cases)}): "
                f"written as one image with all {len(scans[present[0]])} ROIs merged and "
                f"labelled {_label(scans[present[0]])}"
                + (f"; full-mammogram folder of {', '.join(missing)} not found under SRC, "
                   "its ROIs are drawn on the copy found" if missing else "")
            )
    split_of = _assign_splits(scans, float(val_fraction), int(seed), report)

    tasks = [
        _ScanTask(
            case=case,
            case_dirs=scan_dirs[case],
            abnormalities=abns,
            roi_files={
                (a.case, a.abnormality_id): [
                    p
                    for f in a.roi_folders
                    if f in folders
                    for p in iter_files(folders[f])
                    if is_image_file(p)
                ]
                for a in abns
            },
            out_dir=out,
            split=split_of[case],
            label=_label(abns),
            image_size=size,
            overflow=overflow,
            segment=bool(segment),
            patches=patches,
            patch_size=int(patch_size),
            seed=int(seed),
            scale=scale,
            roi_crops=None if roi_crops is None else int(roi_crops),
        )
        for case, abns in sorted(scans.items())
    ]
    if int(jobs) > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=int(jobs)) as pool:
            results = list(pool.map(_process_scan, tasks, chunksize=1))
    else:
        results = [_process_scan(task) for task in tasks]

    abnormality_rows, patch_rows, swapped = [], [], 0
    roi_crop_rows, roi_positive, roi_pixels = [], 0, 0
    for result in results:
        if result.row is not None:
            report.rows.append(result.row)
        abnormality_rows += result.abnormality_rows
        patch_rows += result.patch_rows
        roi_crop_rows += result.roi_crop_rows
        roi_positive += result.roi_crop_pixels[0]
        roi_pixels += result.roi_crop_pixels[1]
        report.skipped += result.skipped
        report.notes += result.notes
        swapped += result.swapped

    report.manifest_path = write_manifest(out / MANIFEST_NAME, report.rows)
    record = MammogramPreparation(size, overflow, bool(segment), DATASET, scale=scale)
    report.note(f"preparation record (travels into trained runs and exported models): "
                f"{write_preparation(out, record)}")
    _write_abnormalities(out / "abnormalities.csv", abnormality_rows)
    report.extra_counts["abnormalities (Shen class)"] = Counter(
        f"{r['patch_class']} {r['pathology'].lower()} {r['abnormality_type']}"
        for r in abnormality_rows
    )
    if swapped:
        report.note(
            f"{swapped} abnormalit{'y' if swapped == 1 else 'ies'}: the CSV lists the cropped "
            "image as the ROI mask (and vice versa); told apart by content"
        )
    if roi_crops is not None:
        crops = int(roi_crops)
        path = write_manifest(out / f"roi_crops_{crops}" / MANIFEST_NAME, roi_crop_rows)
        write_preparation(
            path.parent, dataclasses.replace(record, patch_set="roi_crops", patch_size=crops)
        )
        report.extra_manifests[f"roi_crops_{crops}"] = path
        report.extra_counts[f"roi_crops_{crops} per split"] = Counter(
            r["split"] for r in roi_crop_rows
        )
        report.note(
            f"roi_crops_{crops}: {roi_positive / max(roi_pixels, 1):.1%} of the crops' pixels "
            "lie in a ROI (Scuccimarra: about 6 % over whole scans and ROI crops together)"
        )
    if patches:
        path = write_manifest(out / f"patches_{patches}" / MANIFEST_NAME, patch_rows)
        write_preparation(
            path.parent, dataclasses.replace(record, patch_set=patches, patch_size=int(patch_size))
        )
        report.extra_manifests[f"patches_{patches}"] = path
        report.extra_counts[f"patches_{patches} per class"] = Counter(
            r["label"] for r in patch_rows
        )
    return report


def _write_abnormalities(path: Path, rows: list[dict]) -> None:
    columns = [
        "case", "scan", "patient_id", "split", "abnormality_id", "abnormality_type", "pathology",
        "patch_class", "mask_path", "bbox_top", "bbox_left", "bbox_bottom", "bbox_right",
        "roi_in_breast", "full_image_source", "roi_mask_source", "cropped_image_source",
        "mask_crop_swapped_in_csv", "csv_row",
    ]
    from keras_mia.utils.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
