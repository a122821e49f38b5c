"""SQLite persistence on one dedicated thread: queue events, audit log, masked transcripts,
the appointment book.

Every queue state change is an event, and so is every staff alert and number-caller call
(raised, acknowledged, re-sent, expired); `append_events` returns only after the transaction
is committed with WAL and synchronous=FULL, so whatever the service acknowledges survives a
crash or power cut. The queue is rebuilt at start by replaying the day's events, the open
alerts and pending calls by replaying the desk's. Rows carry their schema version
(edge/queue/events.py reads every version it knows).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge import audit_log, box_key
from edge.audit_chain import Checkpoint
from edge.config import AuditSettings
from edge.queue.events import (
    DESK_KINDS,
    QUEUE_KINDS,
    DeskEvent,
    LogEvent,
    QueueEvent,
    decode_event,
    encode_event,
    kind_of,
)
from edge.queue.events import SCHEMA_VERSION as EVENT_SCHEMA

T = TypeVar("T")

SCHEMA_VERSION = 2  # 2: queue_events rows carry their event schema; desk events share the table


class StoreError(Exception):
    """The database could not do what was asked (disk full, corrupt file...)."""


class BookingTaken(Exception):
    """A check-in found its booking no longer `booked` (checked in a moment ago, cancelled):
    nothing of the transaction was committed."""


class Store:
    """The service's database; all access goes through its single worker thread."""

    def __init__(self, path: Path, audit: AuditSettings | None = None,
                 branch: str = "") -> None:
        self.path = path
        self.audit_settings = audit or AuditSettings()
        self.branch = branch
        self.key_path = path.parent / box_key.KEY_FILE
        self._key = Ed25519PrivateKey.generate()  # replaced by the box key when opened
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite_utils.Database | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, path: Path, audit: AuditSettings | None = None,
                   branch: str = "") -> Store:
        """Open (creating if needed) the database file and its tables; the audit log's
        checkpoints are signed with the box key beside it (made on first start)."""
        store = cls(path, audit, branch)
        await store._run(store._open)
        return store

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # deleted rows (expired transcripts) are overwritten with zeros, not left in free pages
        conn.execute("PRAGMA secure_delete=ON")
        db = sqlite_utils.Database(conn)
        if "queue_events" not in db.table_names():
            db.table("queue_events").create(
                {"seq": int, "day": str, "at": float, "kind": str, "body": str}, pk="seq"
            )
            db.table("queue_events").create_index(["day"])
        if "schema" not in db.table("queue_events").columns_dict:
            # rows written before events were typed are schema 0; new rows say theirs
            conn.execute("ALTER TABLE queue_events ADD COLUMN schema INTEGER NOT NULL DEFAULT 0")
            conn.execute("CREATE INDEX IF NOT EXISTS idx_queue_events_kind ON queue_events(kind)")
        if "audit" not in db.table_names():
            db.table("audit").create(
                {"id": int, "at": float, "actor": str, "action": str, "detail": str}, pk="id"
            )
            db.table("audit").create_index(["at"])
        if "transcripts" not in db.table_names():
            db.table("transcripts").create(
                {"id": int, "at": float, "device": str, "turn": int, "speaker": str,
                 "text": str, "intent": str},
                pk="id",
            )
            db.table("transcripts").create_index(["at"])
        if "appointments" not in db.table_names():
            db.table("appointments").create(
                {"number": str, "day": str, "start": str, "end": str, "service": str,
                 "intent": str, "priority_class": str, "hint": str, "status": str,
                 "ticket": str, "checked_in_at": float, "updated_at": float},
                pk="number", not_null={"day", "start", "end", "service", "status"},
            )
            db.table("appointments").create_index(["day"])
        db.table("meta").upsert({"key": "schema", "value": str(SCHEMA_VERSION)}, pk="key")
        self._key = box_key.load_or_create(self.key_path)
        audit_log.ensure_chain(conn, time.time())
        self._db = db
        self._thread = threading.current_thread()

    async def close(self) -> None:
        """Checkpoint and close; safe to call twice."""
        if self._db is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        assert self._db is not None
        audit_log.write_checkpoint(self._db.conn, self._key, self.branch, time.time())
        self._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.conn.close()
        self._db = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as err:
            raise StoreError(f"database error: {err}") from err

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(db, *args)` on the store's thread (for modules that own their tables)."""
        return await self._run(lambda: fn(self.db, *args))

    @property
    def db(self) -> sqlite_utils.Database:
        """The connection; only valid on the store's own thread."""
        if self._db is None:
            raise StoreError("the store is closed")
        if threading.current_thread() is not self._thread:
            raise StoreError("the store may only be used on its own thread")
        return self._db

    # ------------------------------------------------------------ queue events

    async def append_events(self, day: str, events: Sequence[LogEvent],
                            check_in: tuple[str, str, float] | None = None) -> None:
        """Commit events durably (one transaction) before anyone is told about them; queue and
        desk events of one operation go in together.

        `check_in` = (booking number, ticket number, at): the booking is marked checked in
        with that ticket in the same transaction; if it is no longer `booked`, nothing is
        committed and BookingTaken is raised."""
        if events:
            await self._run(self._append_events, day, list(events), check_in)

    def _append_events(self, day: str, events: list[LogEvent],
                       check_in: tuple[str, str, float] | None) -> None:
        conn = self.db.conn
        rows = [(day, e.at, kind_of(e), encode_event(e), EVENT_SCHEMA) for e in events]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO queue_events(day, at, kind, body, schema) VALUES (?, ?, ?, ?, ?)",
                rows)
            if check_in is not None:
                number, ticket, at = check_in
                marked = conn.execute(
                    "UPDATE appointments SET status = 'checked_in', ticket = ?, "
                    "checked_in_at = ?, updated_at = ? WHERE number = ? AND status = 'booked'",
                    (ticket, at, at, number)).rowcount
                if marked != 1:
                    raise BookingTaken(number)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def load_events(self, day: str | None = None) -> list[QueueEvent]:
        """Queue events in commit order, of one business day or all (old rows upgraded)."""
        events = await self._run(self._load_events, day, QUEUE_KINDS)
        return [e for e in events if isinstance(e, QueueEvent)]  # all are: the kinds say so

    async def load_desk_events(self, day: str | None = None,
                               kinds: frozenset[str] = DESK_KINDS) -> list[DeskEvent]:
        """Alert and call events in commit order, of one business day or all; `kinds` narrows
        them (open alerts outlive their day, calls do not)."""
        events = await self._run(self._load_events, day, kinds & DESK_KINDS)
        return [e for e in events if isinstance(e, DeskEvent)]

    def _load_events(self, day: str | None, kinds: frozenset[str]) -> list[LogEvent]:
        marks = ", ".join("?" * len(kinds))
        sql = f"SELECT body, schema FROM queue_events WHERE kind IN ({marks})"
        params: tuple[str, ...] = tuple(sorted(kinds))
        if day is not None:
            sql += " AND day = ?"
            params = (*params, day)
        rows = self.db.conn.execute(sql + " ORDER BY seq", params).fetchall()
        return [decode_event(body, schema) for body, schema in rows]

    async def event_days(self) -> list[str]:
        """Business days that have queue events, oldest first."""
        return await self._run(
            lambda: [r[0] for r in self.db.conn.execute(
                "SELECT DISTINCT day FROM queue_events ORDER BY day")]
        )

    # ------------------------------------------------------------ audit and transcripts

    async def audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Record a staff action or compliance decision (durably, chained, before it is
        reported done); every `audit.checkpoint_every_rows` rows the box signs a checkpoint."""
        await self._run(self._audit, time.time(), actor, action, detail)

    def _audit(self, at: float, actor: str, action: str, detail: dict[str, Any]) -> None:
        conn = self.db.conn
        audit_log.append(conn, at, actor, action, detail)
        if audit_log.unsigned_rows(conn) >= self.audit_settings.checkpoint_every_rows:
            audit_log.write_checkpoint(conn, self._key, self.branch, at)

    async def audit_checkpoint(self, now: float) -> Checkpoint | None:
        """Sign the newest audit row now (None when nothing is unsigned)."""
        return await self._run(
            lambda: audit_log.write_checkpoint(self.db.conn, self._key, self.branch, now))

    async def audit_rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """Most recent audit rows first."""
        return await self._run(
            lambda: list(self.db.table("audit").rows_where(
                select="id, at, actor, action, detail", order_by="id desc", limit=limit))
        )

    async def add_transcripts(self, rows: Iterable[dict[str, Any]]) -> None:
        """Store already-masked transcript lines."""
        batch = list(rows)
        if batch:
            await self._run(lambda: self.db.table("transcripts").insert_all(batch))

    async def purge(self, now: float, transcript_days: int, audit_days: int,
                    event_days: int, appointment_days: int | None = None) -> dict[str, int]:
        """Delete records past their retention period; returns rows deleted per table.
        Bookings go `appointment_days` after their booked day (None keeps them)."""
        return await self._run(self._purge, now, transcript_days, audit_days, event_days,
                               appointment_days)

    def _purge(self, now: float, transcript_days: int, audit_days: int,
               event_days: int, appointment_days: int | None) -> dict[str, int]:
        conn = self.db.conn
        out: dict[str, int] = {}
        for table, days in (("transcripts", transcript_days), ("queue_events", event_days)):
            cur = conn.execute(f"DELETE FROM {table} WHERE at < ?", (now - days * 86_400.0,))
            out[table] = cur.rowcount
        out["audit"] = audit_log.prune(conn, now - audit_days * 86_400.0, now)
        if appointment_days is not None:
            # ISO days compare as text; UTC's date is at most a day off the branch's
            cutoff = time.strftime("%Y-%m-%d", time.gmtime(now - appointment_days * 86_400.0))
            out["appointments"] = conn.execute(
                "DELETE FROM appointments WHERE day < ?", (cutoff,)).rowcount
        if any(out.values()):
            # the WAL still holds the deleted rows' old pages: fold it in and empty it, so
            # the text is gone from every file (secure_delete zeroed it in the database)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return out

    # ------------------------------------------------------------ appointment book

    async def upsert_appointments(self, rows: Sequence[dict[str, Any]], now: float,
                                  force: bool = False) -> dict[str, int]:
        """Add or update bookings in one transaction (all or nothing).

        A booking still `booked` takes the new values; one already checked in or cancelled
        keeps its state (re-importing the same file changes nothing) unless `force`."""
        return await self._run(self._upsert_appointments, list(rows), now, force)

    def _upsert_appointments(self, rows: list[dict[str, Any]], now: float,
                             force: bool) -> dict[str, int]:
        conn = self.db.conn
        counts = {"added": 0, "updated": 0, "unchanged": 0, "kept": 0}
        fields = ("day", "start", "end", "service", "intent", "priority_class", "hint", "status")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                old = conn.execute(
                    f"SELECT {', '.join(fields)} FROM appointments WHERE number = ?",
                    (row["number"],)).fetchone()
                values = tuple(row.get(f) for f in fields)
                if old is None:
                    conn.execute(
                        f"INSERT INTO appointments(number, {', '.join(fields)}, updated_at) "
                        f"VALUES (?, {', '.join('?' * len(fields))}, ?)",
                        (row["number"], *values, now))
                    counts["added"] += 1
                elif old[-1] not in ("booked", "expired") and not force:
                    counts["kept"] += 1
                elif tuple(old) == values or (
                        old[-1] == "expired" and values[-1] == "booked"
                        and tuple(old[:-1]) == values[:-1]):
                    # a past day's booking the file still lists as booked: nothing new
                    counts["unchanged"] += 1
                else:
                    sets = ", ".join(f"{f} = ?" for f in fields)
                    conn.execute(
                        f"UPDATE appointments SET {sets}, ticket = NULL, checked_in_at = NULL, "
                        "updated_at = ? WHERE number = ?", (*values, now, row["number"]))
                    counts["updated"] += 1
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return counts

    async def appointment(self, number: str) -> dict[str, Any] | None:
        """One booking by its number, or None."""
        def get() -> dict[str, Any] | None:
            rows = list(self.db.table("appointments").rows_where("number = ?", [number]))
            return rows[0] if rows else None

        return await self._run(get)

    async def appointments_on(self, day: str) -> list[dict[str, Any]]:
        """A day's bookings in time order."""
        return await self._run(lambda: list(self.db.table("appointments").rows_where(
            "day = ?", [day], order_by="start, number")))

    async def expire_appointments(self, today: str, at: float) -> int:
        """Bookings of past days never checked in become `expired`; returns how many."""
        return await self._run(lambda: self.db.conn.execute(
            "UPDATE appointments SET status = 'expired', updated_at = ? "
            "WHERE status = 'booked' AND day < ?", (at, today)).rowcount)
