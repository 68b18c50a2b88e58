# The two commands that matter: `make up` (Civic with the demo estate) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: up test deps venv bench

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

test: deps venv
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/estate_scale.py
	$(PY) benchmarks/runtime.py
