"""The business day of an instant, for any rollover time and time zone (pure)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from edge.queue.day import business_day, day_start, next_day_start

ZONES = st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York", "Europe/London",
                         "Asia/Kolkata"])
ROLLOVERS = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23),
                      st.sampled_from([0, 15, 30, 45]))
DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(DAYS, ZONES, ROLLOVERS)
def test_a_day_begins_at_its_rollover_and_not_a_second_before(
        day: date, zone: str, rollover: str) -> None:
    start = day_start(day, zone, rollover)
    assert business_day(start, zone, rollover) == day
    assert business_day(start - 1.0, zone, rollover) == day - timedelta(days=1)
    assert next_day_start(start, zone, rollover) == day_start(day + timedelta(days=1), zone,
                                                              rollover)


@given(DAYS, ZONES, ROLLOVERS, st.floats(0.0, 1.0))
def test_every_instant_of_a_day_belongs_to_it(
        day: date, zone: str, rollover: str, frac: float) -> None:
    start = day_start(day, zone, rollover)
    end = next_day_start(start, zone, rollover)
    assert 23 * 3600 <= end - start <= 25 * 3600  # DST days are 23 or 25 hours long
    at = min(start + frac * (end - start), end - 0.001)
    assert business_day(at, zone, rollover) == day


def test_the_host_zone_never_matters() -> None:
    # 23:30 UTC on the 25th is 07:30 on the 26th in Shanghai: the branch's day, not the host's
    at = day_start("2025-11-25", "UTC") + 23.5 * 3600
    assert business_day(at, "Asia/Shanghai") == date(2025, 11, 26)
    assert business_day(at, "Asia/Shanghai", "08:00") == date(2025, 11, 25)
