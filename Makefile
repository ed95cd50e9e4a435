# The targets CI calls are the ones a person calls: `make run`, `make test`, `make bench`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARGS   ?=

.DEFAULT_GOAL := help

.PHONY: help run test lint typecheck unit bench golden clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed ## install into .venv and serve on the bundled default config (ARGS=... for flags)
	$(BIN)/llm-cost-tracker serve $(ARGS)

lint: $(VENV)/.installed-dev ## ruff (lint and format check)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev ## mypy --strict on src/
	$(BIN)/mypy

unit: $(VENV)/.installed-dev ## pytest only
	$(BIN)/pytest $(ARGS)

test: lint typecheck unit ## everything CI runs: ruff, mypy, pytest

bench: $(VENV)/.installed-dev ## benchmarks against a naive baseline (ratios, not absolute times)
	$(BIN)/python -m bench.ingest $(ARGS)

golden: $(VENV)/.installed-dev ## regenerate golden files; review the diff
	$(BIN)/python -m tests.golden

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build src/*.egg-info
