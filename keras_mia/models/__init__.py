"""The model zoo: ``keras_mia.models.build(name, **options) -> keras.Model``.

Every model is a Keras functional model written with ``keras`` / ``keras.ops`` only, so it
builds and trains on the TensorFlow and the JAX backends. Names (see :func:`list_models`):

- ``inception_v3_gap``: Hello World radiograph classifier (Lakhani et al. 2018).
- ``resnet18``: breast-MRI slice classifier (Konz), torchvision's ResNet-18, 1-channel stem.
- ``resnet50_patch``: Shen et al.'s 5-class mammogram patch classifier.
- ``resnet50_whole_image``: Shen et al.'s whole-mammogram classifier on the patch backbone.
- ``dense_prediction_28``: Scuccimarra's 28-layer dilated dense-prediction network (logits).

Fine-tuning: :func:`list_stages`, :func:`get_stage_layers` and :func:`set_trainable_stage`
work on freshly built and on reloaded (``.keras``) models alike.
"""

# Importing the family modules registers their builders and stages.
from keras_mia.models import dense_prediction, inception, resnet18, resnet50_patch
from keras_mia.models import resnet50_whole_image
from keras_mia.models.layers import ResizeToMatch
from keras_mia.models.registry import build, get_builder, list_models, register_model
from keras_mia.models.stages import (
    get_stage_layers,
    list_stages,
    register_stages,
    set_trainable_stage,
)
from keras_mia.models.weights import adapt_input_conv

__all__ = [
    "build",
    "list_models",
    "get_builder",
    "register_model",
    "list_stages",
    "get_stage_layers",
    "set_trainable_stage",
    "register_stages",
    "adapt_input_conv",
    "ResizeToMatch",
]
