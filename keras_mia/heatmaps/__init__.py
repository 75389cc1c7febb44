"""Patch-classifier heatmaps over whole images: sliding window and one pass (FCN).

See :mod:`keras_mia.heatmaps.patch` for when the two maps are equal and when the one-pass
map is an approximation (padding backbones such as ResNet50).
"""

from keras_mia.heatmaps.patch import (
    fcn_exact,
    fcn_heatmap,
    fcn_model,
    network_stride,
    preprocess_whole_image,
    sliding_window_heatmap,
    window_starts,
)

__all__ = [
    "fcn_exact",
    "fcn_heatmap",
    "fcn_model",
    "network_stride",
    "preprocess_whole_image",
    "sliding_window_heatmap",
    "window_starts",
]
