# The front door: `make run` (the local stack with demo data) and `make test`.
# Everything else is a step of those two, or a tool for developers.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help venv check-tools lint typecheck unit test bench run stop package tf-check clean

help:
	@echo "make run    - the whole pipeline locally on emulators, with demo data"
	@echo "make test   - lint, type-check and run every test tier on the emulators"
	@echo "make bench  - benchmarks; results in bench/RESULTS.md"
	@echo "make lint | typecheck | unit | tf-check | package | stop | clean"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	rm -f $(VENV)/.installed-* && touch $@

# Runs first, on the system Python: a missing emulator or Java fails at once, saying how to
# install it, instead of after the installs or deep inside a test.
check-tools:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@$(PYTHON) -m local.check_tools

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy --strict shared

unit: venv
	$(BIN)/pytest tests/unit

# The test fixtures start the emulators on free loopback ports and stop them by PID,
# also when a test fails or the run is interrupted.
test: check-tools lint typecheck tf-check
	$(BIN)/pytest

bench: check-tools venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .run .pytest_cache .mypy_cache .ruff_cache .hypothesis dist

include terraform/make.mk
include local/make.mk
