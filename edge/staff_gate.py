"""Staff login, logout and password re-entry over HTTP, and the token check at the console's
websocket upgrade (the device server calls `http` and `upgrade`).

`GET /login` with `Authorization: Basic` answers a shift token; `GET /logout` with the
token revokes it and disconnects its consoles; `GET /confirm` with the password and the
token (`X-Staff-Session`) allows overrides for a few minutes. Every answer is JSON; failures
say what to do without saying whether the user exists.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher
from websockets.datastructures import Headers
from websockets.http11 import Response

from devices.peer import Identity
from devices.staff_login import SESSION_HEADER
from edge import staff
from edge.config import StaffSettings
from edge.roles import Staff
from edge.staff import DEMO_STAFF, Session, SessionBook
from edge.store import Store

log = logging.getLogger("branch_teller.staff")

MAX_USER_CHARS = 64


def _json(status: int, reason: str, body: dict[str, Any]) -> Response:
    return Response(status, reason, Headers([("Content-Type", "application/json"),
                                             ("Cache-Control", "no-store")]),
                    json.dumps(body).encode())


def _refuse(status: int, code: str, message: str) -> Response:
    reason = {400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}[status]
    return _json(status, reason, {"error": code, "message": message})


def _basic(headers: Headers) -> tuple[str, str] | None:
    value = headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(value[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user[:MAX_USER_CHARS], password) if sep and user else None


def _bearer(headers: Headers) -> str | None:
    value = headers.get("Authorization", "")
    return value[7:].strip() or None if value.startswith("Bearer ") else None


class StaffGate:
    """Accounts in the store, live sessions in memory (mirrored to the store)."""

    def __init__(self, settings: StaffSettings, store: Store,
                 on_revoked: Callable[[str, str], object], clock: Callable[[], float] = time.time
                 ) -> None:
        self.settings = settings
        self.store = store
        self.on_revoked = on_revoked  # (session digest, reason): close its consoles
        self.clock = clock
        self.book = SessionBook(settings.session_ttl_s, clock)
        self.hasher = PasswordHasher(time_cost=settings.argon2_time_cost,
                                     memory_cost=settings.argon2_memory_kib,
                                     parallelism=settings.argon2_parallelism)
        # argon2 is slow on purpose: its own thread, never the event loop or the models' pool
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staff-auth")
        self._failures: dict[str, tuple[float, int]] = {}  # source -> (window start, count)
        self.counts = {"logins": 0, "login_failures": 0, "throttled": 0, "logouts": 0}

    @classmethod
    async def open(cls, settings: StaffSettings, store: Store,
                   on_revoked: Callable[[str, str], object], demo: bool = False) -> StaffGate:
        """Restore live sessions; with `demo`, (re)create the demo accounts."""
        gate = cls(settings, store, on_revoked)
        if demo:
            loop = asyncio.get_running_loop()
            for user, password, role, counter in DEMO_STAFF:
                hashed = await loop.run_in_executor(gate._pool, gate.hasher.hash, password)
                await store.call(_upsert_hashed, user, hashed, role, counter)
        for session in await store.call(staff.live_sessions, gate.clock()):
            gate.book.restore(session)
        return gate

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ HTTP endpoints

    async def http(self, path: str, headers: Headers, source: str) -> Response | None:
        if path == "/login":
            return await self._login(headers, source)
        if path == "/logout":
            return await self._logout(headers)
        if path == "/confirm":
            return await self._confirm(headers, source)
        return None

    def _throttled(self, source: str) -> bool:
        start, n = self._failures.get(source, (0.0, 0))
        if self.clock() - start > self.settings.failed_login_window_s:
            self._failures.pop(source, None)
            return False
        return n >= self.settings.max_failed_logins

    def _failed(self, source: str) -> None:
        self.counts["login_failures"] += 1
        now = self.clock()
        start, n = self._failures.get(source, (now, 0))
        if now - start > self.settings.failed_login_window_s:
            start, n = now, 0
        if len(self._failures) < 4096 or source in self._failures:
            self._failures[source] = (start, n + 1)

    async def _password_ok(self, user: str, password: str) -> dict[str, Any] | None:
        row = await self.store.call(staff.account, user)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._pool, staff.check_password, self.hasher, row,
                                        password)
        return row if ok else None

    async def _login(self, headers: Headers, source: str) -> Response:
        given = _basic(headers)
        if given is None:
            return _refuse(400, "bad_request", "Send the user and password as HTTP Basic "
                           "authorization.")
        if self._throttled(source):
            self.counts["throttled"] += 1
            return _refuse(429, "too_many_failures", "Too many failed logins from this "
                           "address; wait a few minutes.")
        user, password = given
        row = await self._password_ok(user, password)
        if row is None:
            self._failed(source)
            await self.store.audit(user, "denied:login", {"source": source})
            return _refuse(401, "bad_login", "Wrong user or password, or the account is "
                           "disabled.")
        token, session = self.book.issue(user, str(row["role"]), row["counter"])
        await self.store.call(staff.save_session, session)
        await self.store.audit(user, "login", {"role": session.role, "source": source})
        self.counts["logins"] += 1
        return _json(200, "OK", {"token": token, "user": user, "role": session.role,
                                 "counter": session.counter, "expires_at": session.expires_at})

    async def _logout(self, headers: Headers) -> Response:
        token = _bearer(headers)
        session = self.book.check(token) if token else None
        if session is None:
            return _refuse(401, "bad_token", "No live session for that token.")
        await self.revoke(session, "logged out")
        self.counts["logouts"] += 1
        await self.store.audit(session.user, "logout", {})
        return _json(200, "OK", {"ok": True})

    async def _confirm(self, headers: Headers, source: str) -> Response:
        given = _basic(headers)
        token = headers.get(SESSION_HEADER, "")
        session = self.book.check(token) if token else None
        if given is None or session is None or given[0] != session.user:
            return _refuse(401, "bad_token", "Confirm with your own password and session.")
        if self._throttled(source):
            self.counts["throttled"] += 1
            return _refuse(429, "too_many_failures", "Too many failed passwords; wait.")
        if await self._password_ok(*given) is None:
            self._failed(source)
            await self.store.audit(session.user, "denied:confirm", {"source": source})
            return _refuse(401, "bad_login", "Wrong password.")
        self.book.confirm(session.digest)
        await self.store.audit(session.user, "confirm", {})
        return _json(200, "OK", {"ok": True, "window_s": self.settings.confirm_window_s})

    async def sync(self, now: float) -> int:
        """End live sessions that another process (`branch-teller staff disable|passwd`)
        revoked in the store: their consoles close within one sync interval, not at the
        next restart. Returns how many ended."""
        live = {s.digest for s in await self.store.call(staff.live_sessions, now)}
        ended = [s for s in self.book.sessions() if s.digest not in live]
        for session in ended:
            self.book.revoke(session.digest)
            self.on_revoked(session.digest, "session ended by an administrator")
            await self.store.audit(session.user, "session_ended", {"reason": "revoked"})
        return len(ended)

    async def revoke(self, session: Session, reason: str) -> None:
        self.book.revoke(session.digest)
        await self.store.call(staff.revoke_session, session.digest)
        self.on_revoked(session.digest, reason)

    # ------------------------------------------------------------ the upgrade and commands

    def upgrade(self, headers: Headers) -> Identity | None:
        """A console's identity from its Bearer token; None: 401 at the upgrade."""
        token = _bearer(headers)
        session = self.book.check(token) if token else None
        if session is None:
            return None
        return Identity(device_id=session.user, role="console", counter=session.counter,
                        login=session.digest)

    def staff(self, identity: Identity) -> Staff | None:
        """Who a console is now; None once its session was revoked or expired."""
        session = self.book.get(identity.login) if identity.login else None
        return session.staff() if session is not None else None


def _upsert_hashed(db: Any, user: str, hashed: str, role: str, counter: str | None) -> None:
    staff.ensure_tables(db)
    now = time.time()
    db.table("staff").upsert({"user": user, "role": role, "counter": counter, "hash": hashed,
                              "disabled": 0, "created_at": now, "changed_at": now}, pk="user")
    staff.revoke_user_sessions(db, user)
