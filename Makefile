# certsentry-analysis: every artefact is rebuilt from raw logs plus code.
# `make` alone lists the documented targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CERTSENTRY := $(VENV)/bin/certsentry
STAMP := $(VENV)/.installed

SCENARIO ?= baseline-2012
SEED ?= 7
RAW := data/raw/$(SCENARIO)
PROCESSED := data/processed
DB := $(PROCESSED)/certsentry.duckdb
INGESTED := $(PROCESSED)/.ingested-$(SCENARIO)
ANALYZED := $(PROCESSED)/.analyzed-$(SCENARIO)
REPORT := reports/certsentry-report.pdf
BRIEFING := reports/policy-briefing.pdf

# Each stage rebuilds when its own code changes, not when any code changes.
SIMULATOR_SOURCES := $(shell find certsentry_analysis/simulate certsentry_analysis/scenarios \
	-name '*.py' -o -name '*.toml') certsentry_analysis/logformat.py
INGEST_SOURCES := $(shell find certsentry_analysis/ingest -name '*.py') certsentry_analysis/logformat.py
ANALYSIS_SOURCES := $(shell find certsentry_analysis/stats certsentry_analysis/breakage \
	certsentry_analysis/revocation -name '*.py') certsentry_analysis/rollups.py \
	certsentry_analysis/analysis.py
DOCUMENT_SOURCES := $(shell find certsentry_analysis/report certsentry_analysis/figures \
	-name '*.py' -o -name '*.typ')

export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON ?= $(abspath $(PY))

.PHONY: help setup data ingest analyze report briefing lab notebooks test lint format bench clean

help: ## List the documented targets
	@echo "certsentry-analysis: make targets"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'
	@echo "Variables: SCENARIO=$(SCENARIO) SEED=$(SEED)"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,scale]'
	@touch $@

setup: $(STAMP) ## Create .venv with every pinned dependency (fast when done)

$(RAW)/manifest.json: $(STAMP) $(SIMULATOR_SOURCES)
	rm -rf $(RAW)
	$(CERTSENTRY) simulate --scenario $(SCENARIO) --seed $(SEED) --out $(RAW)

data: $(RAW)/manifest.json ## Simulate the default scenario into data/raw/

$(INGESTED): $(RAW)/manifest.json $(INGEST_SOURCES)
	@# The warehouse is derived data: rebuild it whole when its inputs change.
	rm -rf $(DB) $(DB).wal $(PROCESSED)/checks $(PROCESSED)/.ingested-* $(PROCESSED)/.analyzed-*
	$(CERTSENTRY) ingest $(RAW)/logs --pki $(RAW)/pki --db $(DB)
	@touch $@

ingest: $(INGESTED) ## Load data/raw/ logs into the DuckDB warehouse (data/processed/)

$(ANALYZED): $(INGESTED) $(ANALYSIS_SOURCES)
	$(CERTSENTRY) analyze --db $(DB) --raw $(RAW)
	$(CERTSENTRY) hardfail --db $(DB) > $(PROCESSED)/hardfail-$(SCENARIO).txt
	@touch $@

analyze: $(ANALYZED) ## Compute statistics, breakage and CRLSet tables into the warehouse

$(REPORT): $(ANALYZED) $(DOCUMENT_SOURCES)
	$(CERTSENTRY) report --db $(DB) --raw $(RAW) --out $@

report: $(REPORT) ## Build reports/certsentry-report.pdf from nothing (env, data, ingest, analysis)

$(BRIEFING): $(ANALYZED) $(DOCUMENT_SOURCES)
	$(CERTSENTRY) briefing --db $(DB) --raw $(RAW) --out $@

briefing: $(BRIEFING) ## Build reports/policy-briefing.pdf

lab: $(STAMP) ## Open JupyterLab on notebooks/ with the project's kernel
	$(PY) -m jupytext --sync notebooks/*.py
	CERTSENTRY_SCENARIO=$(SCENARIO) $(VENV)/bin/jupyter lab --notebook-dir=notebooks

notebooks: $(STAMP) $(ANALYZED) ## Execute every notebook headlessly into reports/notebooks/
	$(PY) -m certsentry_analysis.notebooks_run --out reports/notebooks --scenario $(SCENARIO)

test: $(STAMP) ## Run the test suite
	$(PY) -m pytest

lint: $(STAMP) ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## Reformat the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP) ## Run the benchmarks under benchmarks/ and print their tables
	$(PY) benchmarks/run_all.py

clean: ## Remove generated data, reports and caches (keeps .venv and .env)
	rm -rf data/processed/* data/raw/*/ reports/*.pdf reports/figures reports/notebooks \
		.pytest_cache .mypy_cache .ruff_cache spark-warehouse
	@touch data/processed/.gitkeep
