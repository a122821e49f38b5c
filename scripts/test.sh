#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest once with asyncio debug mode on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV=.venv/bin
printf '\n==> ruff\n'
$VENV/ruff check .
printf '\n==> mypy (strict on the pure core)\n'
$VENV/mypy --strict edge/queue devices/protocol.py devices/payloads.py devices/errors.py \
  devices/protocol_doc.py devices/frames.py edge/config.py edge/describe.py \
  intents/dialogue.py intents/dialogue_types.py intents/catalog.py intents/phrases.py \
  intents/appointment_policy.py \
  intents/dialogue_appointment.py intents/dialogue_repair.py intents/slot_appointment.py \
  speech/sentences.py speech/spoken.py
$VENV/mypy
printf '\n==> pytest (PYTHONASYNCIODEBUG=1)\n'
PYTHONASYNCIODEBUG=1 $VENV/pytest -n 2 -q "$@"
