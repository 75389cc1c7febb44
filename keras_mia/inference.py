"""Predict image files (or arrays) with an exported model, from Python, without the command line.

::

    from keras_mia import inference

    model = inference.load("runs/dense/saved_model")        # a `keras-mia export` folder
    predictions, failures = model.predict_files(["scan.dcm", "folder/"])
    for p in predictions:
        print(p.name, p.outputs["predicted_positive"], p.warnings)
    p = model.predict_image(pixels, source_top=4095)          # a 12-bit array in memory

``keras-mia predict`` is built on this module. What it adds to the SavedModel:

- **The training data's preparation.** A mammography model exported from a run whose data
  came from ``keras-mia prepare cbis-ddsm`` carries that data's preparation record in its
  metadata (``preparation``). A raw file - any bit depth, MONOCHROME1, a film scan with
  burned-in labels - is then prepared with the very function ``prepare`` used
  (``keras_mia.preprocessing.prepare_mammogram``: bit depth from the file header scaled to 16
  bits, resized with padding, breast segmented) before ``serving_default`` sees it; a patch
  classifier's ``heatmap`` gets the prepared whole mammogram. The graph then applies what it
  always did (resize to the model's size, intensity normalisation). Models of other recipes
  get the file as read, exactly as before.
- **Warnings, by file and reason**, for input a mammography model cannot have been meant
  for: a colour image (a photograph), a thumbnail (smaller than the prepared mammograms, so
  it would be enlarged), a DICOM file whose Modality is not ``MG`` or that holds "For
  Processing" detector data, a whole image fed to a patch classifier, a file whose pixels
  are of another size than the training scans' (a 200 micron mini-MIAS film given to a model
  prepared from CBIS-DDSM scans at 0.66, or a DICOM whose pixel spacing says so); and once
  per model,
  a mammography model whose training data had no preparation record (files are then
  scored as read). They are returned with each prediction and, unless ``warn=False``,
  emitted as :class:`InputWarning`.

Only ``tf.saved_model.load``, ``keras_mia.io`` and ``keras_mia.preprocessing`` are used: no
Keras model code, no recipe.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from keras_mia.io.files import is_image_file
from keras_mia.preprocessing.mammogram import PreparedMammogram, placement
from keras_mia.preprocessing.record import (
    PIXEL_SIZE_TOLERANCE,
    SOURCE_PIXEL_MM,
    MammogramPreparation,
)

__all__ = [
    "InferenceModel",
    "InputError",
    "InputWarning",
    "ModelInput",
    "Prediction",
    "collect_files",
    "load",
    "load_serving_model",
]

# DICOM SOP classes of raw detector data ("For Processing"), not meant to be looked at.
_FOR_PROCESSING_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1.2.1": "Digital Mammography X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
}
_COLOUR_PHOTOMETRIC = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")
# A pixel is coloured when its channels differ by more than this (of 255), and an image is a
# colour image when more than _COLOURED_SHARE of its pixels are: JPEG noise in a grey image
# stored as RGB stays below both, a drawn box or a photograph does not.
_CHROMA = 16
_COLOURED_SHARE = 0.01
# A whole image this many times larger than a patch classifier's window (both sides) is not
# a patch.
_PATCH_FACTOR = 2


class InputWarning(UserWarning):
    """A file or array that a model cannot have been meant for (the message names it)."""


class InputError(ValueError):
    """A file or array that cannot be prepared for the model (e.g. no breast in it).

    Attributes:
        path: the file (or the array's name).
        reason: why.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = str(reason)
        super().__init__(f"{self.path}: {self.reason}")


@dataclasses.dataclass
class ModelInput:
    """One image, ready for the model.

    Attributes:
        name: the file (or the array's name).
        image: float32 ``(H, W)``: what ``serving_default`` receives.
        whole: float32 ``(H, W)``: what the ``heatmap`` signature receives (patch
            classifiers, when asked for), else ``None``.
        source_top: the file's bit-depth top (``keras_mia.preprocessing.source_range``), or
            the one given with an array.
        prepared: the ``PreparedMammogram`` (image, breast mask, placement of the source)
            when the preparation was applied, else ``None``.
        warnings: reasons this input may not be what the model expects.
    """

    name: str
    image: np.ndarray
    whole: np.ndarray | None = None
    source_top: float | None = None
    prepared: PreparedMammogram | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Prediction:
    """The model's answer for one input.

    Attributes:
        name: the file (or the array's name).
        outputs: ``serving_default``'s outputs for this image, batch axis removed
            (classifiers: ``probabilities``, ``predicted_class``, ``predicted_label``;
            segmentation: ``probabilities`` and ``predicted_mask`` ``(h, w)`` at the model's
            size, ``predicted_area``, ``predicted_positive``).
        input: the ``ModelInput`` the model received.
        class_names: the model's classes in index order.
        warnings: the input's warnings, and the model's own (no preparation record).
    """

    name: str
    outputs: dict[str, np.ndarray]
    input: ModelInput
    class_names: list[str]
    warnings: list[str]

    @property
    def probabilities(self) -> np.ndarray:
        """Class probabilities ``(n_classes,)``, or per-pixel probabilities ``(h, w)``."""
        return self.outputs["probabilities"]

    @property
    def label(self) -> str | None:
        """The predicted class name (classifiers), else ``None``."""
        if "predicted_label" not in self.outputs:
            return None
        value = self.outputs["predicted_label"]
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def collect_files(inputs: Sequence[str | Path]) -> tuple[list[Path], list[Path], list[dict]]:
    """Expands files and folders (recursively, sorted) into the files to predict.

    Args:
        inputs: files and folders. A named file is always predicted; in folders, the
            files ``keras_mia.io.is_image_file`` accepts are, and so is every file without
            a suffix (a DICOM file may lack the ``DICM`` marker; an unreadable one is
            reported as failed); hidden files and other suffixes are skipped.

    Returns:
        ``(files, skipped, failures)``: the files to predict, the files skipped in folders,
        and ``{"path", "error"}`` for inputs that do not exist.
    """
    files: list[Path] = []
    skipped: list[Path] = []
    failures: list[dict] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    candidate = Path(root) / name
                    if name.startswith(".") or not (
                        candidate.suffix == "" or is_image_file(candidate)
                    ):
                        skipped.append(candidate)
                    else:
                        files.append(candidate)
        elif path.is_file():
            files.append(path)
        else:
            failures.append({"path": str(path), "error": "no such file or folder"})
    return files, skipped, failures


def load_serving_model(model_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """Loads an exported SavedModel and its metadata.

    Returns:
        ``(loaded, metadata)``: the object from ``tf.saved_model.load`` and the decoded
        ``metadata`` signature's JSON.

    Raises:
        FileNotFoundError: ``model_dir`` holds no SavedModel.
        ValueError: it is a SavedModel but not one written by ``keras-mia export``.
    """
    import tensorflow as tf

    model_dir = Path(model_dir)
    if not (model_dir / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no saved_model.pb; expected a folder written by `keras-mia export`."
        )
    loaded = tf.saved_model.load(str(model_dir))
    if "metadata" not in loaded.signatures or "serving_default" not in loaded.signatures:
        raise ValueError(
            f"{model_dir}: the SavedModel has no 'metadata'/'serving_default' signatures; it was "
            f"not written by `keras-mia export`. Received signatures: {list(loaded.signatures)}"
        )
    raw = loaded.signatures["metadata"]()["metadata_json"].numpy()
    return loaded, json.loads(raw.decode("utf-8"))


def load(model_dir: str | Path, *, warn: bool = True) -> InferenceModel:
    """Loads a folder written by ``keras-mia export`` (see :class:`InferenceModel`)."""
    return InferenceModel(model_dir, warn=warn)


class InferenceModel:
    """An exported model with the preparation and the checks its training data implies.

    Args:
        model_dir: the folder written by ``keras-mia export``.
        warn: emit each warning as an :class:`InputWarning` too (they are always returned
            with the predictions).

    Attributes:
        metadata: the export's metadata (``assets/metadata.json``).
        preparation: the training data's ``MammogramPreparation`` record, or ``None``.
        mammography: the model is a mammography model (the input checks apply).
        model_warnings: warnings about the model itself (a mammography model without a
            preparation record), added to every prediction.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_serving_model`; a preparation record
            this version cannot apply.
    """

    def __init__(self, model_dir: str | Path, *, warn: bool = True):
        self.model_dir = Path(model_dir)
        self.loaded, self.metadata = load_serving_model(model_dir)
        self.warn = bool(warn)
        block = self.metadata.get("preparation") or {}
        record = block.get("record")
        self.preparation = (
            MammogramPreparation.from_dict(record, f"{model_dir}: metadata preparation record")
            if record else None
        )
        self.mammography = bool(
            block.get("mammography", str(self.metadata.get("recipe", "")).startswith("mammo"))
        )
        minimum = block.get("minimum_source_shape")
        self.minimum_source_shape = tuple(int(v) for v in minimum) if minimum else None
        self.model_warnings: list[str] = []
        if self.mammography and self.preparation is None:
            self.model_warnings.append(
                f"mammography model {self.metadata.get('recipe')!r} has no preparation record "
                "(its training data did not come from `keras-mia prepare cbis-ddsm`, e.g. a "
                "`keras-mia synth` set): files are scored as read, without the bit-depth "
                "scaling and breast segmentation of prepared mammograms"
            )
            self._emit(str(self.model_dir), self.model_warnings)

    # ------------------------------------------------------------------ properties

    @property
    def class_names(self) -> list[str]:
        """The model's classes in index order (``["foreground"]`` for segmentation)."""
        return list(self.metadata["class_names"])

    @property
    def segmentation(self) -> bool:
        """Whether the model predicts masks."""
        return self.metadata.get("task") == "segmentation"

    @property
    def has_heatmap(self) -> bool:
        """Whether the model has a ``heatmap`` signature (patch classifiers)."""
        return "heatmap" in self.loaded.signatures

    @property
    def window(self) -> tuple[int, int]:
        """The model's input ``(height, width)`` (a patch classifier's window)."""
        height, width = self.metadata["model_input"][:2]
        return int(height), int(width)

    def _prepares_served_image(self, prepared: bool) -> bool:
        return (not prepared and self.preparation is not None
                and self.preparation.kind == "mammogram")

    # ------------------------------------------------------------------ inputs

    def read(self, path: str | os.PathLike, *, heatmap: bool = False,
             prepared: bool = False) -> ModelInput:
        """Reads one file and prepares it as the model's training data was prepared.

        Args:
            path: a DICOM, PNG, JPEG, PGM or BMP file.
            heatmap: also prepare the whole image for the ``heatmap`` signature.
            prepared: the file was written by ``keras-mia prepare`` already: use it as
                read.

        Returns:
            The ``ModelInput`` (with its warnings).

        Raises:
            keras_mia.io.ImageReadError: the file cannot be read.
            InputError: it cannot be prepared (no breast found).
        """
        from keras_mia.io import detect_format, read_image
        from keras_mia.preprocessing.intensity import source_range

        path = Path(path)
        image = read_image(path)
        fmt = detect_format(path)
        notes = _file_warnings(path, fmt) if self.mammography else []
        if self.mammography and not prepared:
            notes += _pixel_size_warnings(path, fmt, image.shape, self.preparation)
        return self._input(image, source_range(path, image), str(path), notes, heatmap,
                           prepared)

    def prepare_image(self, image: np.ndarray, source_top: float | None = None, *,
                      name: str = "array", heatmap: bool = False,
                      prepared: bool = False) -> ModelInput:
        """Prepares an image held in memory.

        Args:
            image: ``(H, W)`` in original units, brighter = denser (MONOCHROME1 inverted), or
                ``(H, W, 3)`` colour (converted to grey, with a warning for a mammography
                model).
            source_top: the largest value the image's encoding can hold (4095 for 12 bits,
                65535 for 16, 255 for 8): required when the model's training data was
                prepared and ``prepared`` is false.
            name: names the image in warnings.
            heatmap: also prepare the whole image for the ``heatmap`` signature.
            prepared: the image is prepared already (as ``keras-mia prepare`` writes it).

        Returns:
            The ``ModelInput``.

        Raises:
            ValueError: a bad shape, or ``source_top`` missing where it is needed.
            InputError: no breast found.
        """
        from keras_mia.io.intensity import luminance

        image = np.asarray(image)
        notes: list[str] = []
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        elif image.ndim == 3 and image.shape[-1] in (3, 4):
            if self.mammography and _coloured(image[..., :3], float(image.max(initial=0))):
                notes.append(_COLOUR_REASON.format(kind=f"{image.shape[-1]}-channel array"))
            image = luminance(image)
        if image.ndim != 2 or image.size == 0:
            raise ValueError(
                "Expected a non-empty (H, W), (H, W, 1) or (H, W, 3) image. Received: "
                f"shape={image.shape}"
            )
        needs_top = not prepared and self.preparation is not None and (
            self.preparation.kind == "mammogram" or heatmap)
        if needs_top and (source_top is None or not float(source_top) > 0):
            raise ValueError(
                f"{name}: this model's training data was prepared from the file's bit depth; "
                "give source_top, the largest value the image's encoding can hold (4095 for "
                f"12 bits, 65535 for 16). Received: source_top={source_top!r}"
            )
        return self._input(image.astype(np.float32), source_top, name, notes, heatmap,
                           prepared)

    def _input(self, image: np.ndarray, source_top: float | None, name: str,
               notes: list[str], heatmap: bool, prepared: bool) -> ModelInput:
        record = None if prepared else self.preparation
        whole_model = not self.has_heatmap
        if self.mammography:
            if whole_model or (heatmap and record is not None):
                notes += _thumbnail(image.shape, self.minimum_source_shape, record)
            if not whole_model:
                notes += _not_a_patch(image.shape, self.window)
        result = ModelInput(name, np.asarray(image, np.float32), source_top=source_top,
                            warnings=notes)
        if record is not None and (record.kind == "mammogram" or heatmap):
            result.prepared = record.apply(image, float(source_top))
            if not result.prepared.breast.any():
                raise InputError(name, "no breast found (a constant image)")
            whole = result.prepared.image.astype(np.float32)
            if record.kind == "mammogram":
                result.image = whole
            if heatmap:
                result.whole = self._at_window_scale(whole)
        elif heatmap:
            result.whole = self._at_window_scale(result.image)
        self._emit(name, notes)
        return result

    @property
    def heatmap_scale(self) -> float:
        """The factor a whole image is resized by before the patch window slides over it.

        A patch run trained at ``data.image_size`` smaller (or larger) than the patches it was
        cut as (``patch_size`` in the training data's preparation record: 224 patches shrunk
        to 56, say) saw its patches at ``window / patch_size`` of the prepared image's scale;
        sliding its window over the unscaled image would show it lesions 4x their trained size.
        """
        record = self.preparation
        size = None if record is None else record.patch_size
        if not size or int(size) == self.window[0]:
            return 1.0
        return self.window[0] / int(size)

    @property
    def heatmap_note(self) -> str | None:
        """One line for the user saying how heatmaps rescale images (``None``: they do not).

        It holds for every file of this model, so it is a note about the model, printed once,
        not a warning about any file."""
        factor = self.heatmap_scale
        if factor == 1.0:
            return None
        size = self.preparation.patch_size
        return (
            f"heatmap: the patches were cut at {size}x{size} and seen by the model at "
            f"{self.window[0]}x{self.window[1]}, so each image is resized by {factor:.3g} "
            "before the window slides over it"
        )

    def _at_window_scale(self, whole: np.ndarray) -> np.ndarray:
        """The whole image at the scale the patch classifier saw its patches
        (:attr:`heatmap_scale`)."""
        from keras_mia.preprocessing import resize_image

        factor = self.heatmap_scale
        if factor == 1.0:
            return whole
        height = max(1, round(whole.shape[0] * factor))
        width = max(1, round(whole.shape[1] * factor))
        return resize_image(whole, height, width, order=1)

    # ------------------------------------------------------------------ predictions

    def predict(self, model_input: ModelInput) -> Prediction:
        """Runs ``serving_default`` on a prepared input.

        Raises:
            tensorflow.errors.OpError: the graph refused the input.
        """
        import tensorflow as tf

        outputs = self.loaded.signatures["serving_default"](
            images=tf.constant(model_input.image[None, :, :, None], tf.float32))
        values = {key: value.numpy()[0] for key, value in outputs.items()}
        return Prediction(model_input.name, values, model_input, self.class_names,
                          list(model_input.warnings) + list(self.model_warnings))

    def predict_image(self, image: np.ndarray, source_top: float | None = None, *,
                      name: str = "array", prepared: bool = False) -> Prediction:
        """Prepares and predicts one image held in memory (see :meth:`prepare_image`)."""
        return self.predict(self.prepare_image(image, source_top, name=name, prepared=prepared))

    def predict_file(self, path: str | os.PathLike, *, prepared: bool = False) -> Prediction:
        """Reads, prepares and predicts one file (see :meth:`read`)."""
        return self.predict(self.read(path, prepared=prepared))

    def predict_files(self, paths: Sequence[str | os.PathLike], *, prepared: bool = False
                      ) -> tuple[list[Prediction], list[dict[str, str]]]:
        """Predicts every image file of ``paths`` (folders are walked, see ``collect_files``).

        Returns:
            ``(predictions, failures)``: ``failures`` holds ``{"path", "error"}`` for each
            input that could not be read, prepared or predicted; the others are predicted.
        """
        import tensorflow as tf

        from keras_mia.io import ImageReadError

        files, _, failures = collect_files(paths)
        predictions = []
        for path in files:
            try:
                predictions.append(self.predict_file(path, prepared=prepared))
            except (ImageReadError, InputError) as err:
                failures.append({"path": str(path), "error": err.reason})
            except (OSError, ValueError) as err:
                failures.append({"path": str(path), "error": f"{type(err).__name__}: {err}"})
            except tf.errors.OpError as err:
                message = (err.message or str(err)).strip().splitlines()[0]
                failures.append({"path": str(path), "error": f"prediction failed: {message}"})
        return predictions, failures

    def heatmap(self, model_input: ModelInput, stride: int | None = None) -> np.ndarray:
        """The patch classifier slid over ``model_input.whole`` (read with ``heatmap=True``).

        Args:
            model_input: from :meth:`read` / :meth:`prepare_image` with ``heatmap=True``.
            stride: window stride in pixels; ``None``: a quarter of the window.

        Returns:
            float32 ``[rows, cols, n_classes]``.

        Raises:
            ValueError: the model has no heatmap signature, or the input no whole image.
            tensorflow.errors.OpError: e.g. the image is smaller than a window.
        """
        import tensorflow as tf

        if not self.has_heatmap:
            raise ValueError(
                f"{self.model_dir}: this '{self.metadata.get('model')}' model has no heatmap "
                "signature (only patch classifiers have one)."
            )
        if model_input.whole is None:
            raise ValueError(f"{model_input.name}: read it with heatmap=True for a heatmap")
        stride = max(1, self.window[0] // 4) if stride is None else int(stride)
        result = self.loaded.signatures["heatmap"](
            image=tf.constant(model_input.whole[:, :, None], tf.float32),
            stride=tf.constant(stride, tf.int32))
        return result["heatmap"].numpy()

    def _emit(self, name: str, reasons: Sequence[str]) -> None:
        if self.warn:
            for reason in reasons:
                warnings.warn(f"{name}: {reason}", InputWarning, stacklevel=3)


# ---------------------------------------------------------------------- checks

_COLOUR_REASON = ("colour image ({kind}; its channels differ): a photograph, not a mammogram; "
                  "read as grey luminance")


def _coloured(rgb: np.ndarray, top: float) -> bool:
    """Whether more than ``_COLOURED_SHARE`` of the pixels have channels that differ."""
    rgb = np.asarray(rgb, np.float64)
    if top > 255:
        rgb = rgb * (255.0 / top)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    return float(np.mean(spread > _CHROMA)) > _COLOURED_SHARE


def _file_warnings(path: Path, fmt: str) -> list[str]:
    """What the file's header and colour say about it being a mammogram (before the grey
    conversion of ``read_image``)."""
    if fmt == "dicom":
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        notes = []
        modality = str(ds.get("Modality", "") or "").strip().upper()
        if modality != "MG":
            notes.append(
                f"DICOM Modality is {modality!r}, not 'MG' (mammography)" if modality
                else "DICOM file without a Modality (a mammogram's is 'MG')")
        sop_class = str(ds.get("SOPClassUID", "") or "")
        intent = str(ds.get("PresentationIntentType", "") or "").upper()
        if sop_class in _FOR_PROCESSING_SOP_CLASSES or intent == "FOR PROCESSING":
            notes.append(
                "'For Processing' image (raw detector data, "
                f"{_FOR_PROCESSING_SOP_CLASSES.get(sop_class, intent)}): the model was "
                "trained on images for presentation")
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        photometric = str(ds.get("PhotometricInterpretation", "") or "").upper()
        if samples > 1 or photometric in _COLOUR_PHOTOMETRIC:
            notes.append(_COLOUR_REASON.format(kind=f"DICOM {photometric or 'colour'}"))
        return notes
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode in ("1", "L", "LA", "La", "I", "F") or img.mode.startswith("I;16"):
                return []
            mode = img.mode
            rgb = np.asarray(img.convert("RGB"))
    except Exception:  # noqa: BLE001 - read_image has read it; no colour check is possible
        return []
    return [_COLOUR_REASON.format(kind=mode)] if _coloured(rgb, 255.0) else []


def _source_pixel_mm(path: Path, fmt: str, shape) -> tuple[float, str] | None:
    """The file's pixel size in mm and how it is known, or ``None`` when nothing says."""
    if fmt == "pgm" and tuple(shape[:2]) == (1024, 1024):
        return SOURCE_PIXEL_MM["mias"], "a 1024x1024 PGM: a mini-MIAS film"
    if fmt == "dicom":
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        for keyword in ("ImagerPixelSpacing", "PixelSpacing"):
            spacing = ds.get(keyword)
            try:
                value = float(spacing[0])
            except (TypeError, ValueError, IndexError):
                continue
            if value > 0:
                return value, f"DICOM {keyword} {value:g} mm"
    return None


def _pixel_size_warnings(path: Path, fmt: str, shape,
                         record: MammogramPreparation | None) -> list[str]:
    """A file whose pixels differ in size from the training scans' (same preparation, so
    lesions reach the model at another size than it learned)."""
    if record is None or record.kind != "mammogram" or record.dataset not in SOURCE_PIXEL_MM:
        return []
    known = _source_pixel_mm(path, fmt, shape)
    if known is None:
        return []
    pixel_mm, how = known
    # The raw file is prepared with the record, so its pixel becomes pixel_mm / scale too:
    # comparing the sources is comparing what the model sees.
    trained_mm = SOURCE_PIXEL_MM[record.dataset]
    ratio = pixel_mm / trained_mm
    if 1 / PIXEL_SIZE_TOLERANCE <= ratio <= PIXEL_SIZE_TOLERANCE:
        return []
    return [
        f"pixels of about {pixel_mm * 1000:.0f} microns ({how}), but the model's training "
        f"images were {record.dataset} scans of about {trained_mm * 1000:.0f} microns prepared "
        f"as '{record.describe()}': lesions reach the model {ratio:.1f}x "
        f"{'smaller' if ratio > 1 else 'larger'} than it learned them; resample the file to "
        f"the training scans' pixel size, prepare it as they were and pass --prepared"
    ]


def _thumbnail(shape, minimum, record: MammogramPreparation | None) -> list[str]:
    """A thumbnail: smaller than the prepared mammograms, so it would be enlarged."""
    if minimum is None:
        return []
    where = placement(shape, minimum, overflow="crop" if record is None else record.overflow)
    if where.scale <= 1.0:
        return []
    return [
        f"{shape[0]}x{shape[1]} pixels is smaller than the {minimum[0]}x{minimum[1]} "
        f"{'prepared mammograms' if record is not None else 'model input'} (it would be "
        f"enlarged {where.scale:.1f}x): a thumbnail or screenshot, not a mammogram at its "
        "acquired resolution"
    ]


def _not_a_patch(shape, window) -> list[str]:
    if shape[0] < _PATCH_FACTOR * window[0] or shape[1] < _PATCH_FACTOR * window[1]:
        return []
    return [
        f"a {shape[0]}x{shape[1]} image is scored as one {window[0]}x{window[1]} patch "
        "(resized) by this patch classifier; for a whole mammogram read its heatmap "
        "(predict --heatmap)"
    ]
