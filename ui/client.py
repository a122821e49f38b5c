"""A reconnecting staff client of the `/console` endpoint, free of Textual so it tests alone.

The console owns no business state: this client logs in, hands every message from the service
to a callback, sends commands and pairs each with its `result` or `error` by `ref`. When the
link drops it says so (a `LinkStatus`) and reconnects with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from devices.console_messages import Command, ConsoleSnapshot, Result
from devices.errors import ErrorCode
from devices.message_base import Message
from devices.protocol import PROTOCOL_VERSION, ProtocolError, decode_server, encode
from devices.session_messages import Bye, Error, Hello, Welcome
from devices.staff_login import LoginError, StaffSession, confirm, login, logout

log = logging.getLogger("branch_teller.console")

LinkState = Literal["connecting", "online", "offline", "refused", "stopped"]
Reply = Result | ConsoleSnapshot | Error

# Refusals that a retry cannot fix: the login itself is wrong.
FATAL_CODES = frozenset({"unknown_device", "bad_credential", "wrong_role", "protocol_version",
                         "wrong_endpoint", "wrong_user"})
# refusals of `GET /login` (HTTP, devices.staff_login), not protocol `error` codes
FATAL_LOGIN_CODES = frozenset({"bad_login", "too_many_failures"})


@dataclass(frozen=True)
class LinkStatus:
    """What the console shows about its connection to the service."""

    state: LinkState
    detail: str = ""
    attempt: int = 0
    retry_in_s: float | None = None
    counter: str | None = None
    branch: str = ""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter, so many consoles do not reconnect in step."""

    base_s: float = 0.5
    cap_s: float = 15.0
    jitter: float = 0.2

    def delay(self, attempt: int, rnd: Callable[[], float] = random.random) -> float:
        """Seconds to wait before reconnect `attempt` (1 = the first retry)."""
        raw = min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))
        return max(0.0, raw * (1.0 - self.jitter + 2 * self.jitter * rnd()))


class ConsoleClient:
    """One staff login to the service: messages out to `on_message`, link state to `on_status`."""

    def __init__(self, url: str, user: str, credential: str, *,
                 on_message: Callable[[Message], None],
                 on_status: Callable[[LinkStatus], None],
                 backoff: Backoff | None = None,
                 command_timeout_s: float = 10.0,
                 open_timeout_s: float = 5.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.url = url.rstrip("/")
        self.user = user
        self._credential = credential  # the password: never logged, never shown
        self.tls = tls  # wss: a context trusting the branch CA
        self._staff: StaffSession | None = None  # the shift token, reused across reconnects
        self._on_message = on_message
        self._on_status = on_status
        self.backoff = backoff or Backoff()
        self.command_timeout_s = command_timeout_s
        self.open_timeout_s = open_timeout_s
        self.status = LinkStatus("stopped")
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._snapshot_waiters: deque[str] = deque()
        self._serial = itertools.count(1)
        self._stop = asyncio.Event()

    def __repr__(self) -> str:
        return f"ConsoleClient({self.url!r}, user={self.user!r}, state={self.status.state!r})"

    @property
    def online(self) -> bool:
        """Whether commands can be sent right now."""
        return self._ws is not None and self.status.state == "online"

    def _set(self, status: LinkStatus) -> None:
        self.status = status
        self._on_status(status)

    async def run(self) -> None:
        """Stay connected until `stop()`: log in, read, and on any failure retry with backoff."""
        attempt = 0
        while not self._stop.is_set():
            self._set(LinkStatus("connecting", f"connecting to {self.url}", attempt))
            retry_after: float | None = None
            try:
                retry_after = await self._session()
                attempt = 0  # a welcomed session resets the backoff
            except (ProtocolError, LoginError) as err:  # refused hello or refused /login
                if err.code in FATAL_CODES or (isinstance(err, LoginError)
                                               and err.code in FATAL_LOGIN_CODES):
                    self._set(LinkStatus("refused", f"{err.code}: {err.message}", attempt))
                    return
                detail = f"{err.code}: {err.message}"
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidURI) as err:
                detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            except Exception as err:  # a console bug must not end the staff's link for good
                log.exception("console link failed")
                detail = f"{type(err).__name__}: {err}"
            else:
                detail = "connection closed"
            finally:
                self._ws = None
                self._fail_pending("offline", "The connection to the service was lost.")
            if self._stop.is_set():
                break
            if retry_after == -1.0:
                self._set(LinkStatus("stopped", "replaced by a newer login of this user"))
                return
            attempt += 1
            wait = retry_after if retry_after is not None else self.backoff.delay(attempt)
            self._set(LinkStatus("offline", detail, attempt, round(wait, 1)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
        self._set(LinkStatus("stopped", "console closed"))

    async def _session(self) -> float | None:
        """One connection; returns the service's requested reconnect delay after a `bye`."""
        if self._staff is None or self._staff.expires_at <= time.time():
            self._staff = await login(self.url, self.user, self._credential, self.tls,
                                      self.open_timeout_s)
        tls: dict[str, Any] = ({"ssl": self.tls} if self.tls is not None
                               and self.url.startswith("wss") else {})
        try:
            ws_conn = await connect(f"{self.url}/console", open_timeout=self.open_timeout_s,
                                    max_size=2**22, additional_headers=self._staff.header(),
                                    **tls)
        except InvalidStatus as err:
            if err.response.status_code == 401:  # revoked or expired: log in again
                self._staff = None
                raise ProtocolError("session_expired", "The session ended; logging in "
                                    "again.") from None
            raise
        async with ws_conn as ws:
            await ws.send(encode(Hello(device_id=self.user, role="console",
                                       credential=self._credential, protocol=PROTOCOL_VERSION)))
            first = decode_server(await asyncio.wait_for(ws.recv(), self.open_timeout_s))
            if isinstance(first, Error):
                raise ProtocolError(first.code, first.message)
            if not isinstance(first, Welcome):
                raise ProtocolError("invalid", f"Expected welcome, got {type(first).__name__}.")
            self._ws = ws
            self._set(LinkStatus("online", first.branch, counter=first.counter,
                                 branch=first.branch))
            log.info("console %s connected to %s", self.user, self.url)
            async for raw in ws:
                try:
                    msg = decode_server(raw)
                except ProtocolError as err:
                    log.warning("console: %s", err.message)
                    continue
                if isinstance(msg, Bye):
                    self._on_message(msg)
                    return -1.0 if "replaced" in msg.reason else msg.reconnect_after_s
                self._dispatch(msg)
        return None

    def _dispatch(self, msg: Message) -> None:
        ref = getattr(msg, "ref", None)
        if isinstance(msg, ConsoleSnapshot):
            ref = msg.id if msg.id in self._pending else None
            if ref is None and self._snapshot_waiters:
                ref = self._snapshot_waiters.popleft()
            elif ref is not None:
                with contextlib.suppress(ValueError):
                    self._snapshot_waiters.remove(ref)
        fut = self._pending.pop(ref, None) if isinstance(ref, str) else None
        if fut is not None and not fut.done() and isinstance(msg, Result | ConsoleSnapshot | Error):
            fut.set_result(msg)
        self._on_message(msg)  # the app sees answers too: snapshots redraw, errors get shown

    def _fail_pending(self, code: ErrorCode, text: str) -> None:
        for ref, fut in list(self._pending.items()):
            if not fut.done():
                fut.set_result(Error(code=code, message=text, ref=ref))
        self._pending.clear()
        self._snapshot_waiters.clear()

    async def command(self, action: str, **fields: Any) -> Reply:
        """Send one staff action; the service's `result`/`error`, or a local `error` if offline."""
        ws = self._ws
        ref = f"{self.user}-{next(self._serial)}"
        if ws is None or not self.online:
            return Error(code="offline", message="Not connected to the service; the action "
                         "was not sent.", ref=ref)
        try:
            msg = Command(id=ref, action=action, **fields)  # type: ignore[arg-type]
        except TypeError as err:
            return Error(code="invalid", message=f"Bad command: {err}.", ref=ref)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[ref] = fut
        if action == "snapshot":
            self._snapshot_waiters.append(ref)
        try:
            await ws.send(encode(msg))
            return await asyncio.wait_for(fut, self.command_timeout_s)
        except TimeoutError:
            return Error(code="timeout", message=f"No answer to {action!r} within "
                         f"{self.command_timeout_s:.0f} s; it may or may not have been done.",
                         ref=ref)
        except ConnectionClosed:
            return Error(code="offline", message="The connection closed while sending.", ref=ref)
        finally:
            self._pending.pop(ref, None)
            with contextlib.suppress(ValueError):
                self._snapshot_waiters.remove(ref)

    async def confirm(self, password: str) -> bool:
        """Re-enter the password so the service allows overrides for a few minutes."""
        if self._staff is None:
            return False
        try:
            return await confirm(self.url, self._staff, password, self.tls, self.open_timeout_s)
        except (OSError, TimeoutError, LoginError):
            return False

    async def logout(self) -> None:
        """End the shift's token at the service (the console closes with it)."""
        session, self._staff = self._staff, None
        if session is not None:
            with contextlib.suppress(OSError, TimeoutError, LoginError):
                await logout(self.url, session, self.tls, self.open_timeout_s)

    async def stop(self) -> None:
        """End the session for good (the app is closing)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
