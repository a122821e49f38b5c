"""Transcripts expire after `[retention] transcript_days`, and expired text is gone from the
database files themselves (zeroed by secure_delete, the WAL folded in and emptied), not just
from query results."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from edge.config import BranchConfig
from edge.store import Store

OLD = "OLDTEXT-quokka-顾客说过的话-1f3a"
NEW = "NEWTEXT-wombat-还在保留期内-9c2e"


def _file_bytes(db: Path) -> bytes:
    """Every byte SQLite keeps for this database: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


def _row(at: float, text: str) -> dict[str, object]:
    return {
        "at": at,
        "device": "kiosk-1",
        "turn": 1,
        "speaker": "customer",
        "text": text,
        "intent": "deposit",
    }


async def test_expired_transcripts_are_deleted_and_unrecoverable_from_the_file(
    tmp_path: Path,
) -> None:
    retention = BranchConfig().retention
    db = tmp_path / "branch.db"
    store = await Store.open(db)
    now = time.time()
    expired = now - (retention.transcript_days + 1) * 86_400.0
    await store.add_transcripts([_row(expired, OLD) for _ in range(50)])
    await store.add_transcripts([_row(now, NEW)])
    assert OLD.encode() in _file_bytes(db)  # the check below can see text when it is there
    deleted = await store.purge(
        now, retention.transcript_days, retention.audit_days, retention.queue_event_days
    )
    assert deleted["transcripts"] == 50
    raw = _file_bytes(db)
    assert OLD.encode() not in raw and "顾客说过的话".encode() not in raw
    assert NEW.encode() in raw  # kept: still within retention
    await store.close()
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT text FROM transcripts")] == [NEW]
    conn.close()
    assert OLD.encode() not in _file_bytes(db)


async def test_transcripts_within_retention_stay(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "branch.db")
    now = time.time()
    await store.add_transcripts([_row(now - 29 * 86_400.0, NEW)])
    deleted = await store.purge(now, 30, 365, 400)
    assert deleted["transcripts"] == 0
    await store.close()
