# The README's two commands are `make demo` and `make test`; both work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHEET  ?= samples/summer-campaign.csv
OUT    ?= out/demo

.PHONY: demo test lint typecheck cfn unit bench clean install openapi serve

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

cfn: install
	$(BIN)/cfn-lint template.yaml

unit: install
	$(BIN)/pytest -n 2

test: lint typecheck cfn unit

openapi: install  # after changing the API: regenerate the committed document
	PYTHONPATH=functions $(BIN)/python -c "import sys; from handlers import api; sys.stdout.write(api.openapi_json())" > docs/openapi.json

bench: install
	$(BIN)/python bench/coldstart.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
