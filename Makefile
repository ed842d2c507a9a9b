# One-command set-up: every target builds .venv from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARCH ?= netflixoss
DURATION ?= 10

.PHONY: run test test-heavy fuzz test-phoenix lint bench bytecode clean cluster-up cluster-down

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Every Ray actor is a new Python process that imports the package: with bytecode on disk it loads
# it instead of compiling the source again (an editable install writes none, nor does Python under
# PYTHONDONTWRITEBYTECODE). Quick when nothing changed.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src/nanoservices

run: bytecode
	$(BIN)/nanoservices run $(ARCH) --duration $(DURATION)

test: bytecode lint
	$(BIN)/python -m pytest -q -m "not phoenix and not heavy"

# The architecture properties on 20,000 fresh random examples each (`test` runs a fixed set): minutes,
# so not part of `test` or CI. A failure prints the seed and is replayed from .hypothesis/ next time.
fuzz: bytecode
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q --timeout=1800 tests/test_fuzz_architecture.py

# Whole runs of 65+ Ray actors, or on a multi-node Ray cluster (zones as nodes): minutes, so apart.
test-heavy: bytecode
	$(BIN)/python -m pytest -q -m heavy

# The end-to-end tests against a real tracing backend: Arize Phoenix, installed in its own venv.
test-phoenix: bytecode
	scripts/install_phoenix.sh
	$(BIN)/python -m pytest -q -m phoenix

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts

bench: bytecode
	$(BIN)/python scripts/bench_plan.py
	$(BIN)/python scripts/bench_runtime.py
	$(BIN)/python scripts/bench_spans.py
	$(BIN)/python scripts/bench_transport.py
	$(BIN)/python scripts/bench_k1_transport.py
	$(BIN)/python scripts/bench_vs_spigo.py
	$(BIN)/python scripts/bench_scaleout.py

# A cluster of network namespaces on this machine (root): see cluster/README.md.
ZONES ?= 3
REGIONS ?= 1
ZONE_RTT ?= 1ms
REGION_RTT ?= 70ms
LOCAL_RTT ?= 0.1ms
cluster-up: bytecode
	$(BIN)/python cluster/netns.py up --zones $(ZONES) --regions $(REGIONS) --zone-rtt $(ZONE_RTT) --region-rtt $(REGION_RTT) --local-rtt $(LOCAL_RTT)

cluster-down:
	$(BIN)/python cluster/netns.py down

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
	find src tests scripts -name __pycache__ -type d -prune -exec rm -rf {} +
