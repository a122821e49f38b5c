#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest once with asyncio debug mode on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV=.venv/bin
printf '\n==> ruff\n'
$VENV/ruff check .
printf '\n==> import-linter (the layering contract in pyproject.toml)\n'
$VENV/lint-imports
printf '\n==> mypy --strict (every package: [tool.mypy] files in pyproject.toml)\n'
$VENV/mypy --strict
printf '\n==> pytest (PYTHONASYNCIODEBUG=1)\n'
PYTHONASYNCIODEBUG=1 $VENV/pytest -n 2 -q "$@"
