"""What an exported model expects as input, written into its metadata for the deployed path.

Mammography models are trained on prepared images (``keras-mia prepare cbis-ddsm``: bit depth
scaled to 16 bits, resized with padding, breast segmented). The SavedModel graph keeps what
it always did - the recipe's resize to the model's size and its intensity normalisation -
but cannot hold the preparation itself: the breast segmentation (connected components, hole
filling) has no TensorFlow equivalent, the bit depth lives in the DICOM header, and a second,
TensorFlow copy of the resize would not give the same pixels. The preparation therefore runs
in ``keras_mia.inference`` (and ``keras-mia predict``, built on it), with the very function
``prepare`` used, and the metadata says so: ``preparation`` holds the data set's record and
what ``serving_default`` (and ``heatmap``) expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keras_mia.preprocessing.record import (
    PREPARATION_FILE,
    MammogramPreparation,
    find_preparation,
    read_preparation,
)

__all__ = ["MAMMOGRAPHY_SETS", "is_mammography", "run_preparation", "input_contract"]

# Synthetic sets (recipe ``synth.dataset``) of the mammography recipes.
MAMMOGRAPHY_SETS: tuple[str, ...] = ("mammo", "mammo_patch")
_RAW = ("float32 [batch, height, width] or [batch, height, width, 1]: raw single-channel "
        "images in original intensity units (keras_mia.io.read_image), any size, one size "
        "per batch")
_BATCH = "float32 [batch, height, width] or [batch, height, width, 1], one size per batch"


def is_mammography(config: Any) -> bool:
    """Whether a recipe is a mammography recipe (Shen's patch and whole-image classifiers,
    Scuccimarra's dense prediction, or a copy of one of them)."""
    return config.synth.dataset in MAMMOGRAPHY_SETS or config.name.startswith("mammo")


def run_preparation(
    run_root: str | Path, manifest: str | Path | None
) -> tuple[MammogramPreparation | None, Path | None]:
    """The preparation record of a run's training data, and where it was found.

    ``RUN/preparation.json`` (copied by ``train``) first; a run folder without one (trained
    before records existed, or assembled by hand) falls back to the record beside the
    manifest recorded in its ``config.yaml``.

    Raises:
        ValueError: a record exists but cannot be read.
    """
    own = Path(run_root) / PREPARATION_FILE
    if own.is_file():
        return read_preparation(own), own
    found = find_preparation(manifest)
    return (None, None) if found is None else found


def input_contract(
    config: Any, run_root: str | Path, *, heatmap: bool, eval_size: tuple[int, int]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The ``input`` descriptions and the ``preparation`` block of an export's metadata.

    Args:
        config: the run's resolved recipe.
        run_root: the run folder.
        heatmap: the export has a ``heatmap`` signature (a patch classifier).
        eval_size: ``(height, width)`` the graph resizes ``serving_default`` inputs to.

    Returns:
        ``(input, preparation)``. ``preparation`` keys: ``mammography``; ``record`` (the
        data set's ``preparation.json``, or ``None``) and ``record_source``;
        ``applied_in_graph`` (always ``False``: the graph holds no part of it);
        ``applied_by_predict`` (``keras-mia predict`` / ``keras_mia.inference`` prepare raw
        files); ``serving_default_input`` and ``heatmap_input`` (``"prepared_mammogram"``,
        ``"prepared_patch"`` or ``"as_read"``); ``in_graph`` (what the graph does);
        ``minimum_source_shape`` (a mammogram smaller than this would be enlarged: warned
        about as a thumbnail).

    Raises:
        ValueError: the run's record cannot be read.
    """
    data = config.data
    height, width = eval_size
    inputs = {
        "serving_default": _RAW,
        "serving_png": "string [batch]: encoded 8- or 16-bit PNG files",
        "heatmap": "float32 [height, width, 1] whole image in original units at the scale "
                   "the patches were cut from, and int32 stride (pixels)",
    }
    geometry = (f"resize to {height}x{width} (data.resize={data.resize})" if height is not None
                else "no resize (each image at its own size)")
    in_graph = (f"{geometry}, intensity "
                f"normalisation (minmax={data.minmax}, rescale={data.rescale:g}, "
                f"mean={data.mean:g}, std={data.std:g}), {data.channels} channel(s)")
    preparation: dict[str, Any] = {
        "mammography": is_mammography(config),
        "record": None,
        "record_source": None,
        "applied_in_graph": False,
        "applied_by_predict": False,
        "serving_default_input": "as_read",
        "heatmap_input": "as_read" if heatmap else None,
        "in_graph": in_graph,
        "minimum_source_shape": None,
    }
    if not preparation["mammography"]:
        return inputs, preparation

    record, source = run_preparation(run_root, config.manifest)
    if record is None:
        inputs["serving_default"] = (
            f"{_BATCH}: images on the scale of the training manifest's files. The training "
            "data has no preparation record (a `keras-mia synth` set, or prepared by hand), "
            "so neither this graph nor keras-mia predict / keras_mia.inference prepares a "
            "raw mammogram (bit depth, breast segmentation) for it; the graph applies: "
            + in_graph)
        preparation["minimum_source_shape"] = [height, width] if height is not None else None
        return inputs, preparation

    if record.image_size is not None:
        prep_h, prep_w = record.image_size
        written = f"a {prep_h}x{prep_w} PNG"
        minimum = [prep_h, prep_w]
    else:
        # Relative scale: prepared images keep their sources' differing sizes, so no size
        # tells a thumbnail from a scan at its acquired resolution.
        written = (f"a PNG {record.scale:g} times the size of the scan at its acquired "
                   "resolution (a smaller file, e.g. a thumbnail, is not detected)")
        minimum = None
    prepared = (f"a mammogram prepared as the training data was ({record.describe()}; "
                f"keras_mia.preprocessing.prepare_mammogram), i.e. {written} "
                "as `keras-mia prepare cbis-ddsm` writes it")
    applied = ("This graph does not prepare raw files: keras-mia predict and "
               "keras_mia.inference do (bit depth from the file header, resize, breast "
               "segmentation) before calling it")
    preparation.update(
        record=record.to_dict(),
        record_source=str(source),
        applied_by_predict=True,
        minimum_source_shape=minimum,
    )
    if record.kind == "patches":
        inputs["serving_default"] = (
            f"{_BATCH}: {record.patch_size}x{record.patch_size} patches cut from {prepared} "
            "(16-bit values; `prepare cbis-ddsm --patches` writes them); nothing is prepared "
            "for it, by this graph or by keras-mia predict")
        preparation["serving_default_input"] = "prepared_patch"
        if heatmap:
            inputs["heatmap"] = (f"float32 [height, width, 1]: {prepared}, and int32 stride "
                                 f"(pixels). {applied}")
            if height is not None and int(record.patch_size) != int(height):
                # The model saw its patches resized to its input; keras_mia.inference resizes
                # the whole image likewise (InferenceModel._at_window_scale).
                inputs["heatmap"] += (
                    f", then resize it by {height}/{record.patch_size}: the patches were cut "
                    f"at {record.patch_size}x{record.patch_size} and seen at {height}x{width}")
            preparation["heatmap_input"] = "prepared_mammogram"
    else:
        inputs["serving_default"] = f"{_BATCH}: {prepared}. {applied}; then it applies: " \
                                    + in_graph
        preparation["serving_default_input"] = "prepared_mammogram"
    return inputs, preparation
