"""Keras metrics for the reproduced systems (``keras.ops`` only; usable in ``model.compile``).

Classification: :class:`Sensitivity`, :class:`Specificity`, :class:`Precision` (binary, one
class vs the rest, or macro over classes), :class:`BinaryAUC`, :class:`MulticlassAUC`.

Segmentation: :class:`SegmentationIoU` (mean over the 2 classes), :class:`Dice`,
:class:`PixelAccuracy`, :class:`PixelPrecision`, :class:`PixelRecall`, :class:`PixelF1`, and
the image-level area rule :func:`image_positive` with :class:`ImageAccuracy`,
:class:`ImagePrecision`, :class:`ImageRecall`, :class:`ImageSpecificity`.
"""

from keras_mia.metrics.classification import (
    BinaryAUC,
    MulticlassAUC,
    Precision,
    Sensitivity,
    Specificity,
)
from keras_mia.metrics.segmentation import (
    AREA_DIVISOR,
    Dice,
    ImageAccuracy,
    ImagePrecision,
    ImageRecall,
    ImageSpecificity,
    PixelAccuracy,
    PixelF1,
    PixelPrecision,
    PixelRecall,
    SegmentationIoU,
    image_positive,
    predicted_positive_pixels,
)

__all__ = [
    "Sensitivity",
    "Specificity",
    "Precision",
    "BinaryAUC",
    "MulticlassAUC",
    "SegmentationIoU",
    "Dice",
    "PixelAccuracy",
    "PixelPrecision",
    "PixelRecall",
    "PixelF1",
    "ImageAccuracy",
    "ImagePrecision",
    "ImageRecall",
    "ImageSpecificity",
    "image_positive",
    "predicted_positive_pixels",
    "AREA_DIVISOR",
]
