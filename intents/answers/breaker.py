"""A circuit breaker for the remote model server: pure, with an injected clock.

Closed: calls go through; `failures` consecutive failures open it. Open: no call for
`cooldown_s` (the box uses its local tier). Half-open: exactly one probe call is let
through; its success closes the breaker, its failure opens it for another cooldown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class CircuitBreaker:
    """Counts consecutive failures; `allow()` says whether the next call may go out."""

    failures: int
    cooldown_s: float
    clock: Callable[[], float]
    state: BreakerState = "closed"
    consecutive: int = 0
    opened_at: float = 0.0
    opens: int = 0  # times it opened (a metric)
    _probing: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.failures < 1 or self.cooldown_s < 0:
            raise ValueError("a breaker needs failures >= 1 and cooldown_s >= 0")

    def allow(self) -> bool:
        """True if a call may go out now (in half-open, only the one probe)."""
        if self.state == "open" and self.clock() - self.opened_at >= self.cooldown_s:
            self.state = "half_open"
            self._probing = False
        if self.state == "closed":
            return True
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        """A call answered in time with a usable result."""
        self.state = "closed"
        self.consecutive = 0
        self._probing = False

    def failure(self) -> None:
        """A call failed, was late, or answered nonsense."""
        self.consecutive += 1
        if self.state == "half_open" or self.consecutive >= self.failures:
            if self.state != "open":
                self.opens += 1
            self.state = "open"
            self.opened_at = self.clock()
            self._probing = False

    def release(self) -> None:
        """A call that ended without a verdict (cancelled by the caller): free the probe."""
        self._probing = False

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 unless open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at))
