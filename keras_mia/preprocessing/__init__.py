"""Image preprocessing shared by the dataset adapters (``keras_mia.datasets``).

- ``mammogram``: Shen et al.'s aspect-preserving resize to 1152 x 896 and breast
  segmentation (removes burned-in labels and markers).
- ``patches``: Shen et al.'s 224 x 224 patch sets S and S10 (five classes).
"""

from keras_mia.preprocessing.mammogram import (
    SHEN_IMAGE_SIZE,
    parse_image_size,
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

__all__ = [
    "SHEN_IMAGE_SIZE",
    "parse_image_size",
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
