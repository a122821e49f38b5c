"""The device server's logging: refusals, bad messages and faults are counted per source and
summarised once per interval (hostile traffic costs a counter, not a disk), and the
websockets library's own log lines are folded into the same counts.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeAlias

from devices.logthrottle import LogThrottle, Summary

log = logging.getLogger("branch_teller.devices")

ExcInfo: TypeAlias = (tuple[type[BaseException], BaseException, TracebackType | None]
                      | tuple[None, None, None])


class ServerLog:
    """Three throttled counters, each summarised in the log once per interval."""

    def __init__(self, interval_s: float, sources: int) -> None:
        self.refused = LogThrottle(interval_s, sources)  # by client address, before welcome
        self.bad_messages = LogThrottle(interval_s, sources)  # by device id, after welcome
        self.faults = LogThrottle(interval_s, sources)  # our bugs and the library's errors

    def totals(self) -> dict[str, dict[str, int]]:
        """Counters since start: refused connections, bad messages and faults, per kind."""
        return {"refused": dict(self.refused.totals),
                "bad_messages": dict(self.bad_messages.totals),
                "faults": dict(self.faults.totals)}

    def note(self, throttle: LogThrottle, source: str, kind: str,
             exc_info: ExcInfo | None = None) -> None:
        summary = throttle.note(source, kind)
        if summary is not None:
            self._write(throttle, summary, exc_info)

    def _write(self, throttle: LogThrottle, summary: Summary,
               exc_info: ExcInfo | None = None) -> None:
        what = ("refused connections from" if throttle is self.refused else
                "bad messages from" if throttle is self.bad_messages else "faults at")
        level = logging.ERROR if throttle is self.faults else logging.WARNING
        log.log(level, "%s %s", what, summary.text(throttle.interval_s), exc_info=exc_info)

    async def flush_every(self, seconds: float) -> None:
        """Log what sources did since their last line, once their interval has passed."""
        while True:
            await asyncio.sleep(seconds)
            self.summarise(everything=False)

    def summarise(self, everything: bool) -> None:
        for throttle in (self.refused, self.bad_messages, self.faults):
            for summary in throttle.flush(everything):
                self._write(throttle, summary)


class LibraryLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websockets library's logger: its per-connection INFO lines go to DEBUG, its
    warnings and errors are counted and summarised like any other fault."""

    def __init__(self, logger: logging.Logger,
                 report: Callable[[str, str, ExcInfo | None], None]) -> None:
        super().__init__(logger, {})
        self._report = report

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level < logging.WARNING:
            if self.logger.isEnabledFor(logging.DEBUG):
                self.logger.debug(msg, *args, **kwargs)
            return
        exc_info = sys.exc_info() if kwargs.get("exc_info") else None
        self._report("websockets", str(msg), exc_info)
