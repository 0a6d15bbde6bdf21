# Two commands on a fresh machine: `make run` and `make test`. Everything else builds on them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API with demo data (embedded PostgreSQL unless DATABASE_URL is set).
run: install
	$(VENV)/bin/marketplace run

## Run the whole suite against a real PostgreSQL.
test: install
	$(PY) -m pytest

## Style and the package dependency rule (marketplace -> offers -> {policies, ledger}).
lint: install
	$(VENV)/bin/ruff check marketplace offers policies ledger tests bench
	$(VENV)/bin/lint-imports

## Benchmarks: figures printed as ratios against baselines measured in the same run.
bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .data
