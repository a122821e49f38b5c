#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (an OpenAI-compatible model server) from the llama.cpp that
# the llama-cpp-python sdist vendors, for the remote LLM tier's tests and bench. Only the server
# target is built (no Python bindings, tests, examples, web UI download), so it takes a few
# minutes instead of the ~15 the full wheel takes. Idempotent: a stamp keyed on the version and
# flags skips the build. Output: build/llama-server/bin/llama-server.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
NATIVE=${LLAMA_NATIVE:-OFF}  # OFF: portable binary (AVX2 baseline); ON: tuned to this CPU
JOBS=${JOBS:-$(nproc)}
PIP=${PIP:-.venv/bin/pip}
out=build/llama-server
want="llama-cpp-python==$VERSION native=$NATIVE"
# Built once per machine: the binary is kept in the user's cache (like pip's wheel cache), so
# a fresh clone on the same machine (CI) copies it instead of compiling for minutes again.
cache=${BRANCH_TELLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/branch-teller}/llama-server-$VERSION-native-$NATIVE
if [ -x "$out/bin/llama-server" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$want" ]; then
  echo "llama-server present ($want)"; exit 0
fi
if [ -x "$cache/llama-server" ] && [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$want" ]; then
  mkdir -p "$out/bin"
  cp "$cache/llama-server" "$out/bin/llama-server"
  echo "$want" > "$out/.stamp"
  echo "llama-server copied from the build cache $cache ($want)"; exit 0
fi
started=$(date +%s)
src=build/llama-cpp-src
mkdir -p "$src"
sdist="$src/llama_cpp_python-$VERSION.tar.gz"
if [ ! -f "$sdist" ]; then
  "$PIP" download --quiet "llama-cpp-python==$VERSION" --no-deps --no-binary :all: -d "$src"
fi
rm -rf "$src/llama_cpp_python-$VERSION"
tar -xzf "$sdist" -C "$src"
llama="$src/llama_cpp_python-$VERSION/vendor/llama.cpp"
cmake -S "$llama" -B "$out/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE="$NATIVE" -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >/dev/null
cmake --build "$out/cmake" --target llama-server -j "$JOBS"
mkdir -p "$out/bin"
cp "$out/cmake/bin/llama-server" "$out/bin/llama-server"
rm -rf "$src/llama_cpp_python-$VERSION"
echo "$want" > "$out/.stamp"
mkdir -p "$cache"
cp "$out/bin/llama-server" "$cache/llama-server"
echo "$want" > "$cache/.stamp"
echo "llama-server built in $(( $(date +%s) - started ))s"
