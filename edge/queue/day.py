"""The business day: which day an instant belongs to, given the branch's rollover time.

Ticket numbers restart, reports group and the day close runs at the rollover, a configured
local time (``[queue] day_rollover``, "00:00" by default; "04:00" keeps a late evening
session in the day it began) in the branch's time zone, never the host's. Pure: instants in,
dates and instants out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

MIDNIGHT = "00:00"


def parse_rollover(text: str) -> tuple[int, int]:
    """'04:30' -> (4, 30); a clear error for anything that is not a local time of day."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"day_rollover {text!r} must be a local time HH:MM, e.g. \"04:00\"")
    h, m = int(hours), int(minutes)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"day_rollover {text!r} is not a time of day (00:00-23:59)")
    return h, m


def day_start(day: date | str, timezone: str, rollover: str = MIDNIGHT) -> float:
    """The instant a business day begins: its rollover time in the branch's time zone."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    h, m = parse_rollover(rollover)
    return datetime(d.year, d.month, d.day, h, m, tzinfo=ZoneInfo(timezone)).timestamp()


def business_day(at: float, timezone: str, rollover: str = MIDNIGHT) -> date:
    """The business day an instant belongs to (before the rollover: still the day before)."""
    local = datetime.fromtimestamp(at, ZoneInfo(timezone)).date()
    return local if at >= day_start(local, timezone, rollover) else local - timedelta(days=1)


def next_day_start(now: float, timezone: str, rollover: str = MIDNIGHT) -> float:
    """The next rollover after `now`: when one business day's tickets are closed."""
    return day_start(business_day(now, timezone, rollover) + timedelta(days=1), timezone,
                     rollover)
