"""keras_mia: classic medical-image-analysis deep-learning systems, reproduced in Keras 3.

Sub-packages are imported lazily so that ``import keras_mia`` stays cheap (the command line
must answer ``--help`` without loading TensorFlow).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
