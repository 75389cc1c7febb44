"""Tests for keras_mia.datasets.prepare: dispatch, option checking, output folder rules."""

import pytest

from keras_mia.datasets import DATASETS, canonical_dataset, dataset_options, prepare
from keras_mia.synth.raw import generate_raw


@pytest.fixture(scope="module")
def open_i_src(tmp_path_factory):
    return generate_raw("open-i", tmp_path_factory.mktemp("raw") / "open_i", n=4, seed=1)


def test_canonical_names():
    assert canonical_dataset("CBIS_DDSM") == "cbis-ddsm"
    assert canonical_dataset("open_i_abd_vs_cxr") == "open-i"
    assert canonical_dataset("mini-MIAS") == "mias"
    assert canonical_dataset("dbc_breast_mri") == "dbc"
    assert set(DATASETS) == {"open-i", "cbis-ddsm", "mias", "dbc"}
    with pytest.raises(ValueError, match="Received: dataset='inbreast'"):
        canonical_dataset("inbreast")


def test_dataset_options_are_the_adapter_keywords():
    options = dataset_options("cbis-ddsm")
    # None: 1152x896 unless --scale is given (a fixed canvas and a scale exclude each other)
    assert options["image_size"] is None and options["patches"] is None
    assert options["scale"] is None
    assert {"overwrite", "quiet", "val_fraction", "seed", "jobs"} <= set(options)
    assert "negative_distance" in dataset_options("dbc")
    assert "info_file" in dataset_options("mias")


def test_prepare_rejects_options_of_another_dataset(open_i_src, tmp_path):
    with pytest.raises(ValueError, match="patches"):
        prepare("open-i", open_i_src, tmp_path / "out", patches="s10")
    assert not (tmp_path / "out").exists()


def test_prepare_prints_the_report_and_ignores_none_options(open_i_src, tmp_path, capsys):
    report = prepare("open-i", open_i_src, tmp_path / "out", patches=None, seed=None)
    printed = capsys.readouterr().out
    assert "prepare open-i" in printed and f"images: {report.n_images}" in printed
    assert (tmp_path / "out" / "prepare_report.txt").is_file()
    prepare("open-i", open_i_src, tmp_path / "quiet", quiet=True)
    assert "prepare open-i" not in capsys.readouterr().out


def test_output_folder_rules(open_i_src, tmp_path):
    with pytest.raises(ValueError, match="outside the source"):
        prepare("open-i", open_i_src, open_i_src / "out", quiet=True)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        prepare("open-i", open_i_src, busy, quiet=True)
    report = prepare("open-i", open_i_src, busy, overwrite=True, quiet=True)
    assert report.n_images > 0
    with pytest.raises(FileNotFoundError, match="Source folder not found"):
        prepare("open-i", tmp_path / "missing", tmp_path / "o2", quiet=True)
