"""Image preprocessing shared by the dataset adapters (``keras_mia.datasets``).

- ``mammogram``: Shen et al.'s aspect-preserving resize to 1152 x 896 and breast
  segmentation (removes burned-in labels and markers); ``prepare_mammogram`` chains them
  with the 16-bit scaling, for ``prepare cbis-ddsm`` and the deployed path alike.
- ``intensity``: a file's bit-depth top (``source_range``) and the 16-bit scaling.
- ``record``: the preparation record (``preparation.json``) that travels from ``prepare``
  through training into the exported model.
- ``patches``: Shen et al.'s 224 x 224 patch sets S and S10 (five classes).
"""

from keras_mia.preprocessing.intensity import source_range, to_uint16
from keras_mia.preprocessing.mammogram import (
    SEED_SCALE,
    SHEN_IMAGE_SIZE,
    Placement,
    PreparedMammogram,
    apply_placement,
    apply_placement_to_mask,
    parse_image_size,
    parse_scale,
    placement,
    prepare_mammogram,
    resize_image,
    resize_mask_with_padding,
    resize_with_padding,
    segment_breast,
)
from keras_mia.preprocessing.patches import (
    PATCH_CLASSES,
    PATCH_LABELS,
    PATCH_SETS,
    PatchWindow,
    crop_patch,
    patch_class,
    sample_patch_windows,
)
from keras_mia.preprocessing.record import (
    PREPARATION_FILE,
    MammogramPreparation,
    carry_preparation,
    find_preparation,
    read_preparation,
    write_preparation,
)

__all__ = [
    "SHEN_IMAGE_SIZE",
    "SEED_SCALE",
    "Placement",
    "PreparedMammogram",
    "apply_placement",
    "apply_placement_to_mask",
    "parse_image_size",
    "parse_scale",
    "placement",
    "prepare_mammogram",
    "source_range",
    "to_uint16",
    "PREPARATION_FILE",
    "MammogramPreparation",
    "carry_preparation",
    "find_preparation",
    "read_preparation",
    "write_preparation",
    "resize_image",
    "resize_with_padding",
    "resize_mask_with_padding",
    "segment_breast",
    "PATCH_CLASSES",
    "PATCH_LABELS",
    "PATCH_SETS",
    "PatchWindow",
    "patch_class",
    "sample_patch_windows",
    "crop_patch",
]
