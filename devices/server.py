"""Websocket endpoints for kiosks, number-callers and staff consoles.

Owns sockets, the hello handshake, validation, connection caps, the health endpoint and the
counting of refusals (summarised in the log, never one line each: hostile traffic costs a
counter, not a disk); knows nothing of queues or intents and imports nothing from `edge`.
The service passes in its limits and a `Handler` that authenticates devices and acts on
their messages (`devices.server_api`); the handshake's rules are `devices.handshake`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from devices.frames import FrameError, decode_frame
from devices.handshake import (
    ENDPOINTS,
    GATED,
    REFUSED_STATUS,
    check_hello,
    closed_kind,
    source_of,
)
from devices.message_base import Message, Role
from devices.peer import Identity, Peer
from devices.protocol import PROTOCOL_VERSION, ProtocolError, decode_client, encode
from devices.ratelimit import ConnectionRates, RateSettings
from devices.server_api import Gate, Handler, Limits
from devices.server_log import ExcInfo, LibraryLog, ServerLog
from devices.session_messages import Bye, Error, Hello, Welcome
from devices.staff_login import redact_library_logs

log = logging.getLogger("branch_teller.devices")
redact_library_logs()  # handshake headers carry staff passwords and tokens

__all__ = ["DeviceServer", "Identity", "Peer", "RateSettings"]

REPLACED = "replaced by a newer login"
# After `bye` for a replaced login the old device waits this long: two devices configured
# with one id would otherwise take the login from each other in a tight loop.
REPLACED_RECONNECT_S = 30.0


class DeviceServer:
    """The websocket server; one port, one path per device role, plus /health."""

    def __init__(self, handler: Handler, limits: Limits, branch: str,
                 extra_http: Callable[[str], Response | None] | None = None,
                 gate: Gate | None = None) -> None:
        self.handler = handler
        self.gate = gate
        self._gated: dict[ServerConnection, Identity] = {}  # upgrade checked, hello not yet
        self._per_source: dict[str, int] = {}
        self._cooling: dict[str, float] = {}  # device id -> monotonic time its cool-off ends
        self.limits = limits
        self.branch = branch
        self.extra_http = extra_http
        self.peers: dict[str, Peer] = {}
        self._server: Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._in_hello = 0
        self.stats = {"messages": 0, "errors": 0, "connections": 0, "rate_limited": 0,
                      "abusive": 0}
        self.logs = ServerLog(limits.log_interval_s, limits.log_sources)
        self.refused = self.logs.refused  # by client address, before welcome
        self.bad_messages = self.logs.bad_messages  # by device id, after welcome
        self.faults = self.logs.faults  # our bugs and the library's errors

    async def start(self, host: str, port: int,
                    tls: ssl.SSLContext | None = None) -> tuple[str, int]:
        """Listen (wss/https with `tls`); returns the bound address (port 0: a free one)."""
        self._server = await serve(
            self._connection,
            host,
            port,
            ssl=tls,
            process_request=self._http,
            process_response=self._http_answered,
            max_size=self.limits.hard_max_message_bytes,
            ping_interval=self.limits.ping_interval_s,
            ping_timeout=self.limits.ping_timeout_s,
            close_timeout=2,
            logger=LibraryLog(logging.getLogger("websockets.server"), self._fault),
        )
        self._spawn(self.logs.flush_every(min(self.limits.log_interval_s, 10.0)),
                    "device-log-summaries")
        sock = next(iter(self._server.sockets))
        bound = sock.getsockname()
        return str(bound[0]), int(bound[1])

    async def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/health":
            body = json.dumps(self.health()).encode()
            return Response(200, "OK", Headers([("Content-Type", "application/json")]), body)
        if self.extra_http is not None:
            response = self.extra_http(path)
            if response is not None:
                return response
        if self.gate is not None:
            response = await self.gate.http(path, request.headers, source_of(conn))
            if response is not None:
                return response
        if path not in ENDPOINTS:
            return conn.respond(http.HTTPStatus.NOT_FOUND, "unknown endpoint\n")
        if (len(self._handlers) >= self.limits.max_connections
                or self._in_hello >= self.limits.max_pending_hello
                or self._per_source.get(source_of(conn), 0) >= self.limits.max_per_source):
            return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
        if self.gate is not None and ENDPOINTS[path] in GATED:
            identity = self.gate.upgrade(request.headers)
            if identity is None:
                response = conn.respond(http.HTTPStatus.UNAUTHORIZED,
                                        "log in first: GET /login, then a Bearer token\n")
                response.headers["WWW-Authenticate"] = 'Bearer realm="branch-teller"'
                return response
            self._gated[conn] = identity
        return None

    def _http_answered(self, conn: ServerConnection, request: Request,
                       response: Response) -> None:
        """Count refused handshakes (unknown path, full, not a websocket request)."""
        if response.status_code < 400:
            return
        kind = REFUSED_STATUS.get(response.status_code, "bad_handshake")
        self._refused(source_of(conn), kind)

    def connections(self) -> dict[str, int]:
        """Connected devices per role."""
        roles: dict[str, int] = {}
        for peer in self.peers.values():
            roles[peer.role] = roles.get(peer.role, 0) + 1
        return roles

    def refusals(self) -> dict[str, dict[str, int]]:
        """Counters since start: refused connections, bad messages and faults, per kind."""
        return self.logs.totals()

    def health(self) -> dict[str, Any]:
        """Liveness plus what the service reports about itself."""
        return {"status": "ok", "protocol": PROTOCOL_VERSION, "connections": self.connections(),
                **self.stats, **self.refusals(), **msgspec.to_builtins(self.handler.health())}

    def _refused(self, source: str, kind: str) -> None:
        self.logs.note(self.refused, source, kind)

    def _bad_message(self, device_id: str, kind: str) -> None:
        self.logs.note(self.bad_messages, device_id, kind)

    def _fault(self, source: str, kind: str, exc_info: ExcInfo | None) -> None:
        """An error on our side or the library's; the traceback of the first one per interval."""
        self.logs.note(self.faults, source, kind, exc_info)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            self._fault("server", task.get_name(), (type(err), err, err.__traceback__))

    # ------------------------------------------------------------ connections

    async def _connection(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        source = source_of(ws)
        self._per_source[source] = self._per_source.get(source, 0) + 1
        try:
            await self._serve_connection(ws, source)
        except ConnectionClosed:
            pass  # the client went away while we were answering it
        except Exception:
            self._fault(source, "handler_failed", sys.exc_info())
        finally:
            self._gated.pop(ws, None)
            left = self._per_source.get(source, 1) - 1
            if left > 0:
                self._per_source[source] = left
            else:
                self._per_source.pop(source, None)
            if task is not None:
                self._handlers.discard(task)

    async def _refuse(self, ws: ServerConnection, source: str, err: ProtocolError) -> None:
        self.stats["errors"] += 1
        self._refused(source, err.code)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(Error(code=err.code, message=err.message, ref=err.ref,
                                       fatal=True)))
            await ws.close(1008, err.code)

    async def _hello(self, ws: ServerConnection, role: Role, source: str) -> Identity | None:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.limits.hello_timeout_s)
        except TimeoutError:
            await self._refuse(ws, source, ProtocolError("hello_timeout",
                                                         "No hello received in time."))
            return None
        except ConnectionClosed as closed:
            self._refused(source, closed_kind(closed) or "closed_in_hello")
            return None
        try:
            msg = check_hello(raw, role, self.limits.max_message_bytes)
            until = self._cooling.get(msg.device_id)
            if until is not None and until > time.monotonic():
                raise ProtocolError("cooling_off", "This device was disconnected for flooding; "
                                    f"reconnect in {until - time.monotonic():.0f} s.", msg.id)
            gated = self._gated.pop(ws, None)
            if role in GATED and self.gate is not None:
                if gated is None or msg.device_id != gated.device_id:
                    raise ProtocolError("wrong_user", "The hello names another user than the "
                                        "session token.", msg.id)
                result: Identity | ProtocolError = gated
            else:
                result = self.handler.authenticate(msg)
            if isinstance(result, ProtocolError):
                raise result
            if (sum(1 for p in self.peers.values() if p.role == role)
                    >= self.limits.role_cap(role) and result.device_id not in self.peers):
                raise ProtocolError("over_capacity", f"This service takes at most "
                                    f"{self.limits.role_cap(role)} {role} connections.", msg.id)
        except ProtocolError as err:
            await self._refuse(ws, source, err)
            return None
        return replace(result, capabilities=tuple(msg.capabilities))

    async def _serve_connection(self, ws: ServerConnection, source: str) -> None:
        role = ENDPOINTS[ws.request.path.split("?", 1)[0]] if ws.request else "kiosk"
        self._in_hello += 1
        try:
            identity = await self._hello(ws, role, source)
        finally:
            self._in_hello -= 1
        if identity is None:
            return
        peer = Peer(identity=identity, ws=ws, queue_size=self.limits.send_queue)
        old = self.peers.get(identity.device_id)
        self.peers[identity.device_id] = peer
        if old is not None:
            self._spawn(self._retire(old), f"retire-{identity.device_id}")
        self.stats["connections"] += 1
        peer.start()
        peer.send(Welcome(session=peer.session, protocol=PROTOCOL_VERSION, role=identity.role,
                          branch=self.branch, server_time=time.time(), counter=identity.counter))
        log.info("device %s connected as %s", identity.device_id, identity.role)
        why = "closed"
        rates = ConnectionRates(self.limits.rates) if self.limits.rates is not None else None
        try:
            await self.handler.on_connect(peer)
            async for raw in ws:
                verdict = rates.admit(raw) if rates is not None else "ok"
                if verdict == "ok":
                    await self._dispatch(peer, raw)
                elif rates is not None:
                    if not await self._limited(peer, verdict, rates):
                        why = "rate limited"
                        break
                    # Stop reading for one token's time: the flood waits in the client's
                    # TCP buffer instead of costing this loop a parse per message.
                    await asyncio.sleep(1.0 / rates.settings.control_per_s)
        except ConnectionClosed as closed:
            kind = closed_kind(closed)
            if kind is not None and kind != "dropped":
                self._bad_message(identity.device_id, kind)
            frame = closed.sent or closed.rcvd
            why = kind or (f"close code {frame.code}" if frame is not None else why)
        finally:
            if self.peers.get(identity.device_id) is peer:
                del self.peers[identity.device_id]
            try:
                await self.handler.on_disconnect(peer)
            finally:
                await peer.finish()
            log.info("device %s disconnected (%s)", identity.device_id, why)

    async def _limited(self, peer: Peer, verdict: str, rates: ConnectionRates) -> bool:
        """A message over budget was dropped; False once the flood counts as abuse (closed)."""
        self.stats["rate_limited"] += 1
        if verdict == "abusive":
            self.stats["abusive"] += 1
            now = time.monotonic()
            if len(self._cooling) >= 4096:
                self._cooling = {d: t for d, t in self._cooling.items() if t > now}
            self._cooling[peer.device_id] = now + self.limits.abuse_cooloff_s
            self._bad_message(peer.device_id, "abusive")
            peer.send(Error(code="rate_limited", message="Too many messages for too long; "
                            "disconnected.", fatal=True))
            await peer.finish()
            with contextlib.suppress(ConnectionClosed):
                await peer.ws.close(1008, "rate limited")
            return False
        self._bad_message(peer.device_id, "rate_limited")
        if rates.should_tell():
            peer.send(Error(code="rate_limited", message="Too many messages: some were "
                            "dropped. Slow down or the connection will be closed."))
        return True

    def close_login(self, login: str, reason: str) -> int:
        """Disconnect the consoles of one staff session (logout, disabled account)."""
        n = 0
        for peer in list(self.peers.values()):
            if peer.identity.login == login:
                n += 1
                peer.send(Bye(reason=reason, reconnect_after_s=0.0))
                self._spawn(self._close_peer(peer, reason), f"logout-{peer.device_id}")
        return n

    def close_device(self, device_id: str, error: Error) -> bool:
        """Tell a connected device why (a fatal `error`) and close it; False if not here."""
        peer = self.peers.get(device_id)
        if peer is None or peer.role == "console":
            return False
        peer.send(error)
        self._spawn(self._close_peer(peer, error.code), f"close-{device_id}")
        return True

    async def _close_peer(self, peer: Peer, reason: str) -> None:
        await peer.finish()
        with contextlib.suppress(ConnectionClosed):
            await peer.ws.close(1000, reason)

    async def _retire(self, old: Peer) -> None:
        """Tell a replaced login why, let the `bye` reach it, then close it."""
        old.send(Bye(reason=REPLACED, reconnect_after_s=REPLACED_RECONNECT_S))
        await old.finish()
        with contextlib.suppress(ConnectionClosed):
            await old.ws.close(1000, REPLACED)

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
                self._bad_message(peer.device_id, err.code)
            peer.send(Error(code=err.code, message=err.message, ref=err.ref or ref))
        except ConnectionClosed:
            raise
        except Exception:
            self.stats["errors"] += 1
            self._fault(peer.device_id, "internal", sys.exc_info())
            peer.send(Error(code="internal", message="The service could not handle that "
                            "message; staff have been notified in the log.", ref=ref))

    def broadcast(self, role: Role, msg: Message | bytes) -> None:
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
        for task in list(self._background):
            if task.get_name() == "device-log-summaries":
                task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=5.0)
        self.logs.summarise(everything=True)
