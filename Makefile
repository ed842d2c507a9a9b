# One-command set-up: every target builds .venv from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARCH ?= netflixoss
DURATION ?= 10

.PHONY: run test test-phoenix lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nanoservices run $(ARCH) --duration $(DURATION)

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not phoenix"

# The end-to-end tests against a real tracing backend: Arize Phoenix, installed in its own venv.
test-phoenix: $(STAMP)
	scripts/install_phoenix.sh
	$(BIN)/python -m pytest -q -m phoenix

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts

bench: $(STAMP)
	$(BIN)/python scripts/bench_plan.py
	$(BIN)/python scripts/bench_runtime.py
	$(BIN)/python scripts/bench_spans.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
