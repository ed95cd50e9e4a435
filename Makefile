# The targets CI calls are the ones a person calls: `make run`, `make test`, `make bench`.
#
# The package is installed (not editable) into .venv, with its hot path compiled by mypyc;
# `make ... PURE=1` installs it as plain Python instead. Either is rebuilt when a source changes.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARGS   ?=
PURE   ?=
MODE   := $(if $(PURE),pure,compiled)
export LLM_COST_TRACKER_PURE_PYTHON := $(if $(PURE),1,0)

SOURCES := pyproject.toml setup.py mypyc.ini $(shell find src -name '*.py' -o -name '*.yaml' -o -name '*.html' -o -name 'py.typed')

.DEFAULT_GOAL := help

.PHONY: help run simulate demo test lint typecheck unit dates bench bench-exactness golden examples clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  (PURE=1: install without compiling the hot path)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-$(MODE): $(SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet '.[simulate]'
	@rm -f $(VENV)/.installed-pure $(VENV)/.installed-compiled
	@touch $@

$(VENV)/.installed-dev-$(MODE): $(SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet '.[dev]'
	@rm -f $(VENV)/.installed-pure $(VENV)/.installed-compiled $(VENV)/.installed-dev-pure $(VENV)/.installed-dev-compiled
	@touch $@ $(VENV)/.installed-$(MODE)

run: $(VENV)/.installed-$(MODE) ## install into .venv and serve on the bundled default config (ARGS=... for flags)
	$(BIN)/llm-cost-tracker serve $(ARGS)

simulate: $(VENV)/.installed-$(MODE) ## send simulated LLM traffic to the exporter `make run` started (ARGS=... for flags)
	$(BIN)/llm-cost-tracker simulate $(ARGS)

demo: $(VENV)/.installed-dev-$(MODE) ## exporter, Prometheus, Alertmanager and simulated apps from deploy/, until Ctrl-C
	$(BIN)/python -m demo $(ARGS)

lint: $(VENV)/.installed-dev-$(MODE) ## ruff (lint and format check)
	$(BIN)/ruff check src tests bench demo grafana setup.py
	$(BIN)/ruff format --check src tests bench demo grafana setup.py

typecheck: $(VENV)/.installed-dev-$(MODE) ## mypy --strict on src/
	$(BIN)/mypy

unit: $(VENV)/.installed-dev-$(MODE) ## pytest only (ARGS=... for pytest options)
	$(BIN)/python -c 'import llm_cost_tracker.exporter.ingest as m; print("testing", m.__file__)'
	$(BIN)/pytest $(ARGS)

test: lint typecheck unit ## ruff, mypy and the test suite
	@echo "(CI also runs 'make dates': the tests that read the clock, at a month, leap-day and year end)"

DATES ?= 2027-01-31T23:59:30Z 2028-02-29T12:00:00Z 2027-12-31T23:59:59Z

dates: $(VENV)/.installed-dev-$(MODE) ## the tests that read the clock, as if it were each of DATES
	@for now in $(DATES); do echo "--- now = $$now"; $(BIN)/pytest -q -m clock --now $$now $(ARGS) || exit 1; done

bench: $(VENV)/.installed-dev-$(MODE) ## benchmarks against a naive baseline (ratios, not absolute times)
	$(BIN)/python -m bench.routing
	$(BIN)/python -m bench.ingest $(ARGS)
	$(BIN)/python -m bench.tenancy
	$(BIN)/python -m bench.cap

bench-exactness: $(VENV)/.installed-dev-$(MODE) ## how much priced spend reaches a real Prometheus, naive vs exact
	$(BIN)/python -m bench.exactness

golden: $(VENV)/.installed-dev-$(MODE) ## regenerate golden files, example and demo rules, budget schema, dashboards
	$(BIN)/python -m tests.golden

examples: golden ## regenerate examples/budgets.rules.yaml (and the other generated files)

clean: ## remove the venv, build output and caches
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache src/*.egg-info
