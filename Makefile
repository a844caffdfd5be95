# pgbulk: every target sets itself up (virtualenv, pip, npm) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP := functions/node_modules/.installed

USERS ?= 10M
BENCH_USERS ?= 1M
BENCH_ROUNDS ?= 1
WORKERS ?= 2
IF_EXISTS ?= resume
PYTEST_ARGS ?=

.PHONY: install load test test-python test-functions bench bench-compare lint format clean

$(STAMP): pyproject.toml deploy/requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]' -r deploy/requirements-test.txt
	touch $@

# checkov lives in its own virtualenv: its hcl2 fork would overwrite python-hcl2.
$(CHECKOV_STAMP): deploy/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r deploy/requirements-checkov.txt
	touch $@

$(NODE_STAMP): functions/package.json functions/package-lock.json
	cd functions && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)

## load: the full contacts dataset into PostgreSQL (embedded server unless PGBULK_DSN/--dsn is set)
load: $(STAMP)
	$(BIN)/pgbulk load --users $(USERS) --workers $(WORKERS) --if-exists $(IF_EXISTS)

## test: unit, integration (PostgreSQL 15 and 18), deploy checks, and the function's tests
test: test-python test-functions

test-python: $(STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(CHECKOV_VENV)/bin:$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

test-functions: $(NODE_STAMP)
	cd functions && npm test

## bench: the quick benchmark set (generation, 100k-user load)
bench: $(STAMP)
	$(BIN)/pytest benchmarks -q --benchmark-only $(PYTEST_ARGS)

## bench-compare: pgbulk against every other way to load the same data, one server, one run (BENCH_USERS=1M, BENCH_ROUNDS=1)
bench-compare: $(STAMP)
	$(BIN)/python -m benchmarks.compare --users $(BENCH_USERS) --rounds $(BENCH_ROUNDS)

lint: $(STAMP)
	$(BIN)/ruff check pgbulk tests benchmarks
	$(BIN)/ruff format --check pgbulk tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix pgbulk tests benchmarks
	$(BIN)/ruff format pgbulk tests benchmarks

clean:
	-[ -d .pgbulk ] && $(BIN)/pgbulk server stop --data-dir .pgbulk
	-[ -d .pgbulk-bench ] && $(BIN)/pgbulk server stop --data-dir .pgbulk-bench
	rm -rf $(VENV) $(CHECKOV_VENV) .pgbulk .pgbulk-bench functions/node_modules functions/dist .pytest_cache .mypy_cache .ruff_cache
