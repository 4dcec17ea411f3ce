# Every target bootstraps .venv from the pinned lock file first.
# One Python for the laptop and Lambda: 3.12, the python3.12 runtime (Amazon Linux 2023).
# The optimised build of `make fast-python` when there is one, else found on PATH or under
# pyenv; `make PY=/path/to/python3.12 …` chooses another. FAST_PY is scripts/build-python.sh's
# $PYTHON: change both together.
FAST_PY := $(or $(SLUICE_PYTHON_HOME),$(HOME)/.cache/sluice)/python-3.12.3-pgo-lto/bin/python3.12
PY ?= $(shell for p in $(FAST_PY) python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python3.12 \
        /usr/local/bin/python3.12 /usr/bin/python3.12; do \
        "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null \
        && { command -v "$$p"; break; }; done)
VENV := .venv
# Bytecode is cached (__pycache__ is git-ignored) even where the environment sets
# PYTHONDONTWRITEBYTECODE: without it every pytest worker compiles the tests and rewrites
# their asserts again (about 3 CPU-s a process), and every stack imports the runtime anew.
unexport PYTHONDONTWRITEBYTECODE
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Deploy tools pin their own boto3/pydantic, so each lives in its own environment.
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
# MiniStack, the runtime bench's second reference, pins an older botocore than moto's.
MINISTACK_VENV := .venv-ministack

# An environment records the interpreter it was made with; one made with another than PY
# is made again.
stale = $(if $(filter $(PY),$(shell cat $(1) 2>/dev/null)),,FORCE)

.PHONY: FORCE demo fast-python test test-lint test-package test-suite test-built test-coverage lint up bench lock clean browser package package-deps python

python:
	@test -n "$(PY)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or run make PY=/path/to/python3.12"; exit 2; }
	@"$(PY)" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' || { echo "$(PY) is not Python 3.12"; exit 2; }

$(STAMP): requirements.lock pyproject.toml $(call stale,$(STAMP)) | python
	$(PY) -m venv --clear $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	echo "$(PY)" >$@

$(SAM_VENV)/.installed: infra/tools/sam.lock $(call stale,$(SAM_VENV)/.installed) | python
	$(PY) -m venv --clear $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check -r infra/tools/sam.lock
	echo "$(PY)" >$@

$(CHECKOV_VENV)/.installed: infra/tools/checkov.lock $(call stale,$(CHECKOV_VENV)/.installed) | python
	$(PY) -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r infra/tools/checkov.lock
	echo "$(PY)" >$@

$(MINISTACK_VENV)/.installed: bench/ministack.lock $(call stale,$(MINISTACK_VENV)/.installed) | python
	$(PY) -m venv --clear $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install -q --disable-pip-version-check -r bench/ministack.lock
	echo "$(PY)" >$@

demo: $(STAMP)
	$(BIN)/sluice demo

# CPython 3.12 built with PGO and LTO (about 15 minutes on 2 cores, once per machine):
# pyenv's default build spends a fifth (the stack, the suite) to a half (plain Python loops)
# more CPU on the same work. Every target then uses it, making its environment again
# (README, "Which Python").
fast-python:
	scripts/build-python.sh

# Lint, package and the suite run at once (make -j); the flows' `built` tests start when
# the packages are built, and run only there: once, from what would be deployed. Each of the
# two pytest sessions writes its state coverage as a part, and the thresholds apply to their
# sum (test-coverage), as to one session's. Each phase's wall time and CPU time (user,
# system: `times` of the phase's processes) are printed, and the whole's at the end (setting
# up the environments and installing the dependency groups is not counted).
# TEST_WORKERS: parallel pytest workers (pytest-xdist). The tests mostly wait on their
# stacks, so more workers than cores pay off; loadscope keeps a module's tests (and its
# module-scoped stack) on one worker.
TEST_WORKERS ?= 4
COVERAGE_DIR := build/sluice-coverage
timed = start=$$(date +%s); $(1); status=$$?; t=$${TMPDIR:-/tmp}/sluice-times.$$$$; times >$$t; \
	echo "$(2): $$(( $$(date +%s) - start )) s, CPU (user system) $$(tail -n 1 $$t)"; rm -f $$t; exit $$status

test: $(STAMP) $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed package-deps
	@$(call timed,$(MAKE) --no-print-directory -j4 --output-sync=target test-lint test-package test-coverage,make test)

# Lint finishes long before the suite: niced, it takes the cores the suite leaves idle (its
# tests wait on stacks) instead of time the suite would use. `make package` is not: the
# built tests wait for it. LINT_NICE=0 runs lint at the suite's priority.
LINT_NICE ?= 10
test-lint: ; @$(call timed,nice -n $(LINT_NICE) $(MAKE) --no-print-directory lint,lint)
test-package: ; @$(call timed,$(MAKE) --no-print-directory package,package)
# --sluice-coverage: state coverage table + build/sluice-coverage/, thresholds in pyproject.toml.
test-suite: browser
	@$(call timed,$(BIN)/pytest --sluice-coverage --sluice-coverage-part suite -m "not slow and not built" -n $(TEST_WORKERS) --dist loadscope,tests)
# The flows' `built` tests, every function running from its `make package` package.
test-built: test-package
	@$(call timed,SLUICE_BUILT=1 $(BIN)/pytest --sluice-coverage --sluice-coverage-part built -m built tests/flows,built tests)
test-coverage: test-suite test-built
	$(BIN)/python -m sluice.coverage merge $(COVERAGE_DIR) suite built

# The console's browser tests drive Debian's Chromium; installed here when missing.
browser:
	scripts/install-browser.sh

# cfn-lint no longer runs the SAM translator: check_sam_transform.py runs it (as `sam
# validate` does, offline) with the translator `sam deploy` uses, from the SAM environment.
# checkov reads the SAM template itself; every check it skips is suppressed in the template
# with its reason. --skip-download: no call to Prisma Cloud for guideline links.
lint: $(STAMP) $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/template.yaml
	$(SAM_VENV)/bin/python infra/tools/check_sam_transform.py infra/template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml

up: $(STAMP)
	$(BIN)/sluice up

bench: $(STAMP) $(MINISTACK_VENV)/.installed
	$(BIN)/python -m bench

# sam build, without Docker: each function is built by the build-% rule below, then every
# package's unzipped size is printed against Lambda's 250 MB limit.
package: $(STAMP) $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM_VENV)/bin/sam build -t infra/template.yaml --build-in-source
	$(BIN)/python -m sluice.package report .aws-sam/build

# The dependency groups' pinned wheels (build/deps/, once per lock): installed before make
# test's clock starts, as the environments are; `make package` installs what is missing.
package-deps: $(STAMP)
	$(BIN)/python -m sluice.package install

# Called by `sam build` (BuildMethod: makefile, build in source) once per function.
build-%:
	$(BIN)/python -m sluice.package stage infra/template.yaml $* "$(ARTIFACTS_DIR)"

# Regenerate the pinned locks after editing pyproject.toml or infra/requirements/*.in.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.12 -o requirements.lock
	$(BIN)/python -m sluice.package lock
	$(BIN)/uv pip compile bench/ministack.in --python-version 3.12 -o bench/ministack.lock

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(MINISTACK_VENV) .sluice .aws-sam build .mypy_cache .ruff_cache .pytest_cache
