# The two commands that matter: `make up` (Civic with the demo estate) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: up test check deps venv bench

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

deps:
	bash scripts/system-deps

up: deps venv
	$(VENV)/bin/civic up --estate examples/estate \
	  --deploy opg-lpa-dev=examples/services/hello/civic.service.yaml \
	  --deploy opg-lpa-dev=examples/services/static-site/civic.service.yaml

# The checks: the layers (import-linter contracts in pyproject.toml), ruff (lint and format) and mypy
check: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

test: deps venv check
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/estate_scale.py
	$(PY) benchmarks/runtime.py
