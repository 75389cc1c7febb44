"""Tests for keras_mia.inference: the deployed path from Python, without the command line."""

import csv
import warnings

import keras
import numpy as np
import pydicom
import pytest
from PIL import Image

from keras_mia import inference
from keras_mia.datasets import prepare
from keras_mia.export.saved_model import export_run
from keras_mia.io import read_image
from keras_mia.preprocessing import carry_preparation, source_range
from keras_mia.recipes import dump_recipe, load_recipe
from keras_mia.synth.raw import generate_raw
from keras_mia.synth.raw._dicom import write_slice

SIZE = (64, 48)


def _tiny_classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((*SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x),
                                    keras.layers.GlobalAveragePooling2D()(inputs)])
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A whole-image classifier exported from a run on prepared synthetic CBIS-DDSM."""
    root = tmp_path_factory.mktemp("inference")
    src = generate_raw("cbis-ddsm", root / "raw", n=3, seed=1)
    report = prepare("cbis-ddsm", src, root / "prepared", image_size=SIZE, quiet=True)
    run = root / "run"
    run.mkdir()
    overrides = [f"manifest={report.manifest_path}", f"data.image_size=[{SIZE[0]}, {SIZE[1]}]",
                 "data.mean=33.0", "data.std=45.0", "model.options.backbone=random"]
    dump_recipe(load_recipe("mammo_whole_image", overrides), run / "config.yaml")
    _tiny_classifier().save(run / "best.keras")
    carry_preparation(report.manifest_path, run)
    model_dir = export_run(run, root / "model", threshold=0.5)
    with open(report.out_dir / "abnormalities.csv", newline="") as f:
        raw = {r["scan"]: r["full_image_source"] for r in csv.DictReader(f)}
    return {"model_dir": model_dir, "out": report.out_dir, "raw": raw}


@pytest.fixture(scope="module")
def model(setup):
    return inference.load(setup["model_dir"], warn=False)


def _twelve_bit(setup):
    for scan, path in sorted(setup["raw"].items()):
        if pydicom.dcmread(path, stop_before_pixels=True).BitsStored == 12:
            return scan, path
    raise AssertionError("the synthetic layout has no 12-bit mammogram")


def test_the_model_knows_its_preparation(model):
    assert model.mammography and not model.segmentation and not model.has_heatmap
    assert model.preparation.image_size == SIZE and model.preparation.segment
    assert model.model_warnings == []
    assert model.class_names == ["benign", "malignant"]


def test_an_array_with_its_bit_depth_equals_the_file(model, setup):
    scan, path = _twelve_bit(setup)
    from_file = model.predict_file(path)
    pixels = read_image(path)
    assert source_range(path, pixels) == 4095.0
    from_array = model.predict_image(pixels, source_top=4095, name=scan)
    np.testing.assert_array_equal(from_array.probabilities, from_file.probabilities)
    assert from_array.label == from_file.label in ("benign", "malignant")
    # The same pixels taken as 16-bit values are darker: another answer, so the top matters.
    wrong = model.predict_image(pixels, source_top=65535)
    assert np.abs(wrong.probabilities - from_file.probabilities).max() > 1e-3
    with pytest.raises(ValueError, match="source_top"):
        model.predict_image(pixels)


def test_a_prepared_file_is_used_as_read_when_said_so(model, setup):
    scan, path = _twelve_bit(setup)
    png = setup["out"] / "images" / f"{scan}.png"
    from_png = model.predict_file(png, prepared=True)
    np.testing.assert_array_equal(from_png.input.image, np.asarray(Image.open(png)))
    np.testing.assert_allclose(from_png.probabilities, model.predict_file(path).probabilities,
                               atol=1e-6)
    assert from_png.warnings == []


def test_colour_arrays_and_files_are_warned_about(setup, tmp_path):
    model = inference.load(setup["model_dir"])  # warn=True: InputWarning as well
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (300, 200, 3)).astype(np.uint8)
    with pytest.warns(inference.InputWarning, match="snapshot: colour image"):
        prediction = model.predict_image(photo, source_top=255, name="snapshot")
    assert any("colour image" in w for w in prediction.warnings)
    # A grey film stored as RGB JPEG is no photograph.
    _, path = _twelve_bit(setup)
    grey = (read_image(path) / 4095 * 255).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey.jpg", quality=85)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.predict_file(tmp_path / "grey.jpg").warnings == []
    with pytest.warns(inference.InputWarning, match="photo.png: colour image"):
        model.predict_file(tmp_path / "photo.png")


def test_dicom_headers_that_are_no_presentation_mammogram(model, setup, tmp_path):
    pixels = pydicom.dcmread(_twelve_bit(setup)[1]).pixel_array
    common = dict(sop_uid="1.2.3.4", patient_id="p", study_uid="1.2.3", series_uid="1.2.3.5",
                  series_description="x", bits_stored=12)
    write_slice(tmp_path / "mr.dcm", pixels, modality="MR", **common)
    write_slice(tmp_path / "raw.dcm", pixels, modality="MG",
                extra={"PresentationIntentType": "FOR PROCESSING"}, **common)
    predictions, failures = model.predict_files([tmp_path])
    assert failures == []
    warned = {p.name: " | ".join(p.warnings) for p in predictions}
    assert "DICOM Modality is 'MR', not 'MG'" in warned[str(tmp_path / "mr.dcm")]
    assert "'For Processing' image" in warned[str(tmp_path / "raw.dcm")]
    assert "Modality" not in warned[str(tmp_path / "raw.dcm")]


def test_a_thumbnail_is_warned_about_and_an_empty_image_refused(model, setup, tmp_path):
    _, path = _twelve_bit(setup)
    small = read_image(path)[::10, ::10]
    prediction = model.predict_image(small, source_top=4095, name="thumb")
    assert prediction.warnings == [
        "40x25 pixels is smaller than the 64x48 prepared mammograms (it would be enlarged "
        "1.6x): a thumbnail or screenshot, not a mammogram at its acquired resolution"]
    with pytest.raises(inference.InputError, match="blank: no breast found"):
        model.predict_image(np.zeros((200, 120)), source_top=255, name="blank")
    Image.fromarray(np.zeros((200, 120), np.uint8)).save(tmp_path / "blank.png")
    predictions, failures = model.predict_files([tmp_path / "blank.png"])
    assert predictions == []
    assert failures == [{"path": str(tmp_path / "blank.png"),
                         "error": "no breast found (a constant image)"}]


def test_a_file_with_other_pixel_sizes_than_the_training_scans_is_warned_about(
        model, setup, tmp_path):
    # A mini-MIAS film (1024x1024 PGM, 200 micron pixels) given to a model whose training
    # images were CBIS-DDSM scans (42-50 microns): its lesions would be ~4x too small.
    film = np.zeros((1024, 1024), np.uint8)
    film[200:800, :500] = 180
    Image.fromarray(film).save(tmp_path / "mdb001.pgm")
    warned = " | ".join(model.predict_file(tmp_path / "mdb001.pgm").warnings)
    assert "pixels of about 200 microns (a 1024x1024 PGM: a mini-MIAS film)" in warned
    assert "cbis_ddsm scans of about 46 microns" in warned and "4.3x smaller" in warned
    # A DICOM's pixel spacing says the same; one near the training scans' is not warned.
    pixels = pydicom.dcmread(_twelve_bit(setup)[1]).pixel_array
    common = dict(sop_uid="1.2.3.4", patient_id="p", study_uid="1.2.3", series_uid="1.2.3.5",
                  series_description="x", bits_stored=12, modality="MG")
    write_slice(tmp_path / "coarse.dcm", pixels, extra={"ImagerPixelSpacing": [0.1, 0.1]},
                **common)
    write_slice(tmp_path / "fine.dcm", pixels, extra={"ImagerPixelSpacing": [0.05, 0.05]},
                **common)
    assert "DICOM ImagerPixelSpacing 0.1 mm" in " | ".join(
        model.predict_file(tmp_path / "coarse.dcm").warnings)
    assert not any("microns" in w for w in model.predict_file(tmp_path / "fine.dcm").warnings)
    # A prepared file is taken as it is.
    assert not any("microns" in w for w in model.predict_file(
        tmp_path / "mdb001.pgm", prepared=True).warnings)
