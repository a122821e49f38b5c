"""Who may talk to central: each box by its own bearer credential `BOX_ID:SECRET` (checked
against the fleet store's argon2 hash), operators by one token. Refusals are JSON 401s;
the log names the box id, never a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable

import msgspec
from aiohttp import web

from provisioning.central.fleet import FleetStore

log = logging.getLogger("branch_teller.central")

MAX_CREDENTIAL_CHARS = 512  # longer: refused before any hashing


class ErrorBody(msgspec.Struct, kw_only=True):
    error: str  # a stable code: "unauthorized", "bad_request", "too_large", ...
    detail: str  # a human sentence


class ApiError(Exception):
    """A refusal the client gets as a JSON body (server.py's middleware answers it)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail

    def response(self) -> web.Response:
        body = msgspec.json.encode(ErrorBody(error=self.code, detail=self.detail))
        return web.Response(status=self.status, body=body, content_type="application/json")


def json_error(status: int, code: str, detail: str) -> ApiError:
    """An error to raise from a handler: status, a stable code and a human sentence."""
    return ApiError(status, code, detail)


def bearer(request: web.Request) -> str:
    """The token of an `Authorization: Bearer ...` header ("" when absent or malformed)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or len(token) > MAX_CREDENTIAL_CHARS:
        return ""
    return token.strip()


def shown(box_id: str) -> str:
    """A box id as the log shows it: bounded and quoted (it came from the network)."""
    return repr(box_id[:64])


class BoxAuth:
    """Checks box credentials; a verified one is remembered for cache_s (argon2 is slow on
    purpose, and a fleet reports every few minutes)."""

    def __init__(
        self,
        store: FleetStore,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
        failures_per_source: int = 10,
        failure_window_s: float = 60.0,
        concurrency: int = 4,
    ) -> None:
        self.store, self.cache_s, self.clock = store, cache_s, clock
        self._verified: dict[str, tuple[bytes, float]] = {}  # box id -> (sha256, until)
        self.failures_per_source, self.failure_window_s = failures_per_source, failure_window_s
        self._failures: dict[str, list[float]] = {}  # client address -> recent failure times
        self._checks = asyncio.Semaphore(concurrency)
        self.throttled = 0  # requests refused without hashing

    def _failed_recently(self, source: str, now: float) -> int:
        times = [t for t in self._failures.get(source, ()) if now - t < self.failure_window_s]
        if times:
            self._failures[source] = times
        else:
            self._failures.pop(source, None)
        return len(times)

    def _note_failure(self, source: str, now: float) -> None:
        if len(self._failures) >= 10_000 and source not in self._failures:  # bounded memory
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]
        self._failures.setdefault(source, []).append(now)

    def forget(self, box_id: str) -> None:
        """Check this box's credential against the store again next time (disabled, rotated)."""
        self._verified.pop(box_id, None)

    async def box_id(self, request: web.Request) -> str:
        """The authenticated box of a request; raises a JSON 401 otherwise."""
        box_id, _, secret = bearer(request).rpartition(":")
        if not box_id or not secret:
            raise json_error(
                401, "unauthorized", "send Authorization: Bearer BOX_ID:SECRET (see central box add)"
            )
        digest = hashlib.sha256(secret.encode()).digest()
        cached = self._verified.get(box_id)
        now = self.clock()
        if cached and cached[1] > now and hmac.compare_digest(cached[0], digest):
            return box_id
        source = request.remote or "unknown"
        if self._failed_recently(source, now) >= self.failures_per_source:
            self.throttled += 1
            raise json_error(
                429, "too_many_failures",
                f"too many wrong credentials from this address: wait {self.failure_window_s:.0f} s",
            )
        async with self._checks:
            ok = await asyncio.to_thread(self.store.authenticate, box_id, secret)
        if not ok:
            self.forget(box_id)
            self._note_failure(source, self.clock())
            log.warning("refused a box credential for box %s", shown(box_id))
            raise json_error(
                401, "unauthorized", "unknown box, wrong secret, or the box is disabled"
            )
        if self.cache_s > 0:
            self._verified[box_id] = (digest, now + self.cache_s)
        return box_id


def check_operator(request: web.Request, token: str) -> None:
    """Operators' endpoints: the configured token, compared in constant time."""
    if not token:
        raise json_error(
            503,
            "no_operator_token",
            "no operator token configured: set BRANCH_TELLER_CENTRAL_OPERATOR_TOKEN or "
            "[server] operator_token_file",
        )
    given = bearer(request)
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        log.warning("refused an operator request for %s", request.path)
        raise json_error(401, "unauthorized", "send Authorization: Bearer OPERATOR_TOKEN")
