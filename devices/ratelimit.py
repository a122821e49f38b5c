"""Token buckets per connection and message class, and when a flood counts as abuse.

Pure and synchronous with an injected clock; the device server asks before it decodes a
message, so a flood costs a subtraction, not a JSON parse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["ok", "limited", "abusive"]


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._at = self.clock()

    def take(self, cost: float = 1.0) -> bool:
        """Spend `cost` tokens if there are enough; False leaves the bucket as it was."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True


@dataclass(frozen=True)
class RateSettings:
    """Per-connection budgets (from the service's config)."""

    control_per_s: float = 20.0  # JSON messages
    control_burst: float = 60.0
    audio_bytes_per_s: float = 192_000.0  # 48 kHz 16-bit mono is 96,000: twice that
    audio_burst_bytes: float = 1_000_000.0
    abuse_dropped: int = 100  # messages dropped within `abuse_window_s`: disconnect
    abuse_window_s: float = 10.0


class ConnectionRates:
    """One connection's buckets and its recent dropped messages."""

    def __init__(self, settings: RateSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.control = TokenBucket(settings.control_per_s, settings.control_burst, clock)
        self.audio = TokenBucket(settings.audio_bytes_per_s, settings.audio_burst_bytes, clock)
        self.dropped = 0  # since start, for the report
        self._window_start = 0.0
        self._window_dropped = 0
        self._told_at: float | None = None

    def admit(self, raw: str | bytes) -> Verdict:
        """Whether to handle this message, drop it, or drop the connection."""
        ok = (self.audio.take(float(len(raw))) if isinstance(raw, bytes)
              else self.control.take(1.0))
        if ok:
            return "ok"
        now = self.clock()
        self.dropped += 1
        if now - self._window_start > self.settings.abuse_window_s:
            self._window_start, self._window_dropped = now, 0
        self._window_dropped += 1
        return "abusive" if self._window_dropped > self.settings.abuse_dropped else "limited"

    def should_tell(self) -> bool:
        """At most one `rate_limited` error a second: the warning must not become a flood."""
        now = self.clock()
        if self._told_at is not None and now - self._told_at < 1.0:
            return False
        self._told_at = now
        return True
