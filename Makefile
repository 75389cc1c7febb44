# keras_mia: every target creates or refreshes .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Tests that must pass on both Keras backends (model, loss and metric code is keras.ops only).
BACKEND_AGNOSTIC_TESTS := tests/models tests/test_losses.py tests/metrics tests/heatmaps \
	tests/training/test_weight_decay.py

.PHONY: demo test lint notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp is rebuilt whenever the project metadata changes, so `make` refreshes the venv.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/keras-mia demo

lint: $(VENV)/.installed-test
	$(BIN)/python -m flake8 $(wildcard keras_mia tests benchmarks notebooks/*.py)

test: $(VENV)/.installed-test lint
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)
	$(if $(wildcard $(BACKEND_AGNOSTIC_TESTS)),KERAS_BACKEND=jax $(BIN)/python -m pytest -n 2 \
		--dist loadfile $(PYTEST_ARGS) $(wildcard $(BACKEND_AGNOSTIC_TESTS)))

notebooks: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
