#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then lint, type-check and run the suite.
# Usage: scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools for the drawing and browser tests (Graphviz's dot, headless Chromium).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! command -v dot >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz chromium fonts-dejavu-core >/dev/null
  fi
fi

# A virtual environment of the project's own, with the CPU build of PyTorch (the test oracle).
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# pytest exits 5 when it collects no tests: that fails this script too.
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
