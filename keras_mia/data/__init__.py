"""Manifests and data sets: reading, validating, splitting and importing image manifests.

Importing this package stays cheap (no TensorFlow): the tf.data pipelines live in
``keras_mia.data.pipeline`` and are imported from there.
"""

from keras_mia.data.folder_import import ImportedRows, import_folder
from keras_mia.data.manifest import Manifest, ManifestError, parse_manifest, write_manifest
from keras_mia.data.split import split_by_patient
from keras_mia.data.validate import ValidationReport, validate_manifest

__all__ = [
    "Manifest",
    "ManifestError",
    "parse_manifest",
    "write_manifest",
    "validate_manifest",
    "ValidationReport",
    "split_by_patient",
    "import_folder",
    "ImportedRows",
]
