"""The queue desk: alerts and calls are stored before anyone hears of them, and a restart
brings back every open alert and every call no number-caller acknowledged."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from devices.caller_messages import Call
from devices.console_messages import Alert
from edge.desk import QueueDesk
from edge.queue.model import QueueError
from edge.queue.settings import QueueSettings
from edge.store import Store, StoreError
from tests.fixtures.make_queue_day import START, Clock


class Recorder:
    """Collects what the desk sends, and checks each message was committed before it left."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.sent: list[Any] = []

    def _stored(self, key: str) -> bool:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT body FROM queue_events").fetchall()
        finally:
            conn.close()
        return any(key in body for (body,) in rows)

    def to_callers(self, msg: Any) -> None:
        if isinstance(msg, Call):
            assert self._stored(msg.call), "a call went out before it was stored"
        self.sent.append(msg)

    def to_consoles(self, msg: Any) -> None:
        if isinstance(msg, Alert):
            assert self._stored(msg.alert), "an alert went out before it was stored"
        self.sent.append(msg)

    def to_kiosks(self, msg: Any) -> None:
        self.sent.append(msg)

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.sent if isinstance(m, kind)]


async def _open(path: Path, clock: Clock) -> tuple[QueueDesk, Recorder]:
    out = Recorder(path)
    store = await Store.open(path)
    return await QueueDesk.open(QueueSettings(), store, out, clock, resend_s=5.0,
                                call_expiry_s=60.0), out


def _alert(key: str, at: float, requires_ack: bool = True) -> Alert:
    return Alert(alert=key, kind="large_cash", severity="warning", text="客户要取现金8万元",
                 device="kiosk-1", at=at, requires_ack=requires_ack)


async def test_open_alerts_survive_a_restart_until_acknowledged(tmp_path: Path) -> None:
    clock = Clock(START)
    db = tmp_path / "branch.db"
    desk, out = await _open(db, clock)
    await desk.raise_alert(_alert("a1", clock()))
    await desk.raise_alert(_alert("a2", clock()))
    await desk.raise_alert(_alert("i1", clock(), requires_ack=False))  # told, never kept
    await desk.run("issue", "urgent", flags=["fraud"], origin="kiosk-2")  # an urgent alert
    urgent = [a for a in out.of(Alert) if a.kind == "urgent_ticket"]
    assert len(urgent) == 1 and urgent[0].device == "kiosk-2"
    assert (await desk.ack_alert("a1", by="teller-1")).alert == "a1"
    await desk.store.close()  # as good as a kill: everything above is committed

    clock.tick(86_400.0)  # an open alert outlives its day
    again, _ = await _open(db, clock)
    assert set(again.alerts) == {"a2", urgent[0].alert}
    assert again.alerts["a2"] == _alert("a2", START)
    with pytest.raises(QueueError, match="no open alert"):
        await again.ack_alert("a1")
    await again.ack_alert("a2")
    await again.store.close()
    third, _ = await _open(db, clock)
    assert set(third.alerts) == {urgent[0].alert}
    await third.store.close()


async def test_unacknowledged_calls_are_resent_after_a_restart(tmp_path: Path) -> None:
    clock = Clock(START)
    db = tmp_path / "branch.db"
    desk, out = await _open(db, clock)
    for _ in range(3):
        await desk.run("issue", "cash")
    first = await desk.run("call_next", "c1")
    await desk.run("call_next", "c2")
    await desk.run("recall", first.ticket.id)
    calls = out.of(Call)
    assert [c.number for c in calls] == ["B001", "B002", "B001"] and calls[2].recall
    assert await desk.ack_call(calls[1].call) and not await desk.ack_call(calls[1].call)
    clock.tick(5.0)
    resent = await desk.due_resends()
    # the recall replaced the first call at counter 1: only the newest is re-sent
    assert [(c.call, c.attempt) for c in resent] == [(calls[2].call, 2)]
    await desk.store.close()

    clock.tick(1.0)
    again, _ = await _open(db, clock)
    assert {k: p.message for k, p in again.pending_calls.items()} == {
        c.call: c for c in resent}  # the attempt count and the text come back too
    assert await again.due_resends() == []  # re-sent a second ago, before the restart
    clock.tick(4.0)
    assert [c.attempt for c in await again.due_resends()] == [3]
    clock.tick(60.0)  # nobody acknowledged for longer than the expiry
    assert await again.due_resends() == [] and again.pending_calls == {}
    await again.store.close()
    third, _ = await _open(db, clock)
    assert third.pending_calls == {}  # the expiry was stored too
    await third.store.close()


async def test_a_newer_call_at_a_counter_replaces_the_unacknowledged_one(tmp_path: Path) -> None:
    """A box back from a crash re-sends one call per counter, not every call it made."""
    clock = Clock(START)
    db = tmp_path / "branch.db"
    desk, out = await _open(db, clock)
    for _ in range(6):
        await desk.run("issue", "cash")
    for _ in range(3):  # three customers called at counter 1, no display acknowledged
        called = await desk.run("call_next", "c1")
        await desk.run("start", called.ticket.id)
        await desk.run("complete", called.ticket.id)
        clock.tick(1.0)
    await desk.run("call_next", "c2")
    calls = out.of(Call)
    assert [(c.number, c.counter) for c in calls] == [("B001", "1"), ("B002", "1"),
                                                     ("B003", "1"), ("B004", "2")]
    assert set(desk.pending_calls) == {calls[2].call, calls[3].call}
    await desk.store.close()
    again, _ = await _open(db, clock)
    assert set(again.pending_calls) == {calls[2].call, calls[3].call}  # stored, not just kept
    await again.store.close()


async def test_a_failed_commit_tells_nobody_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    db = tmp_path / "branch.db"
    desk, out = await _open(db, clock)
    await desk.run("issue", "cash")
    await desk.run("call_next", "c1")
    await desk.raise_alert(_alert("a1", clock()))
    calls_before, sent_before = dict(desk.pending_calls), len(out.sent)

    def disk_full(*_: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(desk.store, "_append_events", disk_full)
    with pytest.raises(StoreError):
        await desk.raise_alert(_alert("a2", clock()))
    with pytest.raises(StoreError):
        await desk.ack_alert("a1")
    with pytest.raises(StoreError):
        await desk.ack_call(next(iter(calls_before)))
    clock.tick(10.0)
    assert await desk.due_resends() == []
    assert set(desk.alerts) == {"a1"} and desk.pending_calls == calls_before
    assert len(out.sent) == sent_before
    await desk.store.close()
