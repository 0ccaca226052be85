# Two commands for a fresh machine: `make run` starts the whole hotline, `make test` runs the tests.
# Each creates .venv when it is missing and (re)installs the project only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint check-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/callcenter run

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check callcenter tests $(wildcard benchmarks)
	$(BIN)/mypy

check-config: $(STAMP)
	$(BIN)/callcenter check-config

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
