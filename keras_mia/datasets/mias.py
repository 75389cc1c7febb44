"""mini-MIAS -> PNG images, circular ROI masks and normal/benign/malignant labels.

mini-MIAS (the Mammographic Image Analysis Society database, 322 images of 161 women) is
the external test set of the ``mammo_dense`` recipe (Scuccimarra, seed 003).

Input (``SRC``): ``mdb001.pgm`` ... ``mdb322.pgm`` (8-bit, 1024 x 1024) anywhere below
``SRC`` and the ``Info.txt`` table, one row per abnormality::

    mdb001 G CIRC B 535 425 197      REFNUM BG CLASS SEVERITY X Y RADIUS
    mdb003 D NORM                    normal: no severity, no coordinates
    mdb005 F CIRC B 477 133 30       one image can have several rows
    mdb005 F CIRC B 500 168 26
    mdb144 F MISC B                  a few abnormal rows have no coordinates

``X`` and ``Y`` are in pixels with the origin at the image's *bottom-left* corner, so the
ROI centre is at column ``X``, row ``height - Y`` (``1024 - Y``). Lines that do not start
with a reference number (``mdbNNN``) are description text and are ignored (counted).

The images are prepared as ``keras-mia prepare cbis-ddsm`` prepares its scans, by the same
function (``keras_mia.preprocessing.prepare_mammogram``): the 8-bit values scaled to 16 bits
(x 257, the file's bit depth onto 0..65535) and the breast segmented, everything else -
film labels, tape, scanner marks, the black padding of mini-MIAS - set to 0 (``segment=False``,
``--no-segment``, keeps the raw scan). Left and right breasts keep their orientation (no
flipping, as in CBIS-DDSM). The size stays mini-MIAS's native 1024 x 1024 (relative scale 1)
unless ``image_size`` asks for a canvas: the seed does not say at what scale MIAS was fed to
the dense model (its pixels are 200 microns, coarser than CBIS-DDSM at 0.66 of 42-50 microns,
about 65-75), and the record below says what was done. ``preparation.json`` (see
``keras_mia.preprocessing.record``) is written beside the manifest, so a model trained on
this set prepares raw MIAS PGMs the same way on the deployed path. Any image whose
segmentation looks wrong (``check_segmentation``: breast under 5 % of the image or touching
three borders) or whose ROI centre falls outside the segmented breast is named in the report.

Output (``OUT``): ``images/mdbNNN.png`` (16-bit, prepared as above), ``masks/mdbNNN.png``
(0/255: the union of the image's ROI circles, following the image's geometry, all zero for
a normal image), ``preparation.json``, ``prepare_report.txt`` and ``manifest.csv`` with
``label`` normal/benign/malignant (malignant when any row is, else benign when any row is
abnormal), ``patient_id`` (consecutive pairs ``mdb001``+``mdb002``, ... are the two breasts
of one woman: ``mias_001`` ...), ``split`` (``test`` by default: the seed's external test
set; ``--split auto``: train/val/test by woman, seeded), ``mask_path``,
``abnormality`` (the CLASS codes, ``;``-joined) and ``pathology``. An abnormal image none of
whose rows has coordinates is kept (its label is known) but gets no mask (empty
``mask_path``), and the report says so; one with some rows lacking coordinates gets the
circles it has, also reported.

With ``patches="s"`` or ``"s10"`` (``--patches``) Shen et al.'s patch set S or S10 is also cut
from the prepared images, by the functions ``prepare cbis-ddsm --patches`` uses
(``keras_mia.preprocessing.patches``): ``patches_<set>/<class>/mdbNNN_<tag>_NN.png`` (16-bit),
``patches_<set>/manifest.csv`` (``label`` one of ``PATCH_LABELS``; ``split`` and
``patient_id`` those of the patch's image, so a woman's patches stay in her images' split) and
``patches_<set>/preparation.json``. Each ROI circle is an ROI; MIAS's CLASS codes map onto
Shen's two lesion types as ``PATCH_TYPES`` says (calcifications ``CALC``; every other
abnormality - circumscribed, spiculated and ill-defined masses, architectural distortion,
asymmetry - is a mass, the soft-tissue lesion kind in CBIS-DDSM's two-way split) and severity
``B``/``M`` onto benign/malignant. An abnormality without coordinates has no ROI and gives no
patch (the report counts them); its image still gives its background patch(es). The default
patch size 224 suits MIAS's native 1024 x 1024 images: their 200 micron pixels are about as
large as those of Shen's 1152 x 896 CBIS-DDSM images (scans of about 4000-5000 rows at 42-50
microns, shrunk about 4x), so a 224 patch covers about the same 45 mm of breast in both.

With ``roi_crops=S`` (``--roi-crops S``) Scuccimarra's second training set is also written,
by the function ``prepare cbis-ddsm --roi-crops`` uses (``keras_mia.preprocessing.roi_crops``):
one ``S x S`` crop centred on each ROI circle, ``roi_crops_<S>/images/mdbNNN_roiK.png``
(16-bit) and ``roi_crops_<S>/masks/mdbNNN_roiK.png`` (the image's merged mask),
``roi_crops_<S>/manifest.csv`` (the image's label, woman and split) and
``preparation.json``; the report gives the share of lesion pixels. The seed's crops (1280 px
of 42-50 micron scans) hold about 6 % lesion and are as large as the seed's largest training
crop (845 vs 840 px at 0.66); on ``mias_dev`` ``S=480``, the ``mias_dev`` variant's largest
crop, gives 5.7 % (320: 12.3 %, 384: 8.8 %, 448: 6.5 %; ROI radii median 45 px).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_mia.datasets._common import (
    MANIFEST_NAME,
    check_src,
    find_one,
    iter_files,
    prepare_out_dir,
    write_gray_png,
)
from keras_mia.datasets.report import PrepareReport

__all__ = ["MiasRow", "read_info", "circle_mask", "prepare_mias", "CLASSES", "PATCH_TYPES"]

DATASET = "mias"
CLASSES = {
    "CALC": "calcification",
    "CIRC": "well-defined/circumscribed mass",
    "SPIC": "spiculated mass",
    "MISC": "other, ill-defined mass",
    "ARCH": "architectural distortion",
    "ASYM": "asymmetry",
    "NORM": "normal",
}
# CLASS -> Shen's lesion type (``patch_class``): calcifications apart, every MIAS abnormality
# is a soft-tissue finding, which CBIS-DDSM (Shen's data) files under "mass".
PATCH_TYPES = {
    "CALC": "calcification",
    "CIRC": "mass",
    "SPIC": "mass",
    "MISC": "mass",
    "ARCH": "mass",
    "ASYM": "mass",
}
_REF = re.compile(r"^mdb(\d{3})$", re.IGNORECASE)
_SEVERITY = {"B": "BENIGN", "M": "MALIGNANT"}


@dataclass(frozen=True)
class MiasRow:
    """One ``Info.txt`` row.

    Attributes:
        refnum: e.g. ``"mdb001"`` (lower case).
        line: line number in ``Info.txt`` (1-based).
        background: tissue character F, G or D.
        abnormality: CLASS code (``NORM`` for a normal image).
        severity: ``"B"``, ``"M"`` or ``None`` (normal).
        x, y, radius: ROI centre (origin bottom-left) and radius in pixels, or ``None``.
    """

    refnum: str
    line: int
    background: str
    abnormality: str
    severity: str | None
    x: int | None
    y: int | None
    radius: int | None


def read_info(path: str | Path, report: PrepareReport | None = None) -> dict[str, list[MiasRow]]:
    """Parses mini-MIAS ``Info.txt``.

    Args:
        path: the file.
        report: bad rows are recorded here as skipped (with the reason); without a report
            they raise.

    Returns:
        ``refnum -> rows`` in file order.

    Raises:
        ValueError: a bad data row and no ``report``.
    """
    path = Path(path)
    rows: dict[str, list[MiasRow]] = {}
    text_lines = 0
    for number, raw in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        if not _REF.match(tokens[0]):
            text_lines += 1
            continue
        where = f"{path.name} line {number}"

        def reject(reason: str, where=where, raw=raw) -> None:
            message = f"{reason}: {raw.strip()!r}"
            if report is None:
                raise ValueError(f"{where}: {message}")
            report.skip(where, message)

        if len(tokens) < 3:
            reject("row has no CLASS")
            continue
        refnum, background, abnormality = tokens[0].lower(), tokens[1].upper(), tokens[2].upper()
        if abnormality not in CLASSES:
            reject(f"unknown CLASS {abnormality!r}")
            continue
        severity = x = y = radius = None
        if abnormality != "NORM":
            if len(tokens) < 4 or tokens[3].upper() not in _SEVERITY:
                reject("abnormal row without severity B or M")
                continue
            severity = tokens[3].upper()
            coords = tokens[4:7]
            if len(coords) == 3 and all(re.fullmatch(r"\d+", c) for c in coords):
                x, y, radius = (int(c) for c in coords)
            elif coords and report is not None:
                report.note(f"{where}: coordinates {' '.join(coords)!r} not understood; ignored")
        rows.setdefault(refnum, []).append(
            MiasRow(refnum, number, background, abnormality, severity, x, y, radius)
        )
    if report is not None and text_lines:
        report.note(f"{path.name}: {text_lines} description line(s) without a reference number")
    return rows


def circle_mask(shape: tuple[int, int], x: float, y: float, radius: float) -> np.ndarray:
    """A filled circle given in MIAS coordinates (origin at the bottom-left corner).

    Args:
        shape: ``(height, width)`` of the image.
        x: centre column.
        y: centre height above the bottom edge; the centre row is ``height - y``.
        radius: radius in pixels.

    Returns:
        bool mask with ``True`` inside the circle (clipped to the image).
    """
    height, width = shape
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    return (rows - (height - y)) ** 2 + (cols - x) ** 2 <= float(radius) ** 2


def _label(rows: list[MiasRow]) -> str:
    severities = {r.severity for r in rows}
    if "M" in severities:
        return "malignant"
    if "B" in severities:
        return "benign"
    return "normal"


def prepare_mias(
    src: str | Path,
    out: str | Path,
    *,
    info_file: str | Path | None = None,
    image_size=None,
    split: str = "test",
    segment: bool = True,
    patches: str | None = None,
    patch_size: int = 224,
    roi_crops: int | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    overwrite: bool = False,
) -> PrepareReport:
    """Converts mini-MIAS into PNG images, ROI masks and a manifest.

    Options map 1:1 to ``keras-mia prepare mias`` flags.

    Args:
        src: the folder holding the ``mdbNNN.pgm`` files and ``Info.txt``.
        out: the output folder (created; must be empty unless ``overwrite``).
        info_file: the ``Info.txt`` to use (default: the one file named ``Info.txt`` below
            ``src``, any case).
        image_size: ``None`` keeps 1024 x 1024; ``"HxW"`` resizes images and masks
            (aspect-preserving, padded, see ``resize_with_padding``).
        split: the ``split`` of every row: ``"test"`` (an external test set), ``"train"``,
            ``"val"`` or ``""`` (none); or ``"auto"``: split by woman (both breasts of a
            woman in one split) into train/val/test with ``split_by_patient``, stratified by
            the woman's labels and seeded by ``seed`` (for training on MIAS itself).
        segment: segment the breast and zero everything else, as ``prepare cbis-ddsm``
            does (``False``: keep the whole scan).
        patches: ``None``, ``"s"`` or ``"s10"``: also write Shen's patch set S or S10 from
            the ROI circles (see the module docstring).
        patch_size: patch side in prepared-image pixels (default 224, see above).
        roi_crops: also write Scuccimarra's ROI-centred set: one ``roi_crops x roi_crops``
            crop per ROI circle, centred on it, with the image's merged mask (see the
            module docstring).
        seed: seeds the patch positions (and any random choice of this function).
        val_fraction, test_fraction: with ``split="auto"``, the fractions of *women* in
            ``val`` and ``test`` (the rest train).
        overwrite: write into a non-empty ``out``.

    Returns:
        The ``PrepareReport``.

    Raises:
        FileNotFoundError: ``src`` or ``Info.txt`` is missing.
        ValueError: a bad option.
    """
    from keras_mia.data.manifest import write_manifest
    from keras_mia.io import ImageReadError, read_image
    from keras_mia.preprocessing import (
        MammogramPreparation,
        apply_placement_to_mask,
        parse_image_size,
        source_range,
        write_preparation,
    )
    from keras_mia.preprocessing.mammogram import check_segmentation

    if split not in ("train", "val", "test", "", "auto"):
        raise ValueError(
            f"split must be train, val, test, auto or ''. Received: split={split!r}"
        )
    fractions = (1.0 - float(val_fraction) - float(test_fraction), float(val_fraction),
                 float(test_fraction))
    if split == "auto" and (min(fractions) < 0 or fractions[0] <= 0):
        raise ValueError(
            "val_fraction and test_fraction must be >= 0 and sum to less than 1. Received: "
            f"val_fraction={val_fraction!r}, test_fraction={test_fraction!r}"
        )
    size = None if image_size is None else parse_image_size(image_size)
    if not isinstance(segment, (bool, np.bool_)):
        raise ValueError(f"segment must be true or false. Received: segment={segment!r}")
    if patches is not None:
        patches = str(patches).strip().lower()
        if patches not in ("s", "s10"):
            raise ValueError(f"patches must be None, 's' or 's10'. Received: patches={patches!r}")
    if roi_crops is not None and (isinstance(roi_crops, bool) or int(roi_crops) < 1):
        raise ValueError(f"roi_crops must be a positive size. Received: roi_crops={roi_crops!r}")
    if isinstance(patch_size, bool) or int(patch_size) < 1:
        raise ValueError(f"patch_size must be positive. Received: patch_size={patch_size!r}")
    # Native size: relative scale 1 (no canvas, no padding); else Shen's aspect-kept canvas.
    record = MammogramPreparation(
        image_size=size, scale=None if size is not None else 1.0, segment=bool(segment),
        dataset=DATASET,
    )
    src = check_src(src)
    info = find_one(src, ("Info.txt",), "mini-MIAS Info.txt", info_file)
    out = prepare_out_dir(out, src, overwrite)
    report = PrepareReport("mias", src, out)
    table = read_info(info, report)

    images: dict[str, Path] = {}
    for path in iter_files(src):
        match = _REF.match(path.stem)
        if match and path.suffix.lower() == ".pgm":
            key = path.stem.lower()
            if key in images:
                report.skip(path, f"second copy of {key}; using {images[key]}")
            else:
                images[key] = path
    for refnum in sorted(set(table) - set(images)):
        report.skip(f"{refnum} ({info.name} line {table[refnum][0].line})", "image file not found")
    for refnum in sorted(set(images) - set(table)):
        report.skip(images[refnum], f"no row in {info.name}")

    no_mask = 0
    suspicious: list[str] = []
    # refnum -> that image's patch rows; their split is the image's, filled in at the end.
    patch_rows: dict[str, list[dict]] = {}
    crop_rows: dict[str, list[dict]] = {}
    crop_pixels = [0, 0]
    unplaced = 0
    for refnum in sorted(set(images) & set(table)):
        rows, path = table[refnum], images[refnum]
        try:
            image = read_image(path)
        except ImageReadError as err:
            report.skip(path, f"unreadable: {err.reason}")
            continue
        top = source_range(path, image)
        abnormal = [r for r in rows if r.abnormality != "NORM"]
        if abnormal and len(abnormal) < len(rows):
            report.note(f"{refnum}: both NORM and abnormal rows; labelled by the abnormal ones")
        placed = [r for r in abnormal if r.x is not None]
        mask = np.zeros(image.shape, dtype=bool)
        circles = []
        for r in placed:
            circle = circle_mask(image.shape, r.x, r.y, r.radius)
            if not circle.any():
                report.note(
                    f"{refnum} ({info.name} line {r.line}): ROI circle lies outside the image"
                )
            mask |= circle
            circles.append(circle)
        # The deployed path (keras_mia.inference) prepares raw files with this same call, and
        # the 16 bits put MIAS on the scale of the prepared CBIS-DDSM scans.
        prepared = record.apply(image, top)
        if not prepared.breast.any():
            report.skip(path, "no breast found (constant image)")
            continue
        mask = apply_placement_to_mask(mask, prepared.placement)
        if segment:
            for problem in check_segmentation(prepared.breast):
                suspicious.append(refnum)
                report.note(f"{refnum}: segmentation looks wrong, check it: {problem}")
            for r in placed:
                centre = circle_mask(image.shape, r.x, r.y, 0.5)
                centre = apply_placement_to_mask(centre, prepared.placement)
                if centre.any() and not (centre & prepared.breast).any():
                    suspicious.append(refnum)
                    report.note(
                        f"{refnum} ({info.name} line {r.line}): the ROI centre lies outside "
                        "the segmented breast; check the segmentation"
                    )
        image_path = write_gray_png(out / "images" / f"{refnum}.png", prepared.image)
        mask_path = ""
        if abnormal and not placed:
            no_mask += 1
            report.note(
                f"{refnum}: abnormal ({', '.join(r.abnormality for r in abnormal)}) but no row has "
                "coordinates: kept with its label, without a mask"
            )
        else:
            if len(placed) < len(abnormal):
                report.note(
                    f"{refnum}: {len(abnormal) - len(placed)} of {len(abnormal)} abnormal rows "
                    "have no coordinates; the mask holds the others only"
                )
            mask_file = out / "masks" / f"{refnum}.png"
            mask_path = str(write_gray_png(mask_file, mask.astype(np.uint8) * 255))
        rois = [apply_placement_to_mask(c, prepared.placement) for c in circles]
        if patches:
            unplaced += len(abnormal) - len(placed)
            patch_rows[refnum] = _write_patches(
                out, refnum, placed, rois, prepared, patches, int(patch_size), int(seed), report,
            )
        if roi_crops is not None:
            crop_rows[refnum] = _write_roi_crops(
                out, refnum, placed, rois, prepared.image, int(roi_crops), crop_pixels, report
            )
        number = int(_REF.match(refnum).group(1))
        report.rows.append(
            {
                "image_path": str(image_path),
                "label": _label(rows),
                "patient_id": f"mias_{(number + 1) // 2:03d}",
                "split": split,
                "mask_path": mask_path,
                "abnormality": ";".join(dict.fromkeys(r.abnormality for r in rows)),
                "pathology": ";".join(
                    dict.fromkeys(_SEVERITY[r.severity] for r in abnormal)
                ) or "NORMAL",
                "dataset": DATASET,
            }
        )
    if no_mask:
        report.note(f"{no_mask} abnormal image(s) without any ROI coordinates have no mask")
    if segment:
        flagged = sorted(set(suspicious))
        report.note(
            f"segmentation to check: {len(flagged)} image(s)"
            + (f": {', '.join(flagged)}" if flagged else "")
        )
    if split == "auto":
        from keras_mia.data.split import split_by_patient

        # By woman: her two views (mdbNNN, mdbNNN+1) never sit on both sides of a split.
        report.rows = split_by_patient(report.rows, fractions, seed=int(seed))
    report.manifest_path = write_manifest(out / MANIFEST_NAME, report.rows)
    report.note(f"preparation record ({record.describe()}; travels into trained runs and "
                f"exported models): {write_preparation(out, record)}")
    if patches:
        _write_patch_manifest(out, patches, int(patch_size), record, report, patch_rows, unplaced)
    if roi_crops is not None:
        _write_roi_crop_manifest(out, int(roi_crops), record, report, crop_rows, crop_pixels)
    return report


def _write_patches(out, refnum, placed, rois, prepared, patch_set, patch_size, seed,
                   report) -> list[dict]:
    """Cuts one image's Shen patches (set S or S10) and returns their manifest rows."""
    from keras_mia.preprocessing import (
        PATCH_LABELS,
        crop_patch,
        patch_class,
        sample_patch_windows,
    )

    classes = [patch_class(PATCH_TYPES[r.abnormality], _SEVERITY[r.severity]) for r in placed]
    rng = np.random.default_rng([seed, zlib.crc32(refnum.encode("utf-8"))])
    windows, shortfalls = sample_patch_windows(
        rois, classes, prepared.breast, patch_set, patch_size=patch_size, rng=rng
    )
    for roi_index, message in shortfalls:
        where = "background" if roi_index < 0 else f"Info.txt line {placed[roi_index].line}"
        report.skip(f"{refnum} {where}: {message}", f"patch set {patch_set}: quota not met")
    rows, counters = [], Counter()
    for window in windows:
        label = PATCH_LABELS[window.label]
        tag = "bg" if window.roi_index < 0 else f"roi{window.roi_index}"
        counters[tag] += 1
        path = out / f"patches_{patch_set}" / label / f"{refnum}_{tag}_{counters[tag] - 1:02d}.png"
        write_gray_png(path, crop_patch(prepared.image, window))
        row = placed[window.roi_index] if window.roi_index >= 0 else None
        rows.append(
            {
                "image_path": str(path),
                "label": label,
                "patient_id": "",
                "split": "",
                "study_id": refnum,
                "abnormality": "" if row is None else row.abnormality,
                "pathology": "" if row is None else _SEVERITY[row.severity],
                "dataset": DATASET,
            }
        )
    return rows


def _write_roi_crops(out, refnum, placed, rois, image, size, pixels, report) -> list[dict]:
    """Cuts one image's ROI-centred crops (one per ROI circle inside the image)."""
    from keras_mia.preprocessing.roi_crops import roi_crops

    inside = [(row, roi) for row, roi in zip(placed, rois) if roi.any()]
    rows = []
    crops = roi_crops(image, [roi for _, roi in inside], size)
    for index, ((info_row, _), crop) in enumerate(zip(inside, crops)):
        if max(crop.roi_extent) > size:
            report.note(
                f"{refnum} (Info.txt line {info_row.line}): its ROI ({crop.roi_extent[0]}x"
                f"{crop.roi_extent[1]} px) is larger than the {size}x{size} ROI crop, which "
                "holds its centre"
            )
        folder = out / f"roi_crops_{size}"
        image_path = write_gray_png(folder / "images" / f"{refnum}_roi{index}.png", crop.image)
        mask_path = write_gray_png(folder / "masks" / f"{refnum}_roi{index}.png",
                                   crop.mask.astype(np.uint8) * 255)
        pixels[0] += int(crop.mask.sum())
        pixels[1] += crop.mask.size
        rows.append(
            {
                "image_path": str(image_path),
                "mask_path": str(mask_path),
                "study_id": refnum,
                "abnormality": info_row.abnormality,
                "pathology": _SEVERITY[info_row.severity],
                "dataset": DATASET,
                "roi": f"roi{index}",
                "crop_top": crop.top,
                "crop_left": crop.left,
            }
        )
    return rows


def _write_roi_crop_manifest(out, size, record, report, crop_rows, pixels):
    """Writes ``roi_crops_<S>/manifest.csv``: each crop with its image's label and split."""
    import dataclasses

    from keras_mia.data.manifest import write_manifest
    from keras_mia.preprocessing import write_preparation

    rows = []
    for image_row in report.rows:
        for row in crop_rows.get(Path(image_row["image_path"]).stem, []):
            rows.append({**row, "label": image_row["label"], "patient_id": image_row["patient_id"],
                         "split": image_row["split"]})
    path = write_manifest(out / f"roi_crops_{size}" / MANIFEST_NAME, rows)
    write_preparation(
        path.parent, dataclasses.replace(record, patch_set="roi_crops", patch_size=size)
    )
    report.extra_manifests[f"roi_crops_{size}"] = path
    report.extra_counts[f"roi_crops_{size} per split"] = Counter(r["split"] for r in rows)
    report.note(
        f"roi_crops_{size}: {pixels[0] / max(pixels[1], 1):.1%} of the crops' pixels are "
        "lesion (the seed's CBIS-DDSM set: about 6 %)"
    )


def _write_patch_manifest(out, patch_set, patch_size, record, report, patch_rows, unplaced):
    """Writes ``patches_<set>/manifest.csv`` with each patch in its image's split."""
    import dataclasses

    from keras_mia.data.manifest import write_manifest
    from keras_mia.preprocessing import write_preparation

    rows = []
    # The image rows are final here, whatever split they were given: a patch goes with its image.
    for image_row in report.rows:
        for row in patch_rows.get(Path(image_row["image_path"]).stem, []):
            rows.append({**row, "patient_id": image_row["patient_id"],
                         "split": image_row["split"]})
    path = write_manifest(out / f"patches_{patch_set}" / MANIFEST_NAME, rows)
    write_preparation(
        path.parent, dataclasses.replace(record, patch_set=patch_set, patch_size=patch_size)
    )
    report.extra_manifests[f"patches_{patch_set}"] = path
    report.extra_counts[f"patches_{patch_set} per class"] = Counter(r["label"] for r in rows)
    report.extra_counts[f"patches_{patch_set} per split"] = Counter(r["split"] for r in rows)
    if unplaced:
        report.note(
            f"patches_{patch_set}: {unplaced} abnormalit{'y' if unplaced == 1 else 'ies'} without "
            "coordinates gave no ROI patch (their images give background patches only)"
        )
