"""Websocket endpoints for kiosks, number-callers and staff consoles.

Owns sockets, the hello handshake, validation, per-client bounded send queues and the health
endpoint; knows nothing of queues or intents. The service passes in its limits and a
`Handler` that authenticates devices and acts on their messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from devices.frames import FrameError, decode_frame
from devices.payloads import Health
from devices.protocol import (
    PROTOCOL_VERSION,
    Bye,
    Error,
    Hello,
    Message,
    ProtocolError,
    Role,
    Welcome,
    decode_client,
    encode,
)

log = logging.getLogger("branch_teller.devices")

ENDPOINTS: dict[str, Role] = {"/kiosk": "kiosk", "/caller": "caller", "/console": "console"}


class _Stop:
    """Queue sentinel: stop writing; `slow` closes the socket as a stuck client."""

    def __init__(self, slow: bool) -> None:
        self.slow = slow


@dataclass(frozen=True)
class Limits:
    """Per-connection limits (from the service's config)."""

    max_message_bytes: int = 65_536
    hard_max_message_bytes: int = 1_048_576
    send_queue: int = 256
    hello_timeout_s: float = 10.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    max_connections: int = 200


@dataclass(frozen=True)
class Identity:
    """Who an authenticated connection is."""

    device_id: str
    role: Role
    counter: str | None = None
    language: str = "zh"
    capabilities: tuple[str, ...] = ()


class Handler(Protocol):
    """What the service provides to the device server."""

    def authenticate(self, hello: Hello) -> Identity | ProtocolError: ...
    async def on_connect(self, peer: Peer) -> None: ...
    async def on_message(self, peer: Peer, msg: Message) -> None: ...
    async def on_audio(self, peer: Peer, stream: int, seq: int, pcm: bytes) -> None: ...
    async def on_disconnect(self, peer: Peer) -> None: ...
    def health(self) -> Health: ...


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


class DeviceServer:
    """The websocket server; one port, one path per device role, plus /health."""

    def __init__(self, handler: Handler, limits: Limits, branch: str,
                 extra_http: Callable[[str], Response | None] | None = None) -> None:
        self.handler = handler
        self.limits = limits
        self.branch = branch
        self.extra_http = extra_http
        self.peers: dict[str, Peer] = {}
        self._server: Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.stats = {"messages": 0, "errors": 0, "connections": 0}

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        self._server = await serve(
            self._connection,
            host,
            port,
            process_request=self._http,
            max_size=self.limits.hard_max_message_bytes,
            ping_interval=self.limits.ping_interval_s,
            ping_timeout=self.limits.ping_timeout_s,
            close_timeout=2,
        )
        sock = next(iter(self._server.sockets))
        bound = sock.getsockname()
        return str(bound[0]), int(bound[1])

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/health":
            body = json.dumps(self.health()).encode()
            return Response(200, "OK", Headers([("Content-Type", "application/json")]), body)
        if self.extra_http is not None:
            response = self.extra_http(path)
            if response is not None:
                return response
        if path not in ENDPOINTS:
            return conn.respond(http.HTTPStatus.NOT_FOUND, "unknown endpoint\n")
        if len(self.peers) >= self.limits.max_connections:
            return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
        return None

    def connections(self) -> dict[str, int]:
        """Connected devices per role."""
        roles: dict[str, int] = {}
        for peer in self.peers.values():
            roles[peer.role] = roles.get(peer.role, 0) + 1
        return roles

    def health(self) -> dict[str, Any]:
        """Liveness plus what the service reports about itself."""
        return {"status": "ok", "protocol": PROTOCOL_VERSION, "connections": self.connections(),
                **self.stats, **msgspec.to_builtins(self.handler.health())}

    async def _connection(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve_connection(ws)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _refuse(self, ws: ServerConnection, err: ProtocolError, close: bool) -> None:
        self.stats["errors"] += 1
        log.info("refused connection: %s (%s)", err.code, err.message)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(Error(code=err.code, message=err.message, ref=err.ref,
                                       fatal=close)))
            if close:
                await ws.close(1008, err.code)

    async def _hello(self, ws: ServerConnection, role: Role) -> Identity | None:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.limits.hello_timeout_s)
        except TimeoutError:
            await self._refuse(ws, ProtocolError("hello_timeout", "No hello received in time."), True)
            return None
        if isinstance(raw, bytes) and len(raw) > self.limits.max_message_bytes:
            raw = b""
        try:
            msg = decode_client(raw, role)
            if not isinstance(msg, Hello):
                raise ProtocolError("hello_required", "The first message must be a hello.", msg.id)
            if msg.role != role:
                raise ProtocolError("wrong_endpoint",
                                    f"A {msg.role} must connect to /{msg.role}, not /{role}.", msg.id)
            if msg.protocol != PROTOCOL_VERSION:
                raise ProtocolError(
                    "protocol_version",
                    f"Protocol version {msg.protocol} is not supported; this service speaks "
                    f"version {PROTOCOL_VERSION}.", msg.id)
            result = self.handler.authenticate(msg)
            if isinstance(result, ProtocolError):
                raise result
        except ProtocolError as err:
            await self._refuse(ws, err, True)
            return None
        return replace(result, capabilities=tuple(msg.capabilities))

    async def _serve_connection(self, ws: ServerConnection) -> None:
        role = ENDPOINTS[ws.request.path.split("?", 1)[0]] if ws.request else "kiosk"
        identity = await self._hello(ws, role)
        if identity is None:
            return
        peer = Peer(identity=identity, ws=ws, queue_size=self.limits.send_queue)
        old = self.peers.get(identity.device_id)
        if old is not None:
            old.send(Bye(reason="replaced by a newer connection of the same device"))
            await old.ws.close(1000, "replaced")
        self.peers[identity.device_id] = peer
        self.stats["connections"] += 1
        peer.start()
        peer.send(Welcome(session=peer.session, protocol=PROTOCOL_VERSION, role=identity.role,
                          branch=self.branch, server_time=time.time(), counter=identity.counter))
        log.info("device %s connected as %s", identity.device_id, identity.role)
        try:
            await self.handler.on_connect(peer)
            async for raw in ws:
                await self._dispatch(peer, raw)
        except ConnectionClosed:
            pass
        finally:
            if self.peers.get(identity.device_id) is peer:
                del self.peers[identity.device_id]
            try:
                await self.handler.on_disconnect(peer)
            finally:
                await peer.finish()
            log.info("device %s disconnected", identity.device_id)

    async def _dispatch(self, peer: Peer, raw: str | bytes) -> None:
        self.stats["messages"] += 1
        ref: str | None = None
        try:
            if len(raw) > self.limits.max_message_bytes:
                raise ProtocolError(
                    "too_large", f"Messages are limited to {self.limits.max_message_bytes} "
                    f"bytes; this one had {len(raw)}.")
            if isinstance(raw, bytes):
                try:
                    frame = decode_frame(raw)
                except FrameError as err:
                    raise ProtocolError("bad_frame", str(err)) from None
                await self.handler.on_audio(peer, frame.stream, frame.seq, frame.pcm)
                return
            msg = decode_client(raw, peer.role)
            ref = msg.id
            if isinstance(msg, Hello):
                raise ProtocolError("already_welcomed", "This connection already said hello.", ref)
            await self.handler.on_message(peer, msg)
        except ProtocolError as err:
            if err.refusal:
                log.debug("refused for %s: %s", peer.device_id, err.code)
            else:
                self.stats["errors"] += 1
                log.info("bad message from %s: %s", peer.device_id, err.code)
            peer.send(Error(code=err.code, message=err.message, ref=err.ref or ref))
        except ConnectionClosed:
            raise
        except Exception:
            self.stats["errors"] += 1
            log.exception("error handling a message from %s", peer.device_id)
            peer.send(Error(code="internal", message="The service could not handle that "
                            "message; staff have been notified in the log.", ref=ref))

    def broadcast(self, role: Role, msg: Message) -> None:
        """Queue a message for every connected device of a role (never blocks)."""
        for peer in list(self.peers.values()):
            if peer.role == role:
                peer.send(msg)

    async def stop(self, reason: str = "service shutting down") -> None:
        """Tell every client, close connections, wait for handlers to finish."""
        for peer in list(self.peers.values()):
            peer.send(Bye(reason=reason, reconnect_after_s=5.0))
        if self._server is not None:
            self._server.close(close_connections=False)
            for peer in list(self.peers.values()):
                await peer.finish()
                with contextlib.suppress(ConnectionClosed):
                    await peer.ws.close(1001, "shutdown")
            await self._server.wait_closed()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5.0)
