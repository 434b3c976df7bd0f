#!/usr/bin/env bash
# Install chainrule with what the demo needs, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e ".[demo]"
.venv/bin/chainrule demo "$@"
