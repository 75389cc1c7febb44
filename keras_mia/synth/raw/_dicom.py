"""A fast, byte-reproducible DICOM writer for the raw layouts (hundreds of slices per set).

``keras_mia.synth.common.write_dicom_reproducible`` writes each file twice to replace the
random UID and today's date; here the dataset is built once with fixed values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["SOP_CLASSES", "write_slice"]

SOP_CLASSES = {
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "MG": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture, as CBIS-DDSM's files are
}
STUDY_DATE = "20000101"


def write_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    sop_uid: str,
    modality: str,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    series_description: str,
    instance_number: int = 1,
    extra: dict | None = None,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
) -> Path:
    """Writes a uint8/uint16 (H, W) image as an uncompressed Explicit VR Little Endian file.

    Args:
        path: destination; parent folders are created.
        pixels: stored values (uint8 -> 8 bits allocated, otherwise 16).
        sop_uid: SOP Instance UID (also the file meta's).
        modality: ``"MR"`` or ``"MG"`` (picks the SOP class).
        patient_id, study_uid, series_uid, series_description, instance_number: tags.
        extra: more top-level tags, keyword -> value.
        bits_stored: BitsStored (e.g. 12 for an FFDM detector); ``None``: all allocated bits.
        photometric: ``"MONOCHROME2"`` (high = bright) or ``"MONOCHROME1"`` (high = dark;
            ``pixels`` are the stored, already inverted, values).

    Returns:
        ``path``.

    Raises:
        ValueError: ``bits_stored`` does not fit the allocated bits or the values, or an
            unknown ``photometric``.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    pixels = np.asarray(pixels)
    bits = 8 if pixels.dtype == np.uint8 else 16
    pixels = pixels.astype(np.uint8 if bits == 8 else np.uint16)
    stored = bits if bits_stored is None else int(bits_stored)
    if not 1 <= stored <= bits or (pixels.size and int(pixels.max()) >= 2**stored):
        raise ValueError(
            f"bits_stored must be 1..{bits} and hold every value (max {int(pixels.max())}). "
            f"Received: bits_stored={bits_stored!r}"
        )
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(
            f"photometric must be MONOCHROME1 or MONOCHROME2. Received: photometric={photometric!r}"
        )
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = STUDY_DATE
    ds.Modality = modality
    ds.PatientID = ds.PatientName = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = series_description
    ds.InstanceNumber = int(instance_number)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = stored
    ds.HighBit = stored - 1
    ds.PixelRepresentation = 0
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
