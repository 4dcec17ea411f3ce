# Every target bootstraps .venv from the pinned lock file first.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint up bench lock clean browser

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sluice demo

# --sluice-coverage: state coverage table + build/sluice-coverage/, thresholds in pyproject.toml.
test: $(STAMP) lint browser
	$(BIN)/pytest --sluice-coverage

# The console's browser tests drive Debian's Chromium; installed here when missing.
browser:
	scripts/install-browser.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/template.yaml

up: $(STAMP)
	$(BIN)/sluice up

bench: $(STAMP)
	$(BIN)/python -m bench

# Regenerate the pinned lock after editing pyproject.toml dependencies.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .sluice .mypy_cache .ruff_cache .pytest_cache
