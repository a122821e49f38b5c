"""The service's scheduled jobs over a real store and queue desk, driven by an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from devices.caller_messages import Call
from edge.desk import QueueDesk
from edge.housekeeping import branch_jobs
from edge.jobs import Supervisor
from edge.queue.day import day_start
from edge.store import Store
from tests.conftest import make_config
from tests.test_day_close import Clock, Out

EVENING = day_start("2025-11-25", "Asia/Shanghai") + 17 * 3600
MIDNIGHT = day_start("2025-11-26", "Asia/Shanghai")


def plain(events: Sequence[Any]) -> list[dict[str, Any]]:
    """Stored events as the JSON they travel as (their `kind` tag included)."""
    return [msgspec.to_builtins(e) for e in events]


async def test_resends_then_the_day_close_at_midnight(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    clock, out = Clock(EVENING), Out()
    store = await Store.open(tmp_path / "branch.db")
    try:
        await store.upsert_appointments([{
            "number": "335812", "day": "2025-11-25", "start": "10:00", "end": "10:30",
            "service": "loan", "intent": "loan", "priority_class": "appointment", "hint": "",
            "status": "booked"}], EVENING)
        desk = await QueueDesk.open(config.queue, store, out, clock)
        await desk.run("issue", "personal")
        await desk.run("call_next", "c1")
        sent: list[Call] = []
        sup = Supervisor(branch_jobs(config, desk, store, {}, sent.append), clock)

        async def at(instant: float) -> None:
            clock.now = instant
            await asyncio.gather(*sup.start_due())

        await at(EVENING)  # purge and day close run once at start: nothing to close yet
        assert sup.health()["day_close"]["runs"] == 1 and desk.day == "2025-11-25"
        await at(EVENING + 4)
        assert sent == []
        await at(EVENING + 5)  # the caller never acknowledged: sent again
        assert [c.attempt for c in sent] == [2] and sent[0].number == "A001"
        assert sup.health()["day_close"]["next_run_at"] == MIDNIGHT
        await at(MIDNIGHT)
        assert desk.day == "2025-11-26" and desk.pending_calls == {}
        cancelled = [e for e in plain(await store.load_events("2025-11-25"))
                     if e["kind"] == "cancelled"]
        assert [e["reason"] for e in cancelled] == ["day_closed"]
        assert (await store.appointment("335812") or {})["status"] == "expired"
        jobs = sup.health()
        assert all(j["failures"] == 0 for j in jobs.values())
        assert jobs["day_close"]["next_run_at"] == MIDNIGHT + 86_400
        await sup.stop()
    finally:
        await store.close()
