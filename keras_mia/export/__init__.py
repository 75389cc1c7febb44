"""Export a run as a TensorFlow SavedModel, and predict from a SavedModel alone.

``export_run`` needs the Keras model code; ``predict_files`` deliberately does not (it loads
the SavedModel with ``tf.saved_model.load``), so both are imported on first use.
"""

__all__ = ["export_run", "predict_files", "collect_files"]


def __getattr__(name):
    if name == "export_run":
        from keras_mia.export.saved_model import export_run

        return export_run
    if name in ("predict_files", "collect_files"):
        from keras_mia.export import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'keras_mia.export' has no attribute {name!r}")
