"""DeviceServer alone, with a fake in-test handler: the rules it enforces by itself.

No edge imports: the server is given its limits and a handler, nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devices.frames import HEADER, MAGIC
from devices.kiosk_messages import KioskText
from devices.message_base import Message
from devices.protocol import PROTOCOL_VERSION, ProtocolError
from devices.server import REPLACED, DeviceServer, Identity, Peer
from devices.server_api import Limits
from devices.server_log import LibraryLog
from devices.session_messages import Error, Hello
from tests.hostile import counting_logs, flood, frame, upgrade

TIMEOUT = 5.0
REPO = Path(__file__).resolve().parent.parent
DEVICES = {"kiosk-1": ("kiosk", "k1"), "kiosk-2": ("kiosk", "k2"),
           "caller-1": ("caller", "c1"), "teller-1": ("console", "t1")}


class FakeHandler:
    """Authenticates from DEVICES; records what reaches it; `boom` is a handler bug."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[Peer, Message]] = asyncio.Queue()
        self.audio: asyncio.Queue[tuple[int, int, bytes]] = asyncio.Queue()
        self.disconnected: list[Peer] = []
        self.gone = asyncio.Event()

    def authenticate(self, hello: Hello) -> Identity | ProtocolError:
        known = DEVICES.get(hello.device_id)
        if known is None:
            return ProtocolError("unknown_device", "Not registered.", hello.id)
        role, credential = known
        if hello.credential != credential:
            return ProtocolError("bad_credential", "Wrong credential.", hello.id)
        if hello.role != role:
            return ProtocolError("wrong_role", f"Registered as a {role}.", hello.id)
        return Identity(device_id=hello.device_id, role=role)

    async def on_connect(self, peer: Peer) -> None:
        pass

    async def on_message(self, peer: Peer, msg: Message) -> None:
        if isinstance(msg, KioskText) and msg.text == "boom":
            raise RuntimeError("a bug in the handler")
        await self.inbox.put((peer, msg))

    async def on_audio(self, peer: Peer, stream: int, seq: int, pcm: bytes) -> None:
        await self.audio.put((stream, seq, pcm))

    async def on_disconnect(self, peer: Peer) -> None:
        self.disconnected.append(peer)
        self.gone.set()

    def health(self) -> dict[str, Any]:
        return {"fake": True}


@dataclass
class Harness:
    server: DeviceServer
    handler: FakeHandler
    url: str


@asynccontextmanager
async def serving(**limits: Any) -> AsyncIterator[Harness]:
    handler = FakeHandler()
    server = DeviceServer(handler, Limits(**limits), "test branch")
    host, port = await server.start("127.0.0.1", 0)
    try:
        yield Harness(server, handler, f"ws://{host}:{port}")
    finally:
        await asyncio.wait_for(server.stop(), 15)


def hello(device: str, role: str | None = None, credential: str | None = None) -> str:
    known_role, known_credential = DEVICES.get(device, ("kiosk", "x"))
    return json.dumps({"type": "hello", "device_id": device, "role": role or known_role,
                       "credential": credential or known_credential,
                       "protocol": PROTOCOL_VERSION})


async def recv(ws: ClientConnection) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return data


async def login(url: str, device: str) -> ClientConnection:
    role = DEVICES[device][0]
    ws = await connect(f"{url}/{role}", open_timeout=TIMEOUT)
    await ws.send(hello(device))
    assert (await recv(ws))["type"] == "welcome"
    return ws


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason


async def refused_at_hello(url: str, path: str, first: str | bytes) -> dict[str, Any]:
    async with connect(f"{url}{path}", open_timeout=TIMEOUT) as ws:
        await ws.send(first)
        error = await recv(ws)
        assert error["type"] == "error" and error["fatal"] is True, error
        assert (await closed(ws))[0] == 1008
        return error


async def test_login_then_messages_and_audio_reach_the_handler() -> None:
    async with serving() as h:
        ws = await login(h.url, "kiosk-1")
        await ws.send(json.dumps({"type": "text", "id": "t1", "text": "你好"}))
        peer, msg = await asyncio.wait_for(h.handler.inbox.get(), TIMEOUT)
        assert peer.device_id == "kiosk-1" and isinstance(msg, KioskText) and msg.id == "t1"
        await ws.send(HEADER.pack(MAGIC, 1, 1, 7, 3) + b"\x01\x00")
        assert await asyncio.wait_for(h.handler.audio.get(), TIMEOUT) == (7, 3, b"\x01\x00")
        assert h.server.connections() == {"kiosk": 1}
        await ws.close()


@pytest.mark.parametrize(("path", "first", "code"), [
    ("/kiosk", hello("kiosk-9"), "unknown_device"),
    ("/kiosk", hello("kiosk-1", credential="guess"), "bad_credential"),
    ("/caller", hello("kiosk-1", role="caller"), "wrong_role"),
    ("/caller", hello("kiosk-1"), "wrong_endpoint"),
    ("/kiosk", json.dumps({"type": "text", "text": "hi"}), "hello_required"),
    ("/kiosk", HEADER.pack(MAGIC, 1, 1, 1, 0) + bytes(320), "malformed"),  # binary first
])
async def test_bad_hello_is_refused_counted_and_closed(path: str, first: str | bytes,
                                                       code: str) -> None:
    async with serving() as h:
        error = await refused_at_hello(h.url, path, first)
        assert error["code"] == code
        assert h.server.refused.totals == {code: 1}
        assert h.server.peers == {}


async def test_hello_timeout() -> None:
    async with serving(hello_timeout_s=0.2) as h:
        async with connect(f"{h.url}/kiosk", open_timeout=TIMEOUT) as ws:
            error = await recv(ws)
            assert (error["code"], error["fatal"]) == ("hello_timeout", True)
            assert (await closed(ws))[0] == 1008
        assert h.server.refused.totals == {"hello_timeout": 1}


async def test_soft_size_limit_answers_hard_limit_closes() -> None:
    async with serving(max_message_bytes=1_000, hard_max_message_bytes=4_000) as h:
        ws = await login(h.url, "kiosk-1")
        await ws.send(json.dumps({"type": "text", "id": "big", "text": "x" * 2_000}))
        error = await recv(ws)
        assert (error["code"], error["ref"], error["fatal"]) == ("too_large", None, False)
        await ws.send(json.dumps({"type": "text", "id": "small", "text": "ok"}))
        _, msg = await asyncio.wait_for(h.handler.inbox.get(), TIMEOUT)
        assert msg.id == "small"  # the connection stayed usable
        await ws.send(b"x" * 5_000)
        assert (await closed(ws))[0] == 1009
        await handlers_done(h)
        assert h.server.bad_messages.totals == {"too_large": 1, "frame_too_large": 1}


async def test_oversize_hello_is_refused() -> None:
    async with serving(max_message_bytes=1_000) as h:
        error = await refused_at_hello(h.url, "/kiosk", hello("kiosk-1") + " " * 2_000)
        assert error["code"] == "too_large"


async def test_connection_cap_counts_every_open_websocket() -> None:
    async with serving(max_connections=2) as h:
        first = await login(h.url, "kiosk-1")
        waiting = await connect(f"{h.url}/kiosk", open_timeout=TIMEOUT)  # no hello yet
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{h.url}/kiosk", open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 503
        assert h.server.refused.totals == {"over_capacity": 1}
        await waiting.close()
        await first.close()
        await handlers_done(h)
        again = await login(h.url, "kiosk-2")  # slots are given back
        await again.close()


async def test_connections_before_hello_have_their_own_cap() -> None:
    async with serving(max_pending_hello=2) as h:
        silent = [await connect(f"{h.url}/kiosk", open_timeout=TIMEOUT) for _ in range(2)]
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{h.url}/kiosk", open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 503
        await silent[0].send(hello("kiosk-1"))
        assert (await recv(silent[0]))["type"] == "welcome"  # no longer waiting for hello
        other = await login(h.url, "kiosk-2")
        for ws in [*silent, other]:
            await ws.close()


async def test_replaced_login_gets_bye_before_close() -> None:
    async with serving() as h:
        old = await login(h.url, "kiosk-1")
        new = await login(h.url, "kiosk-1")
        bye = await recv(old)
        assert (bye["type"], bye["reason"]) == ("bye", REPLACED)
        assert bye["reconnect_after_s"] > 5
        assert await closed(old) == (1000, REPLACED)
        await new.send(json.dumps({"type": "text", "id": "n", "text": "still here"}))
        peer, _ = await asyncio.wait_for(h.handler.inbox.get(), TIMEOUT)
        assert h.server.peers["kiosk-1"] is peer
        await asyncio.wait_for(h.handler.gone.wait(), TIMEOUT)
        assert h.handler.disconnected[0] is not peer
        await new.close()


async def test_slow_client_is_dropped_others_get_every_broadcast() -> None:
    async with serving(send_queue=8) as h:
        caller = await login(h.url, "caller-1")
        console = await login(h.url, "teller-1")
        for i in range(9):  # one more than the caller's queue holds, without yielding
            h.server.broadcast("caller", Error(code="note", message=str(i)))
        for i in range(8):
            h.server.broadcast("console", Error(code="note", message=str(i)))
        assert (await closed(caller))[0:2] == (1008, "client too slow")
        assert [(await recv(console))["message"] for _ in range(8)] == [str(i) for i in range(8)]
        assert h.server.connections() == {"console": 1}
        await console.close()


async def test_peer_that_stops_answering_pings_is_dropped_quietly() -> None:
    async with serving(ping_interval_s=0.1, ping_timeout_s=0.1) as h:
        with counting_logs() as logs:
            reader, writer = await asyncio.open_connection(*h.url[5:].rsplit(":", 1))
            assert await asyncio.wait_for(upgrade(reader, writer), TIMEOUT)
            writer.write(frame(0x1, hello("kiosk-1").encode()))
            await writer.drain()  # then never reads again: no pong, no close frame
            await asyncio.wait_for(h.handler.gone.wait(), TIMEOUT)
            await handlers_done(h)
            writer.close()
        assert h.server.peers == {}
        assert logs.tracebacks == 0, logs.samples
        assert h.server.faults.totals == {}
        assert [m for m in logs.samples if "disconnected" in m] == [
            "branch_teller.devices INFO device kiosk-1 disconnected (close code 1011)"]


def test_library_chatter_goes_to_debug_and_its_errors_become_faults() -> None:
    reported: list[tuple[str, str, bool]] = []
    library = LibraryLog(logging.getLogger("websockets.server"),
                          lambda source, kind, exc: reported.append((source, kind, exc is not None)))
    library.info("connection open")
    library.info("connection rejected (%d %s)", 426, "Upgrade Required")
    try:
        raise OSError("reset")
    except OSError:
        library.error("connection handler failed", exc_info=True)
    library.warning("skipped broadcast: failed to write message: %s", "reset")
    assert reported == [("websockets", "connection handler failed", True),
                        ("websockets", "skipped broadcast: failed to write message: %s", False)]


def test_the_server_imports_nothing_from_edge() -> None:
    code = ("import sys, devices.server; "
            "sys.exit(', '.join(m for m in sys.modules if m.split('.')[0] == 'edge') or None)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def test_bad_messages_after_login_each_answered_logged_once() -> None:
    async with serving() as h:
        ws = await login(h.url, "kiosk-1")
        codes: list[str] = []
        with counting_logs() as logs:
            for _ in range(5):  # the client reads as it goes, or it would count as stuck
                for i in range(100):
                    await ws.send("{" if i % 2 else json.dumps({"type": "txet"}))
                codes += [(await recv(ws))["code"] for _ in range(100)]
        assert codes == ["unknown_type", "malformed"] * 250
        assert h.server.bad_messages.totals == {"unknown_type": 250, "malformed": 250}
        assert logs.records == 1, logs.samples  # the first one; the rest wait for a summary
        await ws.close()


async def test_handler_bug_is_answered_and_logged_with_a_traceback_once() -> None:
    async with serving() as h:
        ws = await login(h.url, "kiosk-1")
        with counting_logs() as logs:
            for _ in range(3):
                await ws.send(json.dumps({"type": "text", "id": "b", "text": "boom"}))
                error = await recv(ws)
                assert (error["code"], error["ref"], error["fatal"]) == ("internal", "b", False)
        assert (logs.records, logs.tracebacks) == (1, 1), logs.samples
        assert h.server.faults.totals == {"internal": 3}
        await ws.close()


async def test_summaries_are_logged_when_the_interval_passes(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "branch_teller.devices")
    async with serving(log_interval_s=0.2) as h:
        ws = await login(h.url, "kiosk-1")
        for _ in range(5):
            await ws.send("{")
            await recv(ws)
        await asyncio.wait_for(_until(lambda: h.server.bad_messages.pending() == 0), TIMEOUT)
        lines = [r.getMessage() for r in caplog.records if "bad messages" in r.getMessage()]
        assert lines[0].startswith("bad messages from kiosk-1: malformed=1 ")
        assert lines[1].startswith("bad messages from kiosk-1: malformed=4 in the last")
        await ws.close()


async def test_hostile_flood_costs_a_counter_not_a_log_line() -> None:
    async with serving(hello_timeout_s=1.0, hard_max_message_bytes=65_536) as h:
        with counting_logs() as logs:
            ran = await asyncio.wait_for(flood(h.url, 200), 60)
            await handlers_done(h)
        assert len(ran) == 7  # every behaviour ran
        assert logs.tracebacks == 0, logs.samples
        assert logs.records <= 2, logs.samples  # one line for the source (two: a race)
        refused = h.server.refused.totals
        assert sum(refused.values()) >= 100, refused
        assert {"dropped", "frame_too_large", "invalid_data"} <= set(refused), refused
        assert h.server.faults.totals == {}
        assert h.server.health()["refused"] == refused
        ws = await login(h.url, "kiosk-1")  # still serving
        await ws.close()


async def handlers_done(h: Harness) -> None:
    """Wait for every connection handler to finish (what they count is then final)."""
    if h.server._handlers:
        await asyncio.wait(set(h.server._handlers), timeout=TIMEOUT)
    assert not h.server._handlers


async def _until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110 (a timer-driven summary has no event to wait on)
        await asyncio.sleep(0.01)
