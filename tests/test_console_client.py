"""The console's protocol client alone: backoff, login, commands, refusals, reconnects."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from devices.console_messages import ConsoleSnapshot, QueueUpdate, Result
from devices.message_base import Message
from devices.protocol import PROTOCOL_VERSION, encode
from devices.session_messages import Bye, Describe, Error, Welcome
from tests.conftest import Running
from tests.wsclient import login, recv_until
from ui.client import Backoff, ConsoleClient, LinkStatus

TIMEOUT = 10.0


class Recorder:
    """Collects what a client hands to the app, with a way to wait for a condition."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.statuses: list[LinkStatus] = []
        self.changed = asyncio.Event()

    def on_message(self, msg: Message) -> None:
        self.messages.append(msg)
        self.changed.set()

    def on_status(self, status: LinkStatus) -> None:
        self.statuses.append(status)
        self.changed.set()

    async def until(self, cond: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not cond():
                self.changed.clear()
                await self.changed.wait()

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]


def make_client(url: str, user: str, credential: str, rec: Recorder,
                **kw: float) -> ConsoleClient:
    return ConsoleClient(url, user, credential, on_message=rec.on_message,
                         on_status=rec.on_status,
                         backoff=Backoff(base_s=0.05, cap_s=0.2), **kw)


@pytest.fixture
async def teller(running: Running) -> AsyncIterator[tuple[ConsoleClient, Recorder]]:
    rec = Recorder()
    client = make_client(running.url, "teller-1", "demo-teller-1", rec)
    task = asyncio.create_task(client.run())
    await rec.until(lambda: any(isinstance(m, ConsoleSnapshot) for m in rec.messages))
    yield client, rec
    await client.stop()
    await asyncio.wait_for(task, TIMEOUT)


# ------------------------------------------------------------------ backoff (pure)

def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    b = Backoff(base_s=0.5, cap_s=4.0, jitter=0.0)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0.0, max_value=1.0))
def test_backoff_jitter_stays_within_its_band(attempt: int, r: float) -> None:
    b = Backoff(base_s=0.5, cap_s=15.0, jitter=0.2)
    raw = min(15.0, 0.5 * 2.0 ** (attempt - 1))
    assert raw * 0.8 - 1e-9 <= b.delay(attempt, lambda: r) <= raw * 1.2 + 1e-9


# ------------------------------------------------------------------ against the real service

async def test_login_reports_counter_and_hands_over_the_snapshot(
        teller: tuple[ConsoleClient, Recorder]) -> None:
    client, rec = teller
    assert client.online and client.status.counter == "c1"
    assert rec.states()[:2] == ["connecting", "online"]
    snap = next(m for m in rec.messages if isinstance(m, ConsoleSnapshot))
    assert [c.id for c in snap.counters][:2] == ["c1", "c2"]
    described = next(m for m in rec.messages if isinstance(m, Describe))
    assert described.role == "console" and rec.messages.index(described) < rec.messages.index(snap)


async def test_command_pairs_result_and_error_by_ref(
        running: Running, teller: tuple[ConsoleClient, Recorder]) -> None:
    client, rec = teller
    refused = await client.command("call_next")
    assert isinstance(refused, Error) and refused.code == "nothing_waiting"
    kiosk = await login(running.url, "kiosk-2")
    await kiosk.send(json.dumps({"type": "text", "id": "t1",
                                 "text": "I'd like to open a new bank account"}))
    ticket = await recv_until(kiosk, "ticket", id="t1")
    await rec.until(lambda: any(isinstance(m, QueueUpdate) for m in rec.messages))
    called = await client.command("call_next")
    assert isinstance(called, Result) and called.ticket is not None
    assert called.ticket.number == ticket["number"]
    snap = await client.command("snapshot")
    assert isinstance(snap, ConsoleSnapshot)
    assert snap.counters[0].ticket == ticket["number"]
    await kiosk.close()


async def test_bad_credential_is_refused_once_not_retried(running: Running,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    client = make_client(running.url, "teller-1", "not-the-secret-9137", rec)
    await asyncio.wait_for(client.run(), TIMEOUT)  # returns by itself: no endless retries
    assert rec.states() == ["connecting", "refused"]
    assert "bad_login" in rec.statuses[-1].detail
    assert "not-the-secret-9137" not in caplog.text + repr(client)


async def test_offline_command_answers_locally_instead_of_hanging() -> None:
    rec = Recorder()
    client = make_client("ws://127.0.0.1:9", "teller-1", "x", rec)
    reply = await asyncio.wait_for(client.command("call_next"), 1.0)
    assert isinstance(reply, Error) and reply.code == "offline"


# ------------------------------------------------------------------ against a flaky fake service

Handler = Callable[[ServerConnection, int], Awaitable[None]]


def _fake_login(conn: ServerConnection, request: Request) -> Response | None:
    """The staff login the console does first: any password gets a shift token."""
    if request.path != "/login":
        return None
    body = {"token": "t0ken", "user": "manager", "role": "manager", "counter": None,
            "expires_at": time.time() + 3600}
    return Response(200, "OK", Headers([("Content-Type", "application/json")]),
                    json.dumps(body).encode())


@pytest.fixture
async def fake_service() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers = []

    async def start(handler: Handler) -> str:
        count = 0

        async def serve_one(ws: ServerConnection) -> None:
            nonlocal count
            count += 1
            await ws.recv()  # hello
            await ws.send(encode(Welcome(session=f"s{count}", protocol=PROTOCOL_VERSION,
                                         role="console", branch="test", server_time=0.0)))
            await handler(ws, count)

        server = await serve(serve_one, "127.0.0.1", 0, process_request=_fake_login)
        servers.append(server)
        host, port = server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_reconnects_by_itself_and_says_offline_meanwhile(
        fake_service: Callable[[Handler], Awaitable[str]]) -> None:
    async def drop_first_two(ws: ServerConnection, n: int) -> None:
        if n <= 2:
            await ws.close()
            return
        await ws.send(encode(QueueUpdate(event="issue")))
        await ws.wait_closed()

    url = await fake_service(drop_first_two)
    rec = Recorder()
    client = make_client(url, "manager", "x", rec)
    task = asyncio.create_task(client.run())
    await rec.until(lambda: any(isinstance(m, QueueUpdate) for m in rec.messages))
    states = rec.states()
    assert states.count("online") == 3 and states.count("offline") == 2
    offline = [s for s in rec.statuses if s.state == "offline"]
    assert all(s.retry_in_s is not None for s in offline)
    await client.stop()
    await asyncio.wait_for(task, TIMEOUT)
    assert rec.states()[-1] == "stopped"


async def test_pending_command_fails_when_the_link_drops(
        fake_service: Callable[[Handler], Awaitable[str]]) -> None:
    async def close_on_command(ws: ServerConnection, n: int) -> None:
        if n == 1:
            await ws.recv()
            await ws.close()
        else:
            await ws.wait_closed()

    url = await fake_service(close_on_command)
    rec = Recorder()
    client = make_client(url, "manager", "x", rec, command_timeout_s=5.0)
    task = asyncio.create_task(client.run())
    await rec.until(lambda: client.online)
    reply = await asyncio.wait_for(client.command("recall", counter="c1"), 3.0)
    assert isinstance(reply, Error) and reply.code == "offline"
    await client.stop()
    await asyncio.wait_for(task, TIMEOUT)


async def test_unanswered_command_times_out(
        fake_service: Callable[[Handler], Awaitable[str]]) -> None:
    async def silent(ws: ServerConnection, n: int) -> None:
        await ws.wait_closed()

    url = await fake_service(silent)
    rec = Recorder()
    client = make_client(url, "manager", "x", rec, command_timeout_s=0.2)
    task = asyncio.create_task(client.run())
    await rec.until(lambda: client.online)
    reply = await client.command("complete", counter="c1")
    assert isinstance(reply, Error) and reply.code == "timeout"
    await client.stop()
    await asyncio.wait_for(task, TIMEOUT)


async def test_replaced_login_stops_instead_of_fighting_back(
        fake_service: Callable[[Handler], Awaitable[str]]) -> None:
    async def replace(ws: ServerConnection, n: int) -> None:
        await ws.send(encode(Bye(reason="replaced by a newer connection of the same device")))
        await ws.close()

    url = await fake_service(replace)
    rec = Recorder()
    client = make_client(url, "teller-1", "x", rec)
    await asyncio.wait_for(client.run(), TIMEOUT)
    assert rec.states() == ["connecting", "online", "stopped"]
    assert any(isinstance(m, Bye) for m in rec.messages)


async def test_bye_with_delay_is_honoured_before_reconnecting(
        fake_service: Callable[[Handler], Awaitable[str]]) -> None:
    async def restart(ws: ServerConnection, n: int) -> None:
        if n == 1:
            await ws.send(encode(Bye(reason="service shutting down", reconnect_after_s=0.3)))
            await ws.close()
        else:
            await ws.wait_closed()

    url = await fake_service(restart)
    rec = Recorder()
    client = make_client(url, "manager", "x", rec)
    task = asyncio.create_task(client.run())
    await rec.until(lambda: rec.states().count("online") == 2)
    offline = next(s for s in rec.statuses if s.state == "offline")
    assert offline.retry_in_s == 0.3
    await client.stop()
    await asyncio.wait_for(task, TIMEOUT)
