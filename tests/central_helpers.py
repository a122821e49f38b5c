"""Fixtures for central's server tests: a real central on 127.0.0.1 port 0 over the real fleet
store (SQLite in tmp_path, or a real PostgreSQL server) and the real rollout engine, raw HTTP
(no client-side path clean-up), and a TCP proxy that cuts a download."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from provisioning.central import rollout
from provisioning.central.fleet import FleetStore
from provisioning.central.server import CentralServer, RolloutStep, serve
from provisioning.central.server_settings import CentralServerSettings
from provisioning.central.store import open_store
from provisioning.central.wire import ENCODER, BoxReport

WAIT = 10.0  # every network wait in these tests
BOXES = {"pudong-012": ["pilot"], "minhang-003": [], "jingan-001": []}
# cheap argon2 parameters: tests hash and verify many times on a loaded 2-core box
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def sqlite_url(tmp: Path) -> str:
    return f"sqlite:///{tmp}/central/fleet.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The fleet store's URL: a SQLite file, then a database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("pg_url"))


def reported(store: FleetStore) -> list[str]:
    """The boxes central has recorded a report from (the store's last contact)."""
    return [b.box_id for b in store.boxes() if b.last_contact is not None]


def plain_repo(tmp: Path, blob: bytes = b"") -> Path:
    """A repository folder's shape (metadata/, targets/) with one versioned file each."""
    repo = tmp / "repository"
    (repo / "metadata").mkdir(parents=True)
    (repo / "targets" / "stt").mkdir(parents=True)
    (repo / "metadata" / "1.root.json").write_text('{"signed": {}}', encoding="utf-8")
    (repo / "metadata" / "timestamp.json").write_text('{"signed": {}}', encoding="utf-8")
    (repo / "targets" / "stt" / "abc123.whisper-base-1.tar").write_bytes(blob or bytes(range(256)) * 4000)
    return repo


@dataclass
class Fleet:
    """A running central, its store, and each box's secret."""

    server: CentralServer
    store: FleetStore
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.url.replace("http://", "ws://") + "/api/v1/link"

    def auth(self, box_id: str, secret: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {box_id}:{secret or self.secrets[box_id]}"}

    def link(self, box_id: str, secret: str | None = None) -> Any:
        """A websocket as the box opens it (the websockets library, like edge/central_link)."""
        return connect(
            self.ws_url, additional_headers=self.auth(box_id, secret), open_timeout=WAIT
        )


async def start_fleet(
    tmp_path: Path, settings: CentralServerSettings | None = None, repo: Path | None = None,
    tick_s: float = 0.1, step: RolloutStep = rollout.step, store_url: str = "",
) -> Fleet:
    """A started central over a fresh real store (stop it, then close fleet.store)."""
    store = open_store(store_url or sqlite_url(tmp_path), **CHEAP)
    try:
        secrets = {box_id: store.add_box(box_id, f"Branch {box_id}", tags)
                   for box_id, tags in BOXES.items()}
        server = await serve(
            store, repo or plain_repo(tmp_path), step, tick_s=tick_s,
            settings=settings or CentralServerSettings(auth_cache_s=0.0),
        )
    except BaseException:
        store.close()
        raise
    return Fleet(server, store, secrets)


async def stop_fleet(running: Fleet) -> None:
    try:
        await running.server.stop()
    finally:
        running.store.close()


@pytest.fixture
async def fleet(tmp_path: Path, store_url: str) -> AsyncIterator[Fleet]:
    running = await start_fleet(tmp_path, store_url=store_url)
    try:
        yield running
    finally:
        await stop_fleet(running)


def report(box_id: str, **kwargs: Any) -> BoxReport:
    kwargs.setdefault("service_version", "0.1.0")
    kwargs.setdefault("bundle", "factory")
    return BoxReport(box_id=box_id, **kwargs)


def encoded(box_id: str, **kwargs: Any) -> bytes:
    return ENCODER.encode(report(box_id, **kwargs))


async def recv(ws: ClientConnection) -> Any:
    """The next text message, decoded as JSON (a dict)."""
    import json

    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def raw_get(port: int, path: str, headers: str = "") -> tuple[int, bytes, bytes]:
    """GET with the path sent exactly as given: (status, head, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


class CuttingProxy:
    """A TCP proxy in front of central; it hangs up on the first response to a path ending
    in `cut_suffix` after `cut_after` bytes (a line dropping mid-download)."""

    def __init__(self, upstream_port: int, cut_suffix: str, cut_after: int) -> None:
        self.upstream_port, self.cut_suffix, self.cut_after = upstream_port, cut_suffix, cut_after
        self.requests: list[tuple[str, str, int]] = []  # (path, Range header, upstream status)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._spawn, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split()[1]
            rng = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("range:")), "")
            up_writer.write(head)
            await up_writer.drain()
            cut = self.cut_after if path.endswith(self.cut_suffix) and self.cut_suffix else None
            if cut is not None:
                self.cut_suffix = ""  # once
            sent, status = 0, 0
            while chunk := await up_reader.read(65_536):
                if not status:
                    status = int(chunk.split(b" ", 2)[1])
                    self.requests.append((path, rng, status))
                if cut is not None and sent + len(chunk) >= cut:
                    writer.write(chunk[: cut - sent])
                    await writer.drain()
                    return
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(ConnectionError):
                    await w.wait_closed()
