"""llama.cpp's `llama-server` as a real OpenAI-compatible server for tests and the bench.

Built by scripts/build_llama_server.sh (install step), serving the demo GGUF joined by
provisioning.gguf_demo; both are absent only when the install step was skipped, and then the
tests that need them say so and how to get them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LLAMA_SERVER = REPO / "build" / "llama-server" / "bin" / "llama-server"
GGUF = REPO / "models" / "gguf" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MISSING = (
    f"{LLAMA_SERVER.relative_to(REPO)} or {GGUF.relative_to(REPO)} missing: run "
    "scripts/build_llama_server.sh and python -m provisioning.gguf_demo "
    "(scripts/install.sh does both)"
)


def available() -> bool:
    """Whether the server binary and the model are installed."""
    return LLAMA_SERVER.is_file() and GGUF.is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LlamaServer:
    """One running llama-server process."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def get(self, path: str) -> object:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return json.loads(r.read())

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, as a crashed or preempted GPU node would."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start(
    port: int | None = None, parallel: int = 1, ctx: int = 2048, timeout_s: float = 120.0
) -> LlamaServer:
    """Start llama-server on 127.0.0.1 and wait until it has loaded the model."""
    port = port or free_port()
    cmd = [
        str(LLAMA_SERVER),
        "-m",
        str(GGUF),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-c",
        str(ctx),
        "-np",
        str(parallel),
        "-t",
        "1",  # ggml's threads spin while waiting: with 2 on a shared 2-core box, 20x slower
        "--no-webui",
        "--slots",
        "--log-disable",
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = LlamaServer(process, port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.kill()
    raise TimeoutError(f"llama-server not ready in {timeout_s} s")


@contextmanager
def running(port: int | None = None, parallel: int = 1) -> Iterator[LlamaServer]:
    """A llama-server for the block; killed (if still alive) at the end."""
    server = start(port, parallel)
    try:
        yield server
    finally:
        server.kill()
