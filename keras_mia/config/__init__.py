"""Configuration, at the bottom of the package: typed dataclasses and their checks.

- ``typed``: ``from_dict`` / ``to_dict`` / ``--set`` overrides for dataclass trees, the one
  checking mechanism (types, ``Literal`` choices, unknown keys), and safe YAML loading.
- ``data``: ``PipelineConfig`` and its augmentation settings (the tf.data pipeline's).
- ``recipe``: ``RecipeConfig`` (data, model, training stages, evaluation, synth settings).

Nothing here imports another ``keras_mia`` package; ``keras_mia.recipes`` loads the recipe
YAML files into these classes.
"""
