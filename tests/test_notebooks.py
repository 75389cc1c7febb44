"""The Jupyter tutorials in ``notebooks/``: committed without outputs, and each runs top to bottom.

Each notebook is executed with nbclient in a new kernel started from *this* interpreter (a
kernelspec written to a temporary folder), so a fresh clone's ``.venv`` is used whatever
Jupyter kernels the machine has installed. The kernel gets ``QUICK=1`` (the notebooks' tiny
settings) and ``KERAS_MIA_NOTEBOOK_OUT`` in pytest's ``tmp_path``, so nothing is written into
the repository. A cell that raises fails the test with that cell's traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the test extra")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = (
    "01_hello_world.ipynb",
    "02_breast_mri_resnet18.ipynb",
    "03_mammography_patch_to_whole_image.ipynb",
    "04_mammography_dense_prediction.ipynb",
)
# A QUICK=1 cell takes well under a minute; the limit only stops a hung kernel.
CELL_TIMEOUT_S = 600
KERNEL_NAME = "keras_mia_tests"


def _read(name: str):
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def test_every_tutorial_is_listed():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    dirty = [
        cell.get("id", index)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{name}: code cells {dirty} have outputs or execution counts; clear them (Edit > "
        "Clear Outputs of All Cells) before committing"
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_has_a_marked_real_data_cell(name):
    sources = [cell.source for cell in _read(name).cells if cell.cell_type == "code"]
    assert any("KERAS_MIA_DATA" in source and "REAL DATA" in source for source in sources)


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernelspec that runs this interpreter, visible only to these tests."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL_NAME
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "keras_mia tests",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    return [str(root)]


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path, kernel_dirs, monkeypatch):
    pytest.importorskip("ipykernel", reason="ipykernel comes with the test extra")
    nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the test extra")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    out = tmp_path / "out"
    # The kernel inherits this environment: tiny settings, output under tmp_path, the
    # synthetic data (never a real data set configured on the machine) and TensorFlow.
    monkeypatch.setenv("QUICK", "1")
    monkeypatch.setenv("KERAS_MIA_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    for variable in ("KERAS_MIA_DATA", "KERAS_MIA_MIAS"):
        monkeypatch.delenv(variable, raising=False)

    notebook = _read(name)
    manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
    )
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
    )
    client.execute(cleanup_kc=True)

    executed = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in executed), "a code cell did not run"
    # The last step of every tutorial exports a SavedModel and predicts from it, under OUT.
    assert list(out.rglob("saved_model.pb")), f"{name} exported no SavedModel under {out}"
