"""Test helpers: hostile clients (garbage, broken handshakes, resets) and a log counter.

Each behaviour is one connection that misbehaves in one way; `flood` runs many of them
concurrently. Every network wait has a timeout; a behaviour never raises (the service's
reaction is checked through its counters and its log, not through the client).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from devices.protocol import PROTOCOL_VERSION

TIMEOUT = 5.0


@dataclass
class LogCount(logging.Handler):
    """Counts log records (all loggers) and tracebacks; keeps a few for failure messages."""

    records: int = 0
    tracebacks: int = 0
    by_logger: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.INFO)

    def __hash__(self) -> int:
        return id(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        self.by_logger[record.name] = self.by_logger.get(record.name, 0) + 1
        if record.exc_info and record.exc_info[0] is not None:
            self.tracebacks += 1
        if len(self.samples) < 20:
            self.samples.append(f"{record.name} {record.levelname} {record.getMessage()}")


@contextlib.contextmanager
def counting_logs() -> Iterator[LogCount]:
    """Count every INFO-or-worse record any logger emits, plus asyncio's unhandled errors."""
    counter = LogCount()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(counter)
    loop = asyncio.get_running_loop()
    old_handler = loop.get_exception_handler()

    def unhandled(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        counter.records += 1
        counter.tracebacks += 1
        counter.samples.append(f"asyncio unhandled: {context.get('message')}")

    loop.set_exception_handler(unhandled)
    try:
        yield counter
    finally:
        loop.set_exception_handler(old_handler)
        root.removeHandler(counter)
        root.setLevel(old_level)


def _hello(device: str = "kiosk-1", credential: str = "wrong") -> str:
    return json.dumps({"type": "hello", "device_id": device, "role": "kiosk",
                       "credential": credential, "protocol": PROTOCOL_VERSION})


async def _raw(host: str, port: int,
               body: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
               ) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    try:
        await asyncio.wait_for(body(reader, writer), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   path: str = "/kiosk") -> bool:
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 101")


def frame(opcode: int, payload: bytes, declared: int | None = None) -> bytes:
    """A masked client frame; `declared` lies about the payload length."""
    length = len(payload) if declared is None else declared
    head = bytes([0x80 | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65_536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def garbage_before_hello(url: str, rng: random.Random) -> None:
    """Text garbage, binary garbage or a wrong credential instead of a valid hello."""
    async with connect(f"{url}/kiosk", open_timeout=TIMEOUT) as ws:
        choice = rng.randrange(4)
        if choice == 0:
            await ws.send("{" * rng.randrange(1, 30))
        elif choice == 1:
            await ws.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
        elif choice == 2:
            await ws.send(_hello(credential="not-the-credential"))
        else:
            await ws.send(json.dumps({"type": "text", "text": "挂失"}))
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TIMEOUT):
                async for _ in ws:
                    pass


async def close_during_hello(url: str, rng: random.Random) -> None:
    """Open the websocket and close it (cleanly or not) before saying anything."""
    ws = await connect(f"{url}/kiosk", open_timeout=TIMEOUT)
    if rng.random() < 0.5:
        await ws.close()
    else:
        ws.transport.abort()


async def half_open_tcp(host: str, port: int, rng: random.Random) -> None:
    """Half an HTTP request, then the socket goes away."""
    async def body(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"GET /kiosk HTTP/1.1\r\nHost: te")
        await w.drain()
        if rng.random() < 0.5:
            w.transport.abort()
    await _raw(host, port, body)


async def close_mid_frame(host: str, port: int, rng: random.Random) -> None:
    """Complete the handshake, start a frame that promises more bytes, then hang up."""
    async def body(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not await upgrade(r, w):
            return
        w.write(frame(0x1, b"{\"type\": \"hel", declared=100)[:20])
        await w.drain()
        if rng.random() < 0.5:
            w.transport.abort()
    await _raw(host, port, body)


async def not_websocket(host: str, port: int, rng: random.Random) -> None:
    """Plain HTTP, an unknown path, or bytes that are not HTTP at all."""
    request = rng.choice([b"GET /kiosk HTTP/1.1\r\nHost: x\r\n\r\n",
                          b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n",
                          b"POST /console HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
                          b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),
                          b"HELLO\r\n\r\n"])

    async def body(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(request)
        await w.drain()
        with contextlib.suppress(Exception):
            await r.read(4096)
    await _raw(host, port, body)


async def oversize_frame(host: str, port: int, rng: random.Random) -> None:
    """A frame header announcing far more than the hard size limit, before any hello."""
    async def body(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not await upgrade(r, w):
            return
        w.write(frame(rng.choice([0x1, 0x2]), b"x" * 8, declared=1 << 40)[:18])
        await w.drain()
        with contextlib.suppress(Exception):
            await r.read(4096)
    await _raw(host, port, body)


async def invalid_utf8(host: str, port: int, _rng: random.Random) -> None:
    """A text frame that is not UTF-8."""
    async def body(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not await upgrade(r, w):
            return
        w.write(frame(0x1, b"\xff\xfe{\"type\":\"hello\"}"))
        await w.drain()
        with contextlib.suppress(Exception):
            await r.read(4096)
    await _raw(host, port, body)


async def one_hostile(url: str, rng: random.Random) -> str:
    """One misbehaving connection, chosen by `rng`; returns which behaviour ran."""
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    behaviours: list[Callable[[], Awaitable[None]]] = [
        lambda: garbage_before_hello(url, rng),
        lambda: close_during_hello(url, rng),
        lambda: half_open_tcp(host, int(port), rng),
        lambda: close_mid_frame(host, int(port), rng),
        lambda: not_websocket(host, int(port), rng),
        lambda: oversize_frame(host, int(port), rng),
        lambda: invalid_utf8(host, int(port), rng),
    ]
    i = rng.randrange(len(behaviours))
    with contextlib.suppress(Exception):  # the client side may fail any way it likes
        await behaviours[i]()
    return str(i)


async def flood(url: str, connections: int, concurrency: int = 20,
                seed: int = 20261206) -> dict[str, int]:
    """Run `connections` hostile connections, `concurrency` at a time."""
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)
    ran: dict[str, int] = {}

    async def one() -> None:
        async with gate:
            kind = await one_hostile(url, rng)
            ran[kind] = ran.get(kind, 0) + 1

    await asyncio.gather(*(one() for _ in range(connections)))
    return ran
