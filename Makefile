# The README's two commands are `make demo` and `make test`; both work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHEET  ?= samples/summer-campaign.csv
OUT    ?= out/demo

PYTEST := $(BIN)/pytest -n 2
BENCHES = $(sort $(wildcard bench/*.py))

.PHONY: demo test lint typecheck cfn suites unit integration e2e corpus bundle-check bench \
	clean install checkov openapi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml functions/requirements.txt
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

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

# The Lambda bundle as `sam build` makes it, under the template's runtime (python3.12): no
# laptop module in it, every handler imports from it alone. Not part of `make test`: it
# installs functions/requirements.txt with python3.12's pip (minutes on a first run; reused
# while requirements.txt is unchanged). CI runs it after `make test`.
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
