"""Counts hostile or faulty events per source and kind; at most one log line per source
per interval, so a flood of bad traffic costs a counter, not a disk.

Pure and synchronous with an injected clock; the device server feeds it and logs the
summaries it hands back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

OTHER = "other"  # where events go once `max_sources` sources are being tracked


@dataclass(frozen=True)
class Summary:
    """What one source did since its last log line."""

    source: str
    counts: dict[str, int]
    span_s: float | None  # seconds since the source's previous line; None: its first line

    def text(self, interval_s: float) -> str:
        """One log line, e.g. `10.0.0.7: malformed=120, hello_timeout=3 in the last 60 s`."""
        counts = ", ".join(f"{kind}={n}" for kind, n in sorted(self.counts.items()))
        if self.span_s is None:
            return f"{self.source}: {counts} (more from this source summarised every " \
                   f"{interval_s:g} s)"
        return f"{self.source}: {counts} in the last {self.span_s:.0f} s"


class LogThrottle:
    """Per (source, kind) counters; a source's first event is logged at once, later ones
    at most once per `interval_s`, summed."""

    def __init__(self, interval_s: float = 60.0, max_sources: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.max_sources = max_sources
        self.clock = clock
        self.totals: dict[str, int] = {}
        self._pending: dict[str, dict[str, int]] = {}
        self._last_line: dict[str, float] = {}

    def note(self, source: str, kind: str) -> Summary | None:
        """Count one event; returns the line to log now, or None (it waits in a summary)."""
        self.totals[kind] = self.totals.get(kind, 0) + 1
        if source not in self._last_line and len(self._last_line) >= self.max_sources:
            source = OTHER
        counts = self._pending.setdefault(source, {})
        counts[kind] = counts.get(kind, 0) + 1
        now = self.clock()
        last = self._last_line.get(source)
        if last is not None and now - last < self.interval_s:
            return None
        return self._emit(source, now, last)

    def flush(self, everything: bool = False) -> list[Summary]:
        """Summaries of sources whose interval has passed (all pending ones if `everything`);
        forgets sources that stayed quiet for a whole interval."""
        now = self.clock()
        out: list[Summary] = []
        for source, last in list(self._last_line.items()):
            due = everything or now - last >= self.interval_s
            if source in self._pending and due:
                out.append(self._emit(source, now, last))
            elif source not in self._pending and now - last >= self.interval_s:
                del self._last_line[source]
        return out

    def pending(self) -> int:
        """Events counted but not yet in a log line."""
        return sum(sum(c.values()) for c in self._pending.values())

    def sources(self) -> int:
        """Sources tracked now (bounded by `max_sources` plus `other`)."""
        return len(self._last_line)

    def _emit(self, source: str, now: float, last: float | None) -> Summary:
        self._last_line[source] = now
        counts = self._pending.pop(source)
        return Summary(source, counts, None if last is None else now - last)
