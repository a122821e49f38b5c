"""The client side of staff login: `GET /login` with the password, a shift token back.

Used by the console, the demo tellers and the tests. The service answers these requests on
its websocket port (the websockets library parses GET requests only, so the password travels
in an `Authorization: Basic` header, over TLS wherever it leaves the box). The token then goes
in `Authorization: Bearer` on the `/console` websocket upgrade.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SESSION_HEADER = "X-Staff-Session"  # /confirm: which session the re-entered password confirms


SECRET_HEADERS = frozenset({"authorization", SESSION_HEADER.lower()})


class RedactHeaders(logging.Filter):
    """The websockets library logs every handshake header at DEBUG: passwords and tokens
    in `Authorization` would land in a debug log. This blanks their values."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str)
                and args[0].lower() in SECRET_HEADERS):
            record.args = (args[0], "[redacted]")
        return True


def redact_library_logs() -> None:
    """Install `RedactHeaders` on the websockets client and server loggers (idempotent)."""
    for name in ("websockets.client", "websockets.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactHeaders) for f in logger.filters):
            logger.addFilter(RedactHeaders())


redact_library_logs()


class LoginError(Exception):
    """The service refused the login (`code`: bad_login, unreachable...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StaffSession:
    """A shift token and what the service says about it."""

    token: str
    user: str
    role: str
    counter: str | None
    expires_at: float

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"StaffSession(user={self.user!r}, role={self.role!r})"

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def http_get(url: str, path: str, authorization: str, tls: ssl.SSLContext | None = None,
                   timeout: float = 10.0, extra: str = "") -> tuple[int, dict[str, Any]]:
    """One GET to the service (ws:// or wss:// base URL); status and JSON body."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    context = (tls or ssl.create_default_context()) if secure else None
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                          f"Authorization: {authorization}\r\n{extra}Connection: close\r\n\r\n")
                         .encode())
            await writer.drain()
            raw = await reader.read(65_536)
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
        data = json.loads(body) if body.strip().startswith(b"{") else {}
    except (IndexError, ValueError):
        raise LoginError("bad_response", "The service's answer was not understood.") from None
    return status, data if isinstance(data, dict) else {}


async def login(url: str, user: str, password: str, tls: ssl.SSLContext | None = None,
                timeout: float = 10.0) -> StaffSession:
    """Log in for a shift; LoginError when the service says no."""
    status, data = await http_get(url, "/login", basic(user, password), tls, timeout)
    if status != 200 or "token" not in data:
        raise LoginError(str(data.get("error", f"http_{status}")),
                         str(data.get("message", "The login was refused.")))
    return StaffSession(token=str(data["token"]), user=str(data["user"]),
                        role=str(data["role"]), counter=data.get("counter"),
                        expires_at=float(data["expires_at"]))


async def logout(url: str, session: StaffSession, tls: ssl.SSLContext | None = None,
                 timeout: float = 10.0) -> bool:
    """End the shift's token (open consoles of it are disconnected)."""
    status, _ = await http_get(url, "/logout", f"Bearer {session.token}", tls, timeout)
    return status == 200


async def confirm(url: str, session: StaffSession, password: str,
                  tls: ssl.SSLContext | None = None, timeout: float = 10.0) -> bool:
    """Re-enter the password: overrides are allowed for the next few minutes."""
    status, _ = await http_get(url, "/confirm", basic(session.user, password), tls, timeout,
                               extra=f"{SESSION_HEADER}: {session.token}\r\n")
    return status == 200
