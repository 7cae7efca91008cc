# facekit: two commands do everything on a fresh machine.
#   make demo   -- the main job: the shipped GRID generator dubs shipped real clips (no data to fetch)
#   make test   -- lint, format check and the test suite
# Each creates ./.venv and installs what it needs on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench lab clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev,faces]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/facekit demo

lint: $(BIN)/.installed
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

test: lint
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python eval/bench_data.py
	$(BIN)/python eval/bench_model.py

lab: $(BIN)/.installed
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) facekit-demo .pytest_cache .ruff_cache
