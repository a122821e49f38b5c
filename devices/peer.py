"""One authenticated device connection: who it is and its bounded outgoing queue.

A client that stops reading fills its queue and is disconnected instead of slowing every
broadcast (websockets' own `broadcast()` has no backpressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from devices.message_base import Message, Role
from devices.protocol import encode

log = logging.getLogger("branch_teller.devices")


class _Stop:
    """Queue sentinel: stop writing; `slow` closes the socket as a stuck client."""

    def __init__(self, slow: bool) -> None:
        self.slow = slow


@dataclass(frozen=True)
class Identity:
    """Who an authenticated connection is."""

    device_id: str
    role: Role
    counter: str | None = None
    language: str = "zh"
    capabilities: tuple[str, ...] = ()
    login: str | None = None  # staff: the session (token digest) checked at the upgrade


@dataclass(eq=False)
class Peer:
    """One authenticated device connection with its bounded outgoing queue."""

    identity: Identity
    ws: ServerConnection
    queue_size: int
    session: str = field(default_factory=lambda: secrets.token_hex(6))
    connected_at: float = field(default_factory=time.time)
    _out: asyncio.Queue[str | bytes | _Stop] = field(init=False)
    _writer: asyncio.Task[None] | None = field(default=None, init=False)
    stuck: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._out = asyncio.Queue(self.queue_size)

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    @property
    def role(self) -> Role:
        return self.identity.role

    def send(self, msg: Message | bytes) -> bool:
        """Queue a message without waiting; a client that stopped reading gets disconnected."""
        if self.stuck:
            return False
        item: str | bytes = msg if isinstance(msg, bytes) else encode(msg)
        try:
            self._out.put_nowait(item)
        except asyncio.QueueFull:
            self.stuck = True
            log.warning("device %s is not reading; closing its connection", self.device_id)
            self._out = asyncio.Queue(1)  # drop the backlog; the client resyncs on reconnect
            self._out.put_nowait(_Stop(slow=True))
            return False
        return True

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"writer-{self.device_id}")

    async def _write(self) -> None:
        try:
            while True:
                item = await self._out.get()
                if isinstance(item, _Stop):
                    if item.slow:
                        await self.ws.close(1008, "client too slow")
                    return
                await self.ws.send(item)
        except ConnectionClosed:
            return

    async def finish(self) -> None:
        """Let queued messages drain briefly, then stop the writer."""
        if self._writer is None:
            return
        if not self.stuck and not self._writer.done():
            with contextlib.suppress(asyncio.QueueFull):
                self._out.put_nowait(_Stop(slow=False))
            with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await self._writer
