"""Custom layers used by the models (``keras.ops`` only, serializable for ``.keras`` files)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ResizeToMatch"]


@keras.saving.register_keras_serializable(package="keras_mia")
class ResizeToMatch(keras.layers.Layer):
    """Nearest-neighbour resize of ``inputs[0]`` to the spatial size of ``inputs[1]``.

    ``keras.layers.Resizing`` needs the target size when the model is built; this layer reads it
    from a reference tensor at run time, so fully convolutional models accept any input size
    (including ``None`` dimensions). Pixel centres are aligned the way ``tf.image.resize`` and
    ``jax.image.resize`` do for "nearest": output pixel ``i`` takes input pixel
    ``floor((i + 0.5) * in / out)``, which for an integer factor ``k`` is ``i // k``
    (identical to ``UpSampling2D``).

    Call arguments:
        inputs: ``[images, reference]``, both channels last (batch, height, width, channels).

    Returns:
        ``images`` resized to ``(batch, ref_height, ref_width, image_channels)``.
    """

    def call(self, inputs):
        images, reference = inputs
        images = self._resize_axis(images, ops.shape(reference)[1], axis=1)
        return self._resize_axis(images, ops.shape(reference)[2], axis=2)

    @staticmethod
    def _resize_axis(images, out_size, axis: int):
        in_size = ops.shape(images)[axis]
        positions = (ops.arange(out_size, dtype="float32") + 0.5) * ops.cast(
            in_size, "float32"
        ) / ops.cast(out_size, "float32")
        indices = ops.minimum(ops.cast(ops.floor(positions), "int32"), in_size - 1)
        return ops.take(images, indices, axis=axis)

    def compute_output_shape(self, input_shape):
        image_shape, reference_shape = input_shape
        return (image_shape[0], reference_shape[1], reference_shape[2], image_shape[-1])
