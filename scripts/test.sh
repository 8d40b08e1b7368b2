#!/usr/bin/env bash
# The whole test suite: install (with system packages), lint, format check,
# type check, dependency audit, then pytest. CI runs exactly this through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --system
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python tools/audit.py
.venv/bin/pytest "$@"
