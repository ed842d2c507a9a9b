#!/usr/bin/env bash
# Install Arize Phoenix (a real OTLP tracing backend for the end-to-end tests) into its own venv,
# .phoenix/venv, kept apart from .venv because it pulls ~0.85 GB of dependencies the product never needs.
# Idempotent: does nothing when the pinned version is already installed there.
#
#   scripts/install_phoenix.sh            # install / verify
#   PHOENIX_VERSION=x.y.z scripts/...     # try another version (the tests were written against the pin)
#   PYTHON=python3.12 scripts/...         # base interpreter for the venv (default: python3)
set -euo pipefail

PHOENIX_VERSION="${PHOENIX_VERSION:-20.26.1}"
PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.phoenix/venv"

die() {
    echo "install_phoenix: ERROR: $*" >&2
    exit 1
}

installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("arize-phoenix"))' 2>/dev/null || true
}

if [[ -x "$VENV/bin/python" && -x "$VENV/bin/phoenix" && "$(installed_version)" == "$PHOENIX_VERSION" ]]; then
    echo "install_phoenix: arize-phoenix $PHOENIX_VERSION already installed in $VENV"
    echo "PHOENIX=$VENV/bin/phoenix"
    exit 0
fi

start=$(date +%s)

# This machine's pip config lists local indexes that may be absent; hide pip's per-package warnings about them.
quiet_pip() {
    "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "base interpreter '$PYTHON' not found (set PYTHON=...)"
    echo "install_phoenix: creating venv $VENV with $PYTHON"
    mkdir -p "$ROOT/.phoenix"
    "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv $VENV' failed (is python3-venv installed?)"
fi

echo "install_phoenix: pip-installing arize-phoenix==$PHOENIX_VERSION (takes ~1-2 min, ~0.85 GB)"
quiet_pip install --quiet --upgrade pip \
    || die "could not upgrade pip in $VENV (is a PyPI index reachable?)"
quiet_pip install --quiet "arize-phoenix==$PHOENIX_VERSION" \
    || die "pip install arize-phoenix==$PHOENIX_VERSION failed (see pip's output above)"

got="$(installed_version)"
[[ "$got" == "$PHOENIX_VERSION" ]] || die "after install, arize-phoenix version is '$got', expected $PHOENIX_VERSION"
[[ -x "$VENV/bin/phoenix" ]] || die "no 'phoenix' command in $VENV/bin after install"

elapsed=$(( $(date +%s) - start ))
size="$(du -sh "$VENV" 2>/dev/null | cut -f1)"
echo "install_phoenix: installed arize-phoenix $PHOENIX_VERSION in $VENV (${elapsed}s, ${size})"
echo "PHOENIX=$VENV/bin/phoenix"
