# The README's two commands are `make demo` and `make test`; both work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHEET  ?= samples/summer-campaign.csv
OUT    ?= out/demo

PYTEST := $(BIN)/pytest -n 2
BENCHES = $(sort $(wildcard bench/*.py))

.PHONY: demo test lint typecheck cfn suites unit integration e2e corpus bundle-check bench \
	clean install checkov lock openapi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What installs is the dev lock (every package pinned with its hashes), then placard itself
# with no dependencies and no build isolation (setuptools comes from the lock too).
$(VENV)/.installed: $(BIN)/python requirements-dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# `make lock` refreshes the locks from the declared ranges (functions/requirements*.txt,
# pyproject.toml's extras), keeping each pin that still fits; `make lock UPGRADE=1` takes the
# newest. Lambda's: python3.12 on Linux (every wheel's hash of a pinned version is kept, so
# an arm64 function installs from the same lock); the proof function's holds the shared pins.
# The dev lock is this machine's python3.11 with the dev extras, held to Lambda's pins.
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
LAMBDA_LOCK := $(LOCK) --python-version 3.12 --python-platform x86_64-manylinux_2_28

lock: install
	$(LAMBDA_LOCK) functions/requirements.txt -o functions/requirements.lock
	$(LAMBDA_LOCK) functions/requirements.txt functions/requirements-proof.txt \
		-c functions/requirements.lock -o functions/requirements-proof.lock
	$(LAMBDA_LOCK) --no-deps functions/requirements-rapidocr.txt \
		-o functions/requirements-rapidocr.lock
	$(LOCK) pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -c functions/requirements.lock \
		-o requirements-dev.lock
	! grep -n '://' functions/*.lock requirements-dev.lock  # no index host in a lock

demo: install
	$(BIN)/placard run $(SHEET) --out $(OUT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

cfn: install checkov
	$(BIN)/cfn-lint template.yaml

# checkov in a venv of its own (it brings about 100 packages the project does not use), pinned,
# made once and reused (about 3.5 min to make on a 2-core machine, 25 s a run). Every check
# passes or its skip sits in template.yaml with the reason.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION := 3.3.30

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet \
		--compact --skip-download

# `make test`: every check and every suite, the suites in one pytest run so both workers
# stay busy to its end. A suite alone: `make unit`, `integration`, `e2e` or `corpus`.
test: lint typecheck cfn suites

suites: install
	$(PYTEST)

unit: install  # fakes of the ports, no I/O
	$(PYTEST) tests/unit

integration: install  # the AWS adapters on moto, the providers against the emulator
	$(PYTEST) tests/integration

e2e: install  # placard run, serve and the API through the embedded cloud
	$(PYTEST) tests/e2e

corpus: install  # broken and hostile inputs: sheets, API bodies, copy, edits, signatures
	$(PYTEST) tests/corpus

# The Lambda bundles as `sam build` makes them (functions/Makefile), under the template's
# runtime (python3.12): no laptop module in them, unchecked-hash bytecode beside every module,
# every handler imports from its read-only bundle alone, writing nothing and none of the heavy
# libraries it does not need then. Not part of `make test`: it builds the bundles from the
# locks (one a rule for this machine, side by side; the arm64 worker's compiled wheels only
# fetched): about 7 min on the 2-core development machine under load, mostly pip waiting on
# the network. CI runs it after `make test`.
bundle-check: install
	$(BIN)/python -m tests.bundle_check

openapi: install  # after changing the API: regenerate the committed document
	PYTHONPATH=functions $(BIN)/python -c "import os, sys; from placard.settings import REQUIRED; [os.environ.setdefault(n, 'openapi') for n in REQUIRED]; from handlers import api; sys.stdout.write(api.openapi_json())" > docs/openapi.json

# Every benchmark in bench/ with its own defaults, one after another, each printing its table
# (the long ones, throughput and ingest, take minutes); one alone: `python bench/NAME.py -h`.
bench: install
	@for bench in $(BENCHES); do \
		echo "== $(BIN)/python $$bench"; $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) out .pytest_cache .mypy_cache .ruff_cache
