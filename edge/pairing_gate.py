"""The pairing exchange on the device port and the paired-credential check at a hello.

`GET /pair` with the one-time code in the `X-Pairing-Code` header (never in the URL, so
no access log or proxy keeps it) answers the device's id, role and its new credential as
JSON, once. Exchanges are rate limited per address with the device server's token bucket.
Paired credentials are held in memory as digests for the synchronous check at every hello,
and re-read from the database every `refresh_s`, so `branch-teller device revoke` in
another process takes effect in a running service (and closes the device's connection).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from websockets.datastructures import Headers
from websockets.http11 import Response

from devices.peer import Identity
from devices.protocol import ProtocolError
from devices.ratelimit import TokenBucket
from devices.session_messages import Error
from edge import pairing
from edge.config import DeviceCredential, PairingSettings
from edge.jobs import Job, every
from edge.staff_gate import StaffGate
from edge.store import Store

log = logging.getLogger("branch_teller.pairing")

CODE_HEADER = "X-Pairing-Code"
MAX_SOURCES = 4096  # addresses with a bucket; beyond, the oldest are forgotten
PAGES = {"kiosk": "/k/", "caller": "/d/"}
# HTTP status and body for each way a code can fail; the page shows them in zh and en.
REFUSED = {
    "unknown": (404, "Not Found", "unknown_code", "No such pairing code."),
    "expired": (410, "Gone", "expired_code", "This pairing code has expired; ask for a new one."),
    "used": (410, "Gone", "used_code", "This pairing code was already used; ask for a new one."),
}

Check = Literal["ok", "revoked"] | None


def _json(status: int, reason: str, body: dict[str, Any]) -> Response:
    return Response(
        status,
        reason,
        Headers([("Content-Type", "application/json"), ("Cache-Control", "no-store")]),
        json.dumps(body).encode(),
    )


def pairing_link(base_url: str, role: str, code: str) -> str:
    """The page URL a device opens to pair: the code rides in the fragment (never sent)."""
    return f"{base_url.rstrip('/')}{PAGES.get(role, '/k/')}#pair={code}"


class DevicePairing:
    """Code exchange over HTTP and the live table of paired credentials."""

    def __init__(
        self,
        settings: PairingSettings,
        store: Store,
        devices: Callable[[str], DeviceCredential | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.devices = devices  # the branch's configured devices, by id
        self.clock = clock
        self.tokens: dict[str, tuple[str, bool]] = {}  # digest -> (device, revoked)
        self._buckets: dict[str, TokenBucket] = {}
        self.counts = {"paired": 0, "refused": 0, "throttled": 0}

    async def open(self) -> DevicePairing:
        self.tokens = await self.store.call(pairing.token_table)
        return self

    def check(self, device_id: str, credential: str) -> Check:
        """Whether a credential is this device's paired one ("ok"), a revoked one, or neither."""
        found = self.tokens.get(pairing.digest(credential))
        if found is None or found[0] != device_id:
            return None
        return "revoked" if found[1] else "ok"

    async def refresh(self) -> set[str]:
        """Re-read the table; the devices whose credentials were revoked since last time."""
        before = {d for d, (_, revoked) in self.tokens.items() if revoked}
        self.tokens = await self.store.call(pairing.token_table)
        return {dev for d, (dev, revoked) in self.tokens.items() if revoked and d not in before}

    async def create(self, device_id: str, by: str) -> tuple[str, float]:
        """A one-time code for a configured device (console and CLI), and its expiry."""
        device = self.devices(device_id)
        if device is None:
            raise KeyError(device_id)
        code, expires = await self.store.call(
            pairing.create_code, device.id, device.role, self.settings.code_ttl_s, by
        )
        await self.store.audit(by, "device_pair", {"device": device.id})
        return code, expires

    async def revoke(self, device_id: str, by: str) -> int:
        n = await self.store.call(pairing.revoke, device_id)
        await self.store.audit(by, "device_revoke", {"device": device_id, "credentials": n})
        return n

    def _admit(self, source: str) -> bool:
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= MAX_SOURCES:
                self._buckets.pop(next(iter(self._buckets)))
            s = self.settings
            bucket = TokenBucket(s.exchange_per_min / 60.0, s.exchange_burst, self.clock)
            self._buckets[source] = bucket
        return bucket.take()

    async def http(self, path: str, headers: Headers, source: str) -> Response | None:
        if path != "/pair":
            return None
        if not self._admit(source):
            self.counts["throttled"] += 1
            retry = max(1, round(60.0 / max(self.settings.exchange_per_min, 1e-6)))
            response = _json(
                429,
                "Too Many Requests",
                {
                    "error": "rate_limited",
                    "retry_after_s": retry,
                    "message": "Too many pairing attempts from this address; wait a little.",
                },
            )
            response.headers["Retry-After"] = str(retry)
            return response
        code = headers.get(CODE_HEADER, "")
        if not pairing.normalize(code):
            return _json(
                400,
                "Bad Request",
                {"error": "bad_request", "message": f"Send the pairing code in {CODE_HEADER}."},
            )
        result = await self.store.call(pairing.redeem, code)
        if not isinstance(result, pairing.Paired) or self.devices(result.device) is None:
            self.counts["refused"] += 1
            why = result if isinstance(result, str) else "unknown"
            status, reason, err, message = REFUSED[why]
            log.info("pairing refused from %s: %s", source, err)
            return _json(status, reason, {"error": err, "message": message})
        self.tokens[pairing.digest(result.credential)] = (result.device, False)
        self.counts["paired"] += 1
        await self.store.audit(
            "device", "device_paired", {"device": result.device, "source": source}
        )
        log.info("device %s paired from %s", result.device, source)
        return _json(
            200,
            "OK",
            {"device": result.device, "role": result.role, "credential": result.credential},
        )


class DeviceGates:
    """Staff login and device pairing on one device port (the server takes one gate)."""

    def __init__(self, pairing_desk: DevicePairing, staff: StaffGate) -> None:
        self.pairing = pairing_desk
        self.staff = staff

    async def http(self, path: str, headers: Headers, source: str) -> Response | None:
        response = await self.pairing.http(path, headers, source)
        return response if response is not None else await self.staff.http(path, headers, source)

    def upgrade(self, headers: Headers) -> Identity | None:
        return self.staff.upgrade(headers)


def authenticate_device(
    device: DeviceCredential | None,
    configured: bytes | None,
    hello_device: str,
    credential: str,
    role: str,
    paired: DevicePairing | None,
    ref: str | None,
) -> Identity | ProtocolError:
    """A hello's device, by its credential from branch.toml or its paired one; the same
    work for an unknown device as for a known one."""
    given = hashlib.sha256(credential.encode()).digest()
    if device is None or configured is None:
        hmac.compare_digest(given, given)
        return ProtocolError(
            "unknown_device",
            "This device is not registered with the branch; ask staff to add it to branch.toml.",
            ref,
        )
    if not hmac.compare_digest(given, configured):
        check = paired.check(hello_device, credential) if paired is not None else None
        if check == "revoked":
            return ProtocolError(
                "credential_revoked",
                "This device's pairing was revoked; ask staff to pair it again.",
                ref,
            )
        if check != "ok":
            return ProtocolError("bad_credential", "The device credential is wrong.", ref)
    if device.role != role:
        return ProtocolError(
            "wrong_role", f"Device {device.id} is registered as a {device.role}, not a {role}.", ref
        )
    return Identity(device_id=device.id, role=device.role, language=device.language)


class DeviceCloser(Protocol):
    def close_device(self, device_id: str, error: Error) -> bool: ...


def revocation_job(settings: PairingSettings, paired: DevicePairing, server: DeviceCloser) -> Job:
    """Every `refresh_s`: see revocations made by the CLI, and close those devices now."""

    async def refresh(now: float) -> None:
        for device in await paired.refresh():
            if server.close_device(
                device,
                Error(
                    code="credential_revoked",
                    fatal=True,
                    message="This device's pairing was revoked; ask staff to pair it again.",
                ),
            ):
                log.info("device %s disconnected: pairing revoked", device)

    return Job("pairing_refresh", every(settings.refresh_s), refresh)
