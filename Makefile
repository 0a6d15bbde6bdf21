# Two commands on a fresh machine: `make run` and `make test`. Everything else builds on them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser run test lint bench bench-scale fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API with demo data (embedded PostgreSQL unless DATABASE_URL is set; it stops
## when this stops). Unless a Stripe is configured, the tests' recording Stripe stand-in runs
## beside it: the demo's settlement pays out locally, partner funding succeeds and its signed
## webhook credits the escrow, and the stand-in keeps its state under .data across restarts.
PORT          ?= 8000
STAND_IN_PORT ?= 12111
STAND_IN_WEBHOOK_SECRET := whsec_demo_stand_in
export PORT
run: install
ifdef STRIPE_API_BASE
	$(VENV)/bin/marketplace run
else
	@mkdir -p .data; \
	$(PY) -m tests.fakes.stripe_server --port $(STAND_IN_PORT) --state .data/stripe-stand-in.json \
	  --webhook-url http://127.0.0.1:$(PORT)/v1/stripe/webhook \
	  --webhook-secret $(STAND_IN_WEBHOOK_SECRET) & stand_in=$$!; \
	trap "kill $$stand_in 2>/dev/null" EXIT INT TERM; \
	STRIPE_API_BASE=http://127.0.0.1:$(STAND_IN_PORT) \
	STRIPE_WEBHOOK_SECRET=$(STAND_IN_WEBHOOK_SECRET) $(VENV)/bin/marketplace run
endif

## A headless Chromium for the tests that look at pages as a person would: Debian's when we
## are root (Playwright then drives it), else the build `playwright install` keeps for the user.
browser: install
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else \
		$(PY) -m playwright install chromium; \
	fi

## Run the whole suite against a real PostgreSQL.
test: install browser
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

## The long one, not in `make bench`: decision latency, the partner read, an acceptance and an
## export at 10M grants over 1M customers and 100M records (loaded with COPY) against the same
## at 10k grants, on its own embedded server (.data/bench-scale-pg). Over an hour and ~45 GB
## of disk at the defaults; SCALE_CUSTOMERS, SCALE_GRANTS_EACH, SCALE_RECORDS_EACH set the size.
bench-scale: install
	$(PY) bench/scale.py

## Stops the demo's embedded PostgreSQL first (a crashed run may have left it running).
clean:
	@if [ -x $(VENV)/bin/marketplace ]; then DATA_DIR=.data $(VENV)/bin/marketplace embedded stop; fi
	rm -rf $(VENV) .data
