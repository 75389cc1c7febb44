"""Writers for the image files keras_mia produces (synthetic sets, ``prepare`` outputs).

PNG is written with Pillow at 8 or 16 bits; DICOM with pydicom as uncompressed
Explicit VR Little Endian secondary-capture (or MR / MG) images.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

__all__ = ["write_png", "write_dicom"]


def write_png(
    path: str | Path, image: np.ndarray, bit_depth: int = 8, compress_level: int = 6
) -> Path:
    """Writes a single-channel (H, W) or RGB (H, W, 3) image as PNG.

    Args:
        path: destination file; parent folders are created.
        image: array whose values already lie in the range of ``bit_depth``
            (0..255 or 0..65535); they are rounded and clipped, never rescaled.
        bit_depth: 8 or 16 (16 only for single-channel images).
        compress_level: zlib level 0-9 (1 is much faster for noisy 16-bit images).

    Returns:
        The path written.
    """
    from PIL import Image

    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16. Received: bit_depth={bit_depth}")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(f"Expected an (H, W) or (H, W, 3) image. Received: shape={image.shape}")
    if bit_depth == 16 and image.ndim != 2:
        raise ValueError("16-bit PNG is written for single-channel images only.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    top = 255 if bit_depth == 8 else 65535
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    pixels = np.clip(np.rint(image), 0, top).astype(dtype)
    # Pillow maps uint16 to its "I;16" mode by itself; the format is forced so that the
    # file is PNG whatever its extension says.
    Image.fromarray(pixels).save(path, format="PNG", compress_level=compress_level)
    return path


def write_dicom(
    path: str | Path,
    image: np.ndarray,
    *,
    modality: str = "OT",
    photometric: str = "MONOCHROME2",
    rescale_slope: float | None = None,
    rescale_intercept: float | None = None,
    patient_id: str = "ANON",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_description: str = "",
    instance_number: int = 1,
    slice_location: float | None = None,
    sop_instance_uid: str | None = None,
    study_date: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Writes an unsigned 8- or 16-bit single-channel image as an uncompressed DICOM file.

    Args:
        path: destination file; parent folders are created.
        image: (H, W) array of stored values (uint8 or uint16 range).
        modality: DICOM Modality, e.g. ``"MR"``, ``"MG"`` or ``"OT"``.
        photometric: ``"MONOCHROME2"`` or ``"MONOCHROME1"`` (stored values are written as
            given; MONOCHROME1 readers invert them).
        rescale_slope, rescale_intercept: optional Modality LUT.
        patient_id, study_uid, series_uid, series_description, instance_number,
            slice_location: the identifying tags dataset adapters rely on.
        sop_instance_uid, study_date: fixed values make the file byte-reproducible (by default
            a new UID and today's date).
        extra: more top-level tags, keyword -> value (e.g. ``{"ImagePositionPatient": [...]}``).

    Returns:
        The path written.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"Expected an (H, W) image. Received: shape={image.shape}")
    bits = 8 if image.dtype == np.uint8 else 16
    pixels = np.clip(np.rint(image), 0, 2**bits - 1).astype(np.uint8 if bits == 8 else np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesDescription = series_description
    ds.InstanceNumber = int(instance_number)
    ds.StudyDate = study_date or datetime.date.today().strftime("%Y%m%d")
    if slice_location is not None:
        ds.SliceLocation = float(slice_location)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if rescale_slope is not None or rescale_intercept is not None:
        ds.RescaleSlope = float(1.0 if rescale_slope is None else rescale_slope)
        ds.RescaleIntercept = float(0.0 if rescale_intercept is None else rescale_intercept)
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
