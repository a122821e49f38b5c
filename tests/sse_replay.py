"""A small OpenAI-compatible HTTP server for tests: replays captured SSE streams, records
every request body, and misbehaves on demand (slow, stalled, nonsense, dropped mid-stream).

Only for server behaviours llama.cpp's real server cannot produce (vLLM's and SGLang's
reasoning fields) and for the service-level fault tests; everything else runs against
llama-server itself (tests/llama_server.py).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SSE_DIR = Path(__file__).parent / "fixtures" / "sse"


def sse_events(name: str) -> list[bytes]:
    """The `data:` events of a fixture file, each with its blank-line terminator."""
    text = (SSE_DIR / name).read_text(encoding="utf-8")
    return [f"{line}\n\n".encode() for line in text.splitlines() if line.startswith("data:")]


def content_events(contents: list[str]) -> list[bytes]:
    """A plain (no reasoning) stream of these content pieces, as vLLM sends one."""
    chunks = [{"role": "assistant", "content": ""}, *({"content": c} for c in contents)]
    out = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": d, "finish_reason": None}],
        }
        for d in chunks
    ]
    out.append(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    return [f"data: {json.dumps(c)}\n\n".encode() for c in out] + [b"data: [DONE]\n\n"]


@dataclass
class Behaviour:
    """What the server does with the next chat requests (tests change it between calls)."""

    stream: str = "v3_plain.sse"  # fixture replayed for streamed requests
    contents: list[str] | None = None  # instead of the fixture: these content deltas
    reply_with: Callable[[dict[str, Any]], list[str]] | None = None  # deltas from the request
    route_reply: str = '{"intent": "card_lost"}'  # content of non-streamed replies
    delay_s: float = 0.0  # before the response headers
    chunk_delay_s: float = 0.0  # between streamed events
    drop_after: int | None = None  # close the connection after this many events
    status: int = 200
    owned_by: str = "vllm"
    version: str = "0.12.0"


@dataclass
class ReplayServer:
    """The running server: its base URL, the bodies it received, the behaviour to follow."""

    base_url: str
    behaviour: Behaviour
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _handler(state: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, value: Any) -> None:
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            b = state.behaviour
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.path.endswith("/models"):
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": "deepseek-r1", "object": "model", "owned_by": b.owned_by}],
                    },
                )
            elif self.path == "/version":
                self._json(200, {"version": b.version})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            try:
                self._post()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up: what a real server's cancellation sees

        def _post(self) -> None:
            b = state.behaviour
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.raw.append(raw)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            body = json.loads(raw)
            state.bodies.append(body)
            time.sleep(b.delay_s)
            if b.status != 200:
                self._json(b.status, {"error": {"message": "overloaded"}})
                return
            if not body.get("stream"):
                self._json(
                    200,
                    {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": b.route_reply},
                            }
                        ],
                        "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58},
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            contents = b.reply_with(body) if b.reply_with is not None else b.contents
            events = sse_events(b.stream) if contents is None else content_events(contents)
            for n, event in enumerate(events):
                if b.drop_after is not None and n >= b.drop_after:
                    self.close_connection = True
                    return  # no terminating chunk: the client sees a broken stream
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
                time.sleep(b.chunk_delay_s)
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@contextmanager
def replay_server(
    behaviour: Behaviour | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[ReplayServer]:
    """Serve on 127.0.0.1 on a free port in a background thread until the block ends;
    `tls`: (certificate, key) PEM files to serve https with."""
    state = ReplayServer("", behaviour or Behaviour())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    state.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
