# alertmedic: `make run` and `make test` are the whole quick start.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test

.PHONY: run test test-fast lint typecheck bench check-config clean system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TESTSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

run: $(STAMP)
	@mkdir -p data
	$(BIN)/alertmedic serve --config examples/local.yml --banner

# Debian packages the tests drive for real: Alertmanager (+amtool) and Prometheus (+promtool).
system-deps:
	@bash scripts/system-deps.sh

LINTED := app tests bench demo deploy

test: $(TESTSTAMP) system-deps
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: $(TESTSTAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m 'not slow'

lint: $(TESTSTAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(TESTSTAMP)
	$(BIN)/mypy

bench: $(TESTSTAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

# The local monitoring stack (demo/README.md): model API, Prometheus, Alertmanager, alertmedic and an
# SMTP printer on 127.0.0.1. The SMTP printer needs aiosmtpd (a test extra), hence $(TESTSTAMP).
# Busy default ports? `make demo DEMO_ARGS=--ports-auto`.
.PHONY: demo
demo: $(TESTSTAMP) system-deps
	$(BIN)/python -m demo.stack $(DEMO_ARGS)
