"""The queue's business day with an injected clock: the branch's time zone, never the host's,
and a ticket that waits across midnight keeps its day, number and history. (Closing the day
is the service's job; these tests need no service.)"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from edge.queue import QueueEngine, QueueSettings
from edge.queue.reports import class_rows, wait_s

SH = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def host_in_los_angeles() -> Iterator[None]:
    """The box's own clock set to a zone 16 hours away from the branch."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_the_host_time_zone_never_moves_the_business_day(host_in_los_angeles: None) -> None:
    clock = Clock(datetime(2026, 11, 25, 23, 58, tzinfo=SH).timestamp())
    engine = QueueEngine(QueueSettings(), clock)
    assert time.localtime(clock.t).tm_mday == 25  # 07:58 in Los Angeles, same date by chance
    before = engine.issue("cash").ticket
    clock.t = datetime(2026, 11, 26, 0, 2, tzinfo=SH).timestamp()  # still the 25th in LA
    assert time.localtime(clock.t).tm_mday == 25
    after = engine.issue("cash").ticket
    assert (before.id, after.id) == ("20261125-B001", "20261126-B001")
    assert engine.day_of(clock.t) == "2026-11-26"


def test_a_ticket_waiting_across_midnight_keeps_its_day_and_history() -> None:
    clock = Clock(datetime(2026, 11, 25, 23, 50, tzinfo=SH).timestamp())
    settings = QueueSettings()
    engine = QueueEngine(settings, clock)
    for c in ("c2", "c3", "c4", "c5", "c6"):
        engine.close_counter(c)  # one teller works late
    late = engine.issue("personal").ticket
    busy = engine.issue("personal").ticket
    engine.call_next("c1")  # `late` is at the counter
    clock.t += 20 * 60  # 00:10 on the 26th
    fresh = engine.issue("personal").ticket
    assert fresh.id == "20261126-A001" and fresh.number == "A001"
    assert busy.number == "A002" and engine.find("A002", "2026-11-25").id == busy.id
    assert engine.find("A001").id == fresh.id  # today's A001, not yesterday's
    waiting = engine.waiting()
    assert [v.id for v in waiting] == [busy.id, fresh.id]  # yesterday's customer stays first
    assert waiting[0].waited_s == pytest.approx(20 * 60)
    engine.complete(late.id)
    called = engine.call_next("c1").ticket
    assert called.id == busy.id and called.number == "A002"
    t = next(x for x in engine.tickets() if x.id == busy.id)
    assert t.day == "2026-11-25" and wait_s(t) == pytest.approx(20 * 60)
    rows = {(r.day, r.cls): r for r in class_rows(engine.tickets(), settings)}
    assert rows[("2026-11-25", "normal")].called == 2  # counted on the day it was issued
    assert ("2026-11-26", "normal") not in rows  # today's A001 is still waiting


def test_restore_across_midnight_rebuilds_the_same_queue() -> None:
    clock = Clock(datetime(2026, 11, 25, 23, 55, tzinfo=SH).timestamp())
    engine = QueueEngine(QueueSettings(), clock)
    events = []
    events += engine.issue("cash").events
    events += engine.issue("loan").events
    clock.t += 600
    events += engine.issue("cash").events
    events += engine.call_next("c4").events
    again = QueueEngine.restore(QueueSettings(), clock, events)
    assert again.snapshot() == engine.snapshot()
    assert again.issue("cash").ticket.number == "B002"  # numbering continues on the 26th


def test_the_business_day_follows_a_daylight_saving_zone_locally() -> None:
    berlin = msgspec.structs.replace(QueueSettings(), timezone="Europe/Berlin")
    tz = ZoneInfo("Europe/Berlin")
    clock = Clock(datetime(2026, 10, 25, 23, 30, tzinfo=tz).timestamp())  # clocks went back
    engine = QueueEngine(berlin, clock)
    assert engine.issue("cash").ticket.id == "20261025-B001"
    clock.t = datetime(2026, 10, 26, 0, 30, tzinfo=tz).timestamp()
    assert engine.issue("cash").ticket.id == "20261026-B001"
