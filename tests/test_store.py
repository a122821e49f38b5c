"""SQLite store: events survive reopening, the connection stays on its own thread."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import get_args

import pytest

from edge.queue.events import (
    ALERT_KINDS,
    DESK_KINDS,
    QUEUE_KINDS,
    SCHEMA_VERSION,
    Called,
    CallSent,
    EventLogError,
    Issued,
    NoShow,
    QueueEvent,
    decode_event,
    kind_of,
)
from edge.store import Store, StoreError


def _issued(at: float, day: str, number: str) -> Issued:
    return Issued(at=at, ticket=f"{day.replace('-', '')}-{number}", day=day, number=number,
                  service="cash", cls="normal")


async def test_events_are_durable_and_ordered(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    first: list[QueueEvent] = [_issued(1.0, "2026-11-25", "B001"), Called(at=2.0, ticket="20261125-B001",
                                                         counter="c1")]
    await store.append_events("2026-11-25", first)
    await store.append_events("2026-11-25", [CallSent(at=2.0, call="x1", number="B001",
                                                      counter="1", text_zh="请B001号", text="请B001号",
                                                      language="zh")])
    await store.append_events("2026-11-26", [_issued(3.0, "2026-11-26", "B001")])
    await store.close()
    again = await Store.open(tmp_path / "b.db")
    assert await again.load_events("2026-11-25") == first  # queue events only
    assert [e.at for e in await again.load_events()] == [1.0, 2.0, 3.0]
    assert [kind_of(e) for e in await again.load_desk_events("2026-11-25")] == ["call_sent"]
    assert await again.load_desk_events("2026-11-25", ALERT_KINDS) == []
    assert await again.event_days() == ["2026-11-25", "2026-11-26"]
    await again.close()


def _old_database(path: Path) -> None:
    """A database as the store wrote it before events were typed: no schema column."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE queue_events (seq INTEGER PRIMARY KEY, day TEXT, at FLOAT, "
                 "kind TEXT, body TEXT)")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema', '1')")
    rows = [{"kind": "issued", "at": 1, "ticket": "20261125-B001", "day": "2026-11-25",
             "number": "B001", "service": "cash", "cls": "normal", "flags": [],
             "intent": None, "appointment_at": None, "walk_in": False},
            {"kind": "called", "at": 2, "ticket": "20261125-B001", "counter": "c1"},
            {"kind": "no_show", "at": 3, "ticket": "20261125-B001"}]  # no action: cancel
    conn.executemany("INSERT INTO queue_events(day, at, kind, body) VALUES (?, ?, ?, ?)",
                     [("2026-11-25", r["at"], r["kind"], json.dumps(r)) for r in rows])
    conn.commit()
    conn.close()


async def test_rows_without_a_schema_are_upgraded_as_read(tmp_path: Path) -> None:
    _old_database(tmp_path / "b.db")
    store = await Store.open(tmp_path / "b.db")
    events = await store.load_events("2026-11-25")
    assert events[1] == Called(at=2.0, ticket="20261125-B001", counter="c1")
    assert events[2] == NoShow(at=3.0, ticket="20261125-B001", action="cancel")
    await store.append_events("2026-11-25", [_issued(4.0, "2026-11-25", "B002")])
    await store.close()
    conn = sqlite3.connect(tmp_path / "b.db")
    assert [r[0] for r in conn.execute("SELECT schema FROM queue_events ORDER BY seq")] == [
        0, 0, 0, SCHEMA_VERSION]
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == "2"
    conn.close()


async def test_a_row_from_newer_code_is_refused_not_guessed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    await store.append_events("2026-11-25", [_issued(1.0, "2026-11-25", "B001")])
    await store.close()
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("UPDATE queue_events SET schema = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    store = await Store.open(tmp_path / "b.db")
    with pytest.raises(EventLogError, match="schema 2"):
        await store.load_events()
    await store.close()


def test_decoding_refuses_rows_it_cannot_read() -> None:
    with pytest.raises(EventLogError):
        decode_event('{"kind": "teleported", "at": 1}', 0)
    with pytest.raises(EventLogError):
        decode_event('{"kind": "called", "at": 1}', SCHEMA_VERSION)  # no ticket, no counter
    with pytest.raises(EventLogError):
        decode_event("[1, 2]", 0)


async def test_wal_and_full_sync_are_on(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    await store.close()
    conn = sqlite3.connect(tmp_path / "b.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_connection_is_refused_off_its_thread(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    with pytest.raises(StoreError, match="own thread"):
        _ = store.db
    await store.close()


async def test_retention_purges_only_old_rows(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    now = time.time()
    await store.add_transcripts([
        {"at": now - 40 * 86400, "device": "k", "turn": 1, "speaker": "customer", "text": "old", "intent": ""},
        {"at": now, "device": "k", "turn": 2, "speaker": "customer", "text": "new", "intent": ""}])
    await store.audit("teller-1", "call_next", {"ticket": "A001"})
    deleted = await store.purge(now, transcript_days=30, audit_days=365, event_days=400)
    assert deleted == {"transcripts": 1, "audit": 0, "queue_events": 0}
    assert [r["action"] for r in await store.audit_rows()] == ["call_next"]
    booking = {"start": "10:00", "end": "10:30", "service": "cash", "intent": None,
               "priority_class": None, "hint": "王*8888", "status": "booked"}
    days = [time.strftime("%Y-%m-%d", time.gmtime(now + d * 86400)) for d in (-40, -2, 3)]
    await store.upsert_appointments([{**booking, "number": f"10000{i}", "day": day}
                                     for i, day in enumerate(days)], now)
    deleted = await store.purge(now, 30, 365, 400, appointment_days=30)
    assert deleted["appointments"] == 1 and await store.appointment("100000") is None
    assert await store.appointment("100001") and await store.appointment("100002")
    await store.close()


def test_every_queue_event_kind_is_stored_under_its_own_tag() -> None:
    tags = {str(t.__struct_config__.tag) for t in get_args(QueueEvent)}
    assert tags == QUEUE_KINDS and not tags & DESK_KINDS
