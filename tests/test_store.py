"""SQLite store: events survive reopening, the connection stays on its own thread."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from edge.store import Store, StoreError


async def test_events_are_durable_and_ordered(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    await store.append_events("2026-11-25", [{"kind": "issued", "at": 1.0, "n": 1},
                                             {"kind": "called", "at": 2.0, "n": 2}])
    await store.append_events("2026-11-26", [{"kind": "issued", "at": 3.0, "n": 3}])
    await store.close()
    again = await Store.open(tmp_path / "b.db")
    assert [e["n"] for e in await again.load_events("2026-11-25")] == [1, 2]
    assert [e["n"] for e in await again.load_events()] == [1, 2, 3]
    assert await again.event_days() == ["2026-11-25", "2026-11-26"]
    await again.close()


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
