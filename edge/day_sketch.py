"""The day's statistics that the queue history does not hold: turns per channel, how each
conversation ended (ticket, self-service terminal, neither), and per-model latency sketches.

Fed where turns are already timed (the service's turn log, its answer call, the kiosk
session's committed turn), from the event loop or a worker thread; counted in memory under a
lock and written to the branch database (its own tables, on the store's thread) by the
`day_stats` job. Bounded: a latency sketch is at most `day_aggregates.BUCKETS` rows per model
per day, a conversation one row holding a random id and its outcome, never its words; rows
older than `[central] keep_days` are deleted. A crash loses at most one flush interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta

import sqlite_utils

from edge.day_aggregates import bucket_of, model_latencies
from edge.queue.day import business_day
from edge.store import Store

TURNS, OUTCOMES, LATENCY = "day_turns", "day_conversations", "day_latency"


class DaySketch:
    """In-memory counts since the last flush, and the tables they are flushed into."""

    def __init__(self, store: Store, timezone: str, rollover: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.timezone, self.rollover = timezone, rollover
        self.clock = clock
        self._lock = threading.Lock()
        self._turns: dict[tuple[str, str], int] = {}
        self._outcomes: dict[tuple[str, str], str] = {}
        self._latency: dict[tuple[str, str, int], int] = {}

    def day(self) -> str:
        return business_day(self.clock(), self.timezone, self.rollover).isoformat()

    # ------------------------------------------------------------ feeding (any thread)

    def turn(self, kind: str, timings_ms: dict[str, float]) -> None:
        """A customer turn was answered on this channel with these stage timings."""
        day = self.day()
        with self._lock:
            self._turns[day, kind] = self._turns.get((day, kind), 0) + 1
            for model, ms in model_latencies(kind, timings_ms).items():
                key = (day, model, bucket_of(ms))
                self._latency[key] = self._latency.get(key, 0) + 1

    def latency(self, model: str, ms: float) -> None:
        """One call of a model that no turn stage times on its own (the answer, the LLM)."""
        key = (self.day(), model, bucket_of(ms))
        with self._lock:
            self._latency[key] = self._latency.get(key, 0) + 1

    def conversation(self, conversation: str, outcome: str) -> None:
        """A committed turn of a conversation; outcome "ticket", "terminal" or "" (neither
        yet). The last outcome a conversation reached is how it ended."""
        key = (self.day(), conversation)
        with self._lock:
            if outcome or key not in self._outcomes:
                self._outcomes[key] = outcome or self._outcomes.get(key, "")

    # ------------------------------------------------------------ the tables

    async def flush(self) -> None:
        """Write what was counted since the last flush (the `day_stats` job, and at stop)."""
        with self._lock:
            turns, self._turns = self._turns, {}
            outcomes, self._outcomes = self._outcomes, {}
            latency, self._latency = self._latency, {}
        if turns or outcomes or latency:
            await self.store.call(_write, turns, outcomes, latency)

    async def read(self, day: str) -> tuple[int, int, dict[str, int], dict[str, dict[int, int]]]:
        """(conversations, ended at a terminal, turns per channel, model -> bucket counts)."""
        await self.flush()
        return await self.store.call(_read, day)

    async def days(self) -> list[str]:
        """Days that have statistics."""
        await self.flush()
        return await self.store.call(_days)

    async def purge(self, keep_days: int) -> None:
        cutoff = (date.fromisoformat(self.day()) - timedelta(days=keep_days)).isoformat()
        await self.store.call(_purge, cutoff)


def _ensure(db: sqlite_utils.Database) -> None:
    conn = db.conn
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TURNS} (day TEXT NOT NULL, channel TEXT NOT NULL,"
                 " n INTEGER NOT NULL, PRIMARY KEY (day, channel))")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {OUTCOMES} (day TEXT NOT NULL, conversation TEXT "
                 "NOT NULL, outcome TEXT NOT NULL, PRIMARY KEY (day, conversation))")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {LATENCY} (day TEXT NOT NULL, model TEXT NOT "
                 "NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL, "
                 "PRIMARY KEY (day, model, bucket))")


def _write(db: sqlite_utils.Database, turns: dict[tuple[str, str], int],
           outcomes: dict[tuple[str, str], str],
           latency: dict[tuple[str, str, int], int]) -> None:
    _ensure(db)
    conn = db.conn
    with conn:  # one transaction
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO {TURNS} (day, channel, n) VALUES (?, ?, ?) ON CONFLICT (day, channel) "
            "DO UPDATE SET n = n + excluded.n", [(d, c, n) for (d, c), n in turns.items()])
        conn.executemany(
            f"INSERT INTO {OUTCOMES} (day, conversation, outcome) VALUES (?, ?, ?) "
            "ON CONFLICT (day, conversation) DO UPDATE SET outcome = CASE WHEN "
            "excluded.outcome = '' THEN outcome ELSE excluded.outcome END",
            [(d, c, o) for (d, c), o in outcomes.items()])
        conn.executemany(
            f"INSERT INTO {LATENCY} (day, model, bucket, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (day, model, bucket) DO UPDATE SET n = n + excluded.n",
            [(d, m, b, n) for (d, m, b), n in latency.items()])


def _read(db: sqlite_utils.Database,
          day: str) -> tuple[int, int, dict[str, int], dict[str, dict[int, int]]]:
    _ensure(db)
    conn = db.conn
    conversations, deflected = conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM(outcome = 'terminal'), 0) FROM {OUTCOMES} "
        "WHERE day = ?", (day,)).fetchone()
    turns = dict(conn.execute(f"SELECT channel, n FROM {TURNS} WHERE day = ?", (day,)))
    latency: dict[str, dict[int, int]] = {}
    for model, bucket, n in conn.execute(
            f"SELECT model, bucket, n FROM {LATENCY} WHERE day = ?", (day,)):
        latency.setdefault(model, {})[int(bucket)] = int(n)
    return int(conversations), int(deflected), turns, latency


def _days(db: sqlite_utils.Database) -> list[str]:
    _ensure(db)
    rows = db.conn.execute(f"SELECT day FROM {TURNS} UNION SELECT day FROM {OUTCOMES}")
    return [str(r[0]) for r in rows]


def _purge(db: sqlite_utils.Database, cutoff: str) -> None:
    _ensure(db)
    with db.conn:
        db.conn.execute("BEGIN")
        for table in (TURNS, OUTCOMES, LATENCY):
            db.conn.execute(f"DELETE FROM {table} WHERE day < ?", (cutoff,))
