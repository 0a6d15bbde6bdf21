# Two commands on a fresh machine: `make run` and `make test`. Everything else builds on them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API with demo data (embedded PostgreSQL unless DATABASE_URL is set). Unless a
## Stripe is configured, the tests' recording Stripe stand-in runs beside it, so the demo's
## settlement pays out locally.
STAND_IN_PORT ?= 12111
run: install
ifdef STRIPE_API_BASE
	$(VENV)/bin/marketplace run
else
	@$(PY) -m tests.fakes.stripe_server --port $(STAND_IN_PORT) & stand_in=$$!; \
	trap "kill $$stand_in 2>/dev/null" EXIT INT TERM; \
	STRIPE_API_BASE=http://127.0.0.1:$(STAND_IN_PORT) $(VENV)/bin/marketplace run
endif

## Run the whole suite against a real PostgreSQL.
test: install
	$(PY) -m pytest

## The hostile run: schemathesis against the service as `make run` starts it (demo data), with
## every check, every phase (stateful included) and 100 examples per operation, once with each
## role's token and once with each operation's own role. Exit 1 on any 5xx. Not in `make test`:
## it takes several minutes. Reports: fuzz/report/.
FUZZ_PORT ?= 8110
FUZZ_STAND_IN_PORT ?= 8111
fuzz: install
	$(PY) fuzz/run.py --port $(FUZZ_PORT) --stand-in-port $(FUZZ_STAND_IN_PORT)

## Style, types, and the import contracts: the dependency direction (marketplace -> offers ->
## {policies, ledger} -> sql) and "other packages import only a package's public __init__".
## No grimp cache: it keeps a file's resolved imports by mtime, so it misses a new __init__.
lint: install
	$(VENV)/bin/ruff check marketplace offers policies ledger sql tests bench fuzz
	$(VENV)/bin/ruff format --check marketplace offers policies ledger sql tests bench fuzz
	$(VENV)/bin/mypy marketplace offers ledger policies sql
	$(VENV)/bin/lint-imports --no-cache

## Benchmarks: figures printed as ratios against baselines measured in the same run.
bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .data
