"""What the box's trust in central is right now: a typed status the service and console show.

Pure: expiry instants and the box's clock in, a state and a sentence out. ``ok`` and
``unchecked`` and ``not_configured`` are quiet; every other state is an alarm staff should see.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal

import msgspec

TrustState = Literal[
    "ok", "stale", "expired", "rejected", "unreachable", "unchecked", "not_configured"
]
QUIET: frozenset[TrustState] = frozenset({"ok", "unchecked", "not_configured"})
# When several things are wrong, the most serious is the one shown.
SEVERITY: dict[TrustState, int] = {
    "not_configured": 0,
    "unchecked": 0,
    "ok": 1,
    "unreachable": 2,
    "stale": 3,
    "expired": 4,
    "rejected": 5,
}


class TrustStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The last check of the repository (or mirror) and what the box concluded."""

    state: TrustState
    detail: str  # one sentence for staff: what is wrong and what it means
    checked_at: float  # box clock, epoch seconds
    timestamp_expires: float | None = None  # when the trusted timestamp runs out
    timestamp_version: int | None = None

    @property
    def alarm(self) -> bool:
        """True when staff should be told (a freeze, an expiry, a rejected bundle...)."""
        return self.state not in QUIET


def assess_expiry(
    expires: Mapping[str, float], now: float, margin_s: float
) -> tuple[TrustState, str]:
    """Judge trusted metadata's expiry on the box's clock: expired, stale (soon), or ok."""
    expired = sorted(role for role, when in expires.items() if when <= now)
    if expired:
        return "expired", (
            f"trusted {', '.join(expired)} metadata expired "
            f"{_ago(now - min(expires[r] for r in expired))} ago: no update is "
            "installed until central signs fresh metadata"
        )
    ts = expires.get("timestamp")
    if ts is not None and ts - now < margin_s:
        return "stale", (
            f"the repository's timestamp expires in {_ago(ts - now)}: central has "
            "not refreshed it (frozen or unreachable repository)"
        )
    return "ok", "metadata verified and current"


def worst(a: TrustStatus, b: TrustStatus) -> TrustStatus:
    """The more serious of two statuses (ties: the later one)."""
    return a if SEVERITY[a.state] > SEVERITY[b.state] else b


def encode_status(status: TrustStatus) -> bytes:
    """JSON for the trust folder, so the service shows what a separate fetch concluded."""
    return msgspec.json.encode(status)


def decode_status(data: bytes) -> TrustStatus | None:
    """The last status written, or None when the file is unreadable (never fatal)."""
    try:
        return msgspec.json.decode(data, type=TrustStatus)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def not_configured(reason: str, clock: float | None = None) -> TrustStatus:
    """No root of trust installed: updates are off, the service runs on what it has."""
    return TrustStatus(
        state="not_configured", detail=reason, checked_at=time.time() if clock is None else clock
    )


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"
