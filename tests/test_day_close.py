"""The end-of-day close at the branch's rollover (local midnight), with an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from devices.caller_messages import BoardSnapshot, Call
from devices.console_messages import Alert, QueueUpdate
from edge.desk import QueueDesk
from edge.queue import QueueSettings
from edge.queue.day import day_start
from edge.queue.engine import QueueEngine
from edge.queue.reports import report_rows
from edge.store import Store

SETTINGS = QueueSettings()  # Asia/Shanghai
EVENING = day_start("2025-11-25", "Asia/Shanghai") + 17 * 3600  # 17:00 on the 25th
MIDNIGHT = day_start("2025-11-26", "Asia/Shanghai")


def plain(events: Sequence[Any]) -> list[dict[str, Any]]:
    """Stored events as the JSON they travel as (their `kind` tag included)."""
    return [msgspec.to_builtins(e) for e in events]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Out:
    """What the desk told the devices."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def to_callers(self, msg: Call | BoardSnapshot) -> None:
        self.sent.append(msg)

    def to_consoles(self, msg: QueueUpdate | Alert) -> None:
        self.sent.append(msg)

    def to_kiosks(self, msg: QueueUpdate) -> None:
        self.sent.append(msg)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "branch.db")
    yield store
    await store.close()


async def busy_evening(store: Store, clock: Clock, out: Out) -> QueueDesk:
    """Four tickets at 17:00: one being served, one called, two waiting."""
    desk = await QueueDesk.open(SETTINGS, store, out, clock)
    for _ in range(4):
        await desk.run("issue", "personal")
    await desk.run("call_next", "c1")
    await desk.run("start", "20251125-A001")
    await desk.run("call_next", "c2")
    return desk


async def test_the_rollover_closes_yesterday_in_its_own_history(store: Store) -> None:
    clock, out = Clock(EVENING), Out()
    desk = await busy_evening(store, clock, out)
    assert desk.pending_calls
    clock.now = MIDNIGHT + 0.5
    closed = await desk.close_past_days()
    assert closed is not None
    events = plain(await store.load_events("2025-11-25"))
    tail = {e["ticket"]: e for e in events[-4:]}
    assert tail["20251125-A001"]["kind"] == "completed"  # being served: completed
    for number in ("A002", "A003", "A004"):  # called or waiting: cancelled, reason kept
        assert tail[f"20251125-{number}"] == {"kind": "cancelled", "at": MIDNIGHT,
                                             "ticket": f"20251125-{number}",
                                             "reason": "day_closed"}
    assert plain(await store.load_events("2025-11-26")) == []
    # the new day: an empty board, numbering afresh, no stale call re-sent
    assert desk.day == "2025-11-26" and desk.engine.waiting() == []
    assert desk.pending_calls == {} and await desk.due_resends() == []
    assert any(isinstance(m, QueueUpdate) and m.event == "close_day" for m in out.sent)
    ticket = (await desk.run("issue", "personal")).ticket
    assert ticket.number == "A001" and ticket.id == "20251126-A001"
    # yesterday's report counts what was closed out
    day = QueueEngine.restore(SETTINGS, clock, await store.load_events("2025-11-25"))
    whole = [r for r in report_rows(day.tickets(), SETTINGS, "2025-11-25") if r.hour is None]
    assert (whole[0].issued, whole[0].served, whole[0].cancelled) == (4, 1, 3)
    # a second run closes nothing more
    assert await desk.close_past_days() is None
    assert len(plain(await store.load_events("2025-11-25"))) == len(events)


async def test_no_close_before_the_rollover(store: Store) -> None:
    clock, out = Clock(EVENING), Out()
    desk = await busy_evening(store, clock, out)
    clock.now = MIDNIGHT - 1.0
    assert await desk.close_past_days() is None
    assert len(desk.engine.waiting()) == 2 and desk.day == "2025-11-25"


async def test_the_first_operation_after_midnight_closes_yesterday_first(store: Store) -> None:
    clock, out = Clock(EVENING), Out()
    desk = await busy_evening(store, clock, out)
    clock.now = MIDNIGHT + 2.0  # before the day_close job got round to it
    await desk.run("issue", "cash")
    assert [t.number for t in desk.engine.waiting()] == ["B001"]
    kinds = [e["kind"] for e in plain(await store.load_events("2025-11-25"))]
    assert kinds.count("cancelled") == 3
    assert [e["ticket"] for e in plain(await store.load_events("2025-11-26"))] == ["20251126-B001"]


async def test_a_day_missed_while_the_service_was_down_is_closed_at_start(store: Store) -> None:
    clock, out = Clock(EVENING), Out()
    await busy_evening(store, clock, out)
    clock.now = MIDNIGHT + 3 * 86_400  # the box was off over a long weekend
    desk = await QueueDesk.open(SETTINGS, store, out, clock)
    assert desk.day == "2025-11-29" and desk.engine.waiting() == []
    await desk.close_past_days()
    day = QueueEngine.restore(SETTINGS, clock, await store.load_events("2025-11-25"))
    states = sorted(t.state.value for t in day.tickets())
    assert states == ["cancelled", "cancelled", "cancelled", "done"]
    cancelled = [e for e in plain(await store.load_events("2025-11-25")) if e["kind"] == "cancelled"]
    assert {e["at"] for e in cancelled} == {MIDNIGHT}  # as of that day's rollover


async def test_a_configured_rollover_keeps_the_evening_in_its_day(store: Store) -> None:
    """With day_rollover 04:00, 00:30 still belongs to the 25th; 04:00 closes it."""
    settings = msgspec.structs.replace(SETTINGS, day_rollover="04:00")
    four_am = day_start("2025-11-26", "Asia/Shanghai", "04:00")
    assert four_am == MIDNIGHT + 4 * 3600
    clock, out = Clock(EVENING), Out()
    desk = await QueueDesk.open(settings, store, out, clock)
    await desk.run("issue", "personal")
    clock.now = MIDNIGHT + 1800  # 00:30: the evening session goes on, numbering too
    assert await desk.close_past_days() is None
    ticket = (await desk.run("issue", "personal")).ticket
    assert ticket.id == "20251125-A002" and desk.day == "2025-11-25"
    clock.now = four_am - 1.0
    assert await desk.close_past_days() is None
    clock.now = four_am + 0.5
    assert await desk.close_past_days() is not None
    cancelled = [e for e in plain(await store.load_events("2025-11-25")) if e["kind"] == "cancelled"]
    assert [e["at"] for e in cancelled] == [four_am, four_am]  # as of the configured rollover
    assert (await desk.run("issue", "personal")).ticket.id == "20251126-A001"


def test_a_rollover_that_is_not_a_time_is_refused() -> None:
    from edge.queue.settings import validate_settings

    for bad in ("4", "24:00", "04:60", "4:5", "noon", ""):
        with pytest.raises(ValueError, match="day_rollover"):
            validate_settings(msgspec.structs.replace(SETTINGS, day_rollover=bad))
