# Tasuke: `make run` installs and starts the server; `make test` installs what the tests
# need and runs lint, types and the whole suite.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= ./data
LISTEN ?= 127.0.0.1:8080
NOVNC  := src/tasuke/server/static/vendor/novnc

.PHONY: run test install install-dev sysdeps static lint types unit bench clean

run: install static
	$(VENV)/bin/tasuke server --listen $(LISTEN) --data-dir $(DATA)

test: sysdeps install-dev static lint types
	bash scripts/run-tests

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

sysdeps:
	bash scripts/install-system-deps

# noVNC comes from npm (pinned in package-lock.json) into a git-ignored folder.
static: $(NOVNC)/.installed

$(NOVNC)/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	rm -rf $(NOVNC)
	mkdir -p $(NOVNC)
	cp -R node_modules/@novnc/novnc/core node_modules/@novnc/novnc/vendor $(NOVNC)/
	cp node_modules/@novnc/novnc/LICENSE.txt $(NOVNC)/
	touch $@

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

types: install-dev
	$(VENV)/bin/mypy

bench: sysdeps install-dev
	$(PY) benchmarks/screen.py --h264

clean:
	rm -rf $(VENV) node_modules src/tasuke/server/static/vendor .mypy_cache .ruff_cache .pytest_cache
