"""Tests for keras_mia.synth.generate and the `keras-mia synth` -> `validate` round trip."""

import json
import sys
import types

import pytest

from keras_mia import cli, synth


def test_recipes_and_aliases():
    assert set(synth.RECIPES) == {"hello_world", "breast_mri", "mammo", "mammo_whole_image",
                                  "mammo_dense", "mammo_patch"}
    assert set(synth.DESCRIPTIONS) == {"hello_world", "breast_mri", "mammo", "mammo_patch"}
    assert synth.canonical_recipe("mammo_dense") == "mammo"
    assert synth.canonical_recipe("Mammo-Whole-Image") == "mammo"
    assert synth.canonical_recipe("mammo-patch") == "mammo_patch"
    with pytest.raises(ValueError, match="recipe='cifar10'"):
        synth.canonical_recipe("cifar10")


def test_raw_layout_without_the_raw_module_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_mia.synth.raw", None)  # import fails
    with pytest.raises(ValueError, match=r"keras_mia\.synth\.raw.*layout='raw'"):
        synth.generate("dbc", tmp_path / "raw", layout="raw")
    assert not (tmp_path / "raw").exists()


def test_raw_layout_is_delegated_to_generate_raw(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("keras_mia.synth.raw")
    fake.generate_raw = lambda *args, **kwargs: calls.append((args, kwargs)) or "done"
    monkeypatch.setitem(sys.modules, "keras_mia.synth.raw", fake)
    assert synth.generate("cbis-ddsm", tmp_path, n=3, seed=2, layout="raw") == "done"
    assert calls == [(("cbis-ddsm", tmp_path), {"n": 3, "seed": 2, "image_size": None})]


def test_unknown_layout(tmp_path):
    with pytest.raises(ValueError, match="layout='tiff'"):
        synth.generate("breast_mri", tmp_path / "x", layout="tiff")


def test_generate_dispatches_and_passes_options(tmp_path, read_rows):
    manifest = synth.generate("mammo_dense", tmp_path / "m", n=30, seed=3, image_size=64,
                              dicom_every=0)
    assert manifest == tmp_path / "m" / "manifest.csv"
    rows = read_rows(manifest)
    assert len(rows) == 30 and all(r["image_path"].endswith(".png") for r in rows)
    assert all(r["dataset"] == "synthetic_mammo" for r in rows)
    info = json.loads((tmp_path / "m" / "synth_info.json").read_text())
    assert info["recipe"] == "mammo" and info["seed"] == 3 and info["image_size"] == [64, 50]


def test_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        synth.generate("hello_world", tmp_path, n=12, image_size=16)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "recipe, n", [("hello_world", 12), ("breast_mri", 3), ("mammo", 30), ("mammo_patch", 24)]
)
def test_cli_synth_then_validate_round_trip(recipe, n, tmp_path, capsys):
    out = tmp_path / recipe
    assert cli.main(["synth", recipe, str(out), "--n", str(n), "--seed", "1"]) == 0
    assert "synthetic" in capsys.readouterr().out
    assert cli.main(["validate", str(out / "manifest.csv")]) == 0
    assert "OK: no problem found" in capsys.readouterr().out
