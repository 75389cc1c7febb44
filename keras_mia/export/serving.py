"""The TensorFlow functions behind the exported signatures (pure TF, traced once at export).

Preprocessing reuses ``keras_mia.data.pipeline.preprocess_image``, the very function of the
validation/test pipeline, so a raw image fed to the SavedModel is resized and normalised
exactly as ``evaluate`` saw it.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_mia.data.normalize import normalize
from keras_mia.data.pipeline import preprocess_image

__all__ = ["decode_png", "with_channel_axis", "ServingFunctions"]

# ITU-R 601 luma, as keras_mia.io.read_image and the tf.data decoder convert colour to grey.
_LUMA = (0.299, 0.587, 0.114)


def decode_png(contents: tf.Tensor) -> tf.Tensor:
    """Decodes encoded PNG bytes to a grey ``[H, W, 1]`` float32 image in the file's units.

    8-bit files give 0..255 and 16-bit files 0..65535 (the bit depth is read from the IHDR
    header, because ``decode_png(dtype=uint16)`` would scale 8-bit values by 257). Colour
    becomes grey with the ITU-R 601 weights; an alpha channel is dropped.

    Args:
        contents: scalar string tensor holding a PNG file.

    Returns:
        float32 ``[H, W, 1]``.
    """
    check = tf.debugging.Assert(
        tf.equal(tf.strings.substr(contents, 0, 8), b"\x89PNG\r\n\x1a\n"),
        ["serving_png received bytes that are not a PNG file"],
    )
    with tf.control_dependencies([check]):
        contents = tf.identity(contents)
    bit_depth = tf.io.decode_raw(tf.strings.substr(contents, 24, 1), tf.uint8)[0]
    image = tf.cond(
        bit_depth >= 16,
        lambda: tf.cast(tf.io.decode_png(contents, channels=0, dtype=tf.uint16), tf.float32),
        lambda: tf.cast(tf.io.decode_png(contents, channels=0, dtype=tf.uint8), tf.float32),
    )
    channels = tf.shape(image)[-1]
    grey = tf.cond(
        channels >= 3,
        lambda: tf.tensordot(image[..., :3], tf.constant(_LUMA, tf.float32), axes=[[-1], [0]]),
        lambda: image[..., 0],
    )
    return grey[..., None]


def with_channel_axis(images: tf.Tensor) -> tf.Tensor:
    """``[B, H, W]`` or ``[B, H, W, 1]`` (a signature input of unknown rank) -> ``[B, H, W, 1]``.

    Raises:
        tf.errors.InvalidArgumentError: (when run) any other rank, or more than one channel.
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    rank = tf.size(shape)
    # shape[3:] is empty for rank 3 (product 1), [C] for rank 4.
    single = tf.logical_or(
        tf.equal(rank, 3),
        tf.logical_and(tf.equal(rank, 4), tf.equal(tf.reduce_prod(shape[3:]), 1)),
    )
    check = tf.debugging.Assert(
        single,
        ["serving_default expects float32 [batch, height, width] or [batch, height, width, 1] "
         "single-channel images. Received: shape=", shape],
    )
    with tf.control_dependencies([check]):
        images = tf.reshape(images, tf.concat([shape[:3], [1]], axis=0))
    return tf.ensure_shape(images, [None, None, None, 1])


class ServingFunctions:
    """Builds the Python functions that ``ExportArchive`` traces into signatures.

    Args:
        model: the trained Keras model (TensorFlow backend).
        data: the recipe's ``PipelineConfig``.
        class_names: class names in index order (``["foreground"]`` for segmentation).
        threshold: the operating threshold (two classes: on the positive class's
            probability; segmentation: per pixel).
        positive_index: index of the positive class for two-class models, else ``None``.
        logits: the model outputs logits (sigmoid / softmax applied here).
        area_divisor: segmentation image-level rule (positive when the predicted area
            exceeds ``h * w / area_divisor``).
        metadata_json: the metadata, served by the ``metadata`` signature.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        class_names: list[str],
        threshold: float,
        positive_index: int | None,
        logits: bool,
        area_divisor: float,
        metadata_json: str,
    ):
        self.model = model
        self.data = data
        self.class_names = list(class_names)
        self.threshold = float(threshold)
        self.positive_index = positive_index
        self.logits = logits
        self.area_divisor = float(area_divisor)
        self.metadata_json = metadata_json
        # None, None: the model takes each image at its own size (data.image_size: null).
        height, width = data.eval_size() or (None, None)
        self.output_shape = (height, width, data.channels)

    # ---------------------------------------------------------------- signatures

    def serve_images(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """``serving_default``: raw images ``[B, H, W]`` or ``[B, H, W, 1]``, original units."""
        images = with_channel_axis(images)
        batch = tf.map_fn(
            lambda image: preprocess_image(image, self.data),
            images,
            fn_output_signature=tf.TensorSpec(self.output_shape, tf.float32),
        )
        return self._predict(batch)

    def serve_png(self, png_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        """``serving_png``: a batch ``[B]`` of encoded PNG files."""
        batch = tf.map_fn(
            lambda contents: preprocess_image(decode_png(contents), self.data),
            png_bytes,
            fn_output_signature=tf.TensorSpec(self.output_shape, tf.float32),
        )
        return self._predict(batch)

    def metadata(self) -> dict[str, tf.Tensor]:
        """``metadata``: the recipe, classes, threshold and the full metadata as JSON."""
        return {
            "metadata_json": tf.constant(self.metadata_json),
            "class_names": tf.constant(self.class_names),
            "threshold": tf.constant(self.threshold, tf.float32),
        }

    def heatmap_function(self, batch_size: int = 32) -> Callable[[tf.Tensor, tf.Tensor], dict]:
        """``heatmap``: the patch classifier slid over one whole image at a given stride.

        The image (``[H, W, 1]``, original units, at the scale the patches were cut from) gets
        the recipe's intensity normalisation but no resize; every ``P x P`` window at
        ``stride`` is classified, ``batch_size`` windows per model call.
        """
        patch_h, patch_w, channels = self.output_shape
        data = self.data
        n_out = len(self.class_names)

        def heatmap(image: tf.Tensor, stride: tf.Tensor) -> dict[str, tf.Tensor]:
            x = normalize(tf.cast(image, tf.float32), data.minmax, data.rescale, data.mean,
                          data.std)
            if channels == 3:
                x = tf.tile(x, [1, 1, 3])
            height, width = tf.shape(x)[0], tf.shape(x)[1]
            checks = [
                tf.debugging.assert_greater_equal(
                    height, patch_h, message=f"heatmap: image height < window {patch_h}"),
                tf.debugging.assert_greater_equal(
                    width, patch_w, message=f"heatmap: image width < window {patch_w}"),
                tf.debugging.assert_positive(stride, message="heatmap: stride must be >= 1"),
            ]
            with tf.control_dependencies(checks):
                rows = tf.range(0, height - patch_h + 1, stride)
            cols = tf.range(0, width - patch_w + 1, stride)
            grid_r, grid_c = tf.meshgrid(rows, cols, indexing="ij")
            corners = tf.stack([tf.reshape(grid_r, [-1]), tf.reshape(grid_c, [-1])], axis=1)
            count = tf.shape(corners)[0]
            chunks = (count + batch_size - 1) // batch_size
            # Pad with copies of the first window so every chunk is full; dropped below.
            corners = tf.concat(
                [corners, tf.zeros([chunks * batch_size - count, 2], tf.int32)], axis=0)
            corners = tf.reshape(corners, [chunks, batch_size, 2])

            def classify(chunk):
                row_index = chunk[:, 0:1] + tf.range(patch_h)[None]  # [B, P_h]
                col_index = chunk[:, 1:2] + tf.range(patch_w)[None]  # [B, P_w]
                patches = tf.gather(x, row_index)  # [B, P_h, W, C]
                patches = tf.gather(patches, col_index, axis=2, batch_dims=1)
                patches = tf.ensure_shape(patches, [batch_size, patch_h, patch_w, channels])
                return self._probabilities(self.model(patches, training=False))

            out = tf.map_fn(
                classify, corners, fn_output_signature=tf.TensorSpec([batch_size, n_out])
            )
            out = tf.reshape(out, [-1, n_out])[:count]
            return {
                "heatmap": tf.reshape(out, [tf.size(rows), tf.size(cols), n_out]),
                "window": tf.constant([patch_h, patch_w], tf.int32),
            }

        return heatmap

    # ---------------------------------------------------------------- internals

    def _probabilities(self, outputs: tf.Tensor) -> tf.Tensor:
        outputs = tf.cast(outputs, tf.float32)
        if self.data.task == "segmentation":
            return tf.sigmoid(outputs) if self.logits else outputs
        if outputs.shape[-1] == 1 and len(self.class_names) == 2:
            positive = tf.sigmoid(outputs) if self.logits else outputs
            return tf.concat([1.0 - positive, positive], axis=-1)
        return tf.nn.softmax(outputs, axis=-1) if self.logits else outputs

    def _predict(self, batch: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = self._probabilities(self.model(batch, training=False))
        names = tf.constant(self.class_names)
        if self.data.task == "segmentation":
            probabilities = probabilities[..., 0]
            mask = probabilities >= self.threshold
            area = tf.reduce_sum(tf.cast(mask, tf.int32), axis=[1, 2])
            pixels = tf.cast(tf.shape(mask)[1] * tf.shape(mask)[2], tf.float64)
            limit = pixels / self.area_divisor
            return {
                "probabilities": probabilities,
                "predicted_mask": tf.cast(mask, tf.uint8),
                "predicted_area": area,
                "predicted_positive": tf.cast(area, tf.float64) > limit,
            }
        if self.positive_index is not None and len(self.class_names) == 2:
            positive = self.positive_index
            predicted = tf.where(probabilities[:, positive] >= self.threshold,
                                 positive, 1 - positive)
        else:
            predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "predicted_class": tf.cast(predicted, tf.int32),
            "predicted_label": tf.gather(names, predicted),
        }
