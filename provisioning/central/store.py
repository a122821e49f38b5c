"""Central's fleet store: boxes and their credentials, rollouts, and the branches' day
aggregates, in SQLite (one file, the default) or PostgreSQL (a real fleet), with one SQL.

`open_store("sqlite:///central/fleet.db")` or `open_store("postgresql://user@host/db")`.
The SQLite file runs in WAL mode with a busy timeout, so `central serve` and the admin CLI can
use it at once. Box secrets are `secrets.token_urlsafe(32)`, shown once and kept only as
argon2id hashes; an unknown or disabled box costs the same hash as a wrong secret. No row
holds customer data: a day's aggregates are counts, shares and percentiles.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from provisioning.central.fleet import Box, FleetStore, Rollout, RolloutBox, Stage, StaleRollout
from provisioning.central.schema import (
    POSTGRES,
    SQLITE,
    VERSION_TABLE,
    Dialect,
    SchemaError,
    pending,
)
from provisioning.central.wire import STEPS, BoxReport, BoxStep, DayAggregates

DEFAULT_STORE = "sqlite:///central/fleet.db"
BOX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
LIVE_STATES = ("running", "halted")


class StoreError(Exception):
    """The store cannot be opened or used (bad URL, unreachable server, newer schema)."""


class _Tx:
    """One transaction's statements, in the dialect's placeholder style."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._dialect.sql(sql), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute; the number of rows it changed."""
        self._cursor.execute(self._dialect.sql(sql), tuple(params))
        return int(self._cursor.rowcount)


class _Database(Protocol):
    dialect: Dialect

    def transaction(self, write: bool = True) -> Any: ...  # a context manager yielding a _Tx

    def close(self) -> None: ...


class _Sqlite:
    """One connection behind a lock; WAL lets another process read and write beside it."""

    dialect = SQLITE

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[_Tx]:
        with self._lock:
            # IMMEDIATE: a writer takes the write lock up front, so two processes never
            # deadlock upgrading read locks (the busy timeout waits for the other one);
            # readers take none and run beside the other process's writer (WAL).
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _Tx(self._conn.cursor(), self.dialect)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Postgres:
    """A psycopg 3 connection pool; each transaction borrows one connection."""

    dialect = POSTGRES

    def __init__(self, url: str, pool_size: int, connect_timeout_s: float) -> None:
        from psycopg_pool import ConnectionPool, PoolTimeout

        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=False,
                                    timeout=connect_timeout_s, name="fleet")
        self._pool.open()
        try:
            self._pool.wait(timeout=connect_timeout_s)
        except PoolTimeout as err:
            self._pool.close()
            raise StoreError(f"cannot reach the PostgreSQL fleet store within "
                             f"{connect_timeout_s:g} s") from err

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[_Tx]:
        del write  # PostgreSQL locks rows as statements touch them
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield _Tx(cursor, self.dialect)

    def close(self) -> None:
        self._pool.close()


def open_store(url: str = DEFAULT_STORE, *, argon2_time_cost: int = 3,
               argon2_memory_kib: int = 65_536, argon2_parallelism: int = 4,
               pool_size: int = 8, busy_timeout_s: float = 30.0,
               connect_timeout_s: float = 10.0, reason_chars: int = 400) -> FleetStore:
    """The fleet store at `url`, its schema created or migrated to this version."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise StoreError("sqlite:/// needs a path, e.g. sqlite:///central/fleet.db")
        db: _Database = _Sqlite(Path(path), busy_timeout_s)
    elif url.startswith(("postgresql://", "postgres://")):
        db = _Postgres(url, pool_size, connect_timeout_s)
    else:
        raise StoreError(f"unsupported fleet store URL {url.split(':', 1)[0]!r}: use "
                         "sqlite:///PATH (a file) or postgresql://USER@HOST/DB")
    hasher = PasswordHasher(time_cost=argon2_time_cost, memory_cost=argon2_memory_kib,
                            parallelism=argon2_parallelism)
    try:
        _migrate(db)
    except BaseException:
        db.close()
        raise
    return SqlFleetStore(db, hasher, reason_chars)


def _migrate(db: _Database) -> None:
    with db.transaction() as tx:
        tx.run(VERSION_TABLE)
    with db.transaction() as tx:
        if db.dialect.migration_lock:
            tx.run(db.dialect.migration_lock)
        rows = tx.rows("SELECT MAX(version) FROM schema_version")
        current = int(rows[0][0] or 0)
        for version, statements in pending(current):
            for statement in statements:
                tx.run(statement)
            tx.run("INSERT INTO schema_version (version) VALUES (?)", (version,))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class SqlFleetStore:
    """FleetStore over either database; synchronous and thread-safe."""

    def __init__(self, db: _Database, hasher: PasswordHasher, reason_chars: int) -> None:
        self._db = db
        self._hasher = hasher
        self._reason_chars = reason_chars
        self._dummy_hash = ""
        self._dummy_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self._db.dialect.name

    # boxes and their credentials

    def add_box(self, box_id: str, branch: str, tags: list[str]) -> str:
        if not BOX_ID.fullmatch(box_id):
            raise ValueError(f"box id {box_id!r}: 1-64 letters, digits, '.', '_' or '-', "
                             "starting with a letter or digit")
        bad = [tag for tag in tags if not BOX_ID.fullmatch(tag)]
        if bad:
            raise ValueError(f"tag {bad[0]!r}: 1-64 letters, digits, '.', '_' or '-'")
        secret = secrets.token_urlsafe(32)
        digest = self._hasher.hash(secret)
        with self._db.transaction() as tx:
            added = tx.run("INSERT INTO boxes (box_id, branch, tags, secret_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (box_id) DO NOTHING",
                           (box_id, branch, _json(sorted(set(tags))), digest, time.time()))
        if not added:
            raise ValueError(f"box {box_id!r} exists (rotate its secret with `box rotate`)")
        return secret

    def rotate_secret(self, box_id: str) -> str:
        secret = secrets.token_urlsafe(32)
        digest = self._hasher.hash(secret)
        with self._db.transaction() as tx:
            if not tx.run("UPDATE boxes SET secret_hash = ? WHERE box_id = ?", (digest, box_id)):
                raise KeyError(f"no box {box_id!r}")
        return secret

    def authenticate(self, box_id: str, secret: str) -> bool:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT secret_hash, enabled FROM boxes WHERE box_id = ?", (box_id,))
        digest, enabled = rows[0] if rows else (self._dummy(), 0)
        try:  # hashing outside the transaction: the database is never held for argon2's time
            self._hasher.verify(digest, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if not rows or not enabled:
            return False
        if self._hasher.check_needs_rehash(digest):  # the cost settings were raised
            rehashed = self._hasher.hash(secret)
            with self._db.transaction() as tx:
                tx.run("UPDATE boxes SET secret_hash = ? WHERE box_id = ? AND secret_hash = ?",
                       (rehashed, box_id, digest))
        return True

    def _dummy(self) -> str:
        """A hash nobody knows the secret of, verified for unknown boxes (same cost)."""
        with self._dummy_lock:
            if not self._dummy_hash:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
            return self._dummy_hash

    def set_enabled(self, box_id: str, enabled: bool) -> None:
        with self._db.transaction() as tx:
            if not tx.run("UPDATE boxes SET enabled = ? WHERE box_id = ?",
                          (1 if enabled else 0, box_id)):
                raise KeyError(f"no box {box_id!r}")

    def boxes(self) -> list[Box]:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT box_id, branch, tags, service_version, bundle, components, "
                           "health, last_contact, enabled FROM boxes ORDER BY box_id")
        return [Box(box_id=r[0], branch=r[1], cohort_tags=json.loads(r[2]),
                    service_version=r[3], bundle=r[4], components=json.loads(r[5]),
                    health=json.loads(r[6]), last_contact=r[7], enabled=bool(r[8]))
                for r in rows]

    def record_report(self, report: BoxReport, now: float) -> None:
        health = msgspec.to_builtins(report.health)
        with self._db.transaction() as tx:
            if not tx.run("UPDATE boxes SET service_version = ?, bundle = ?, components = ?, "
                          "health = ?, last_contact = ? WHERE box_id = ?",
                          (report.service_version, report.bundle, _json(report.components),
                           _json(health), now, report.box_id)):
                raise KeyError(f"no box {report.box_id!r}")
            update = report.update
            if update is not None and update.rollout:
                # updated_at moves only when the step does: soak times count from it
                tx.run("UPDATE rollout_boxes SET updated_at = CASE WHEN step = ? "
                       "THEN updated_at ELSE ? END, step = ?, reason = ? "
                       "WHERE rollout_id = ? AND box_id = ?",
                       (update.step, now, update.step, update.reason[:self._reason_chars],
                        update.rollout, report.box_id))

    # rollouts

    def create_rollout(self, rollout: Rollout) -> None:
        with self._db.transaction() as tx:
            if not tx.run(
                    "INSERT INTO rollouts (rollout_id, bundle, stages, soak_s, max_failures, "
                    "state, stage, created_at, stage_started_at, stage_healthy_at, reason, "
                    "forgiven, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) "
                    "ON CONFLICT (rollout_id) DO NOTHING",
                    (rollout.rollout_id, rollout.bundle,
                     msgspec.json.encode(rollout.stages).decode(), rollout.soak_s,
                     rollout.max_failures, rollout.state, rollout.stage, rollout.created_at,
                     rollout.stage_started_at, rollout.stage_healthy_at, rollout.reason,
                     _json(rollout.forgiven))):
                raise ValueError(f"rollout {rollout.rollout_id!r} exists")
        rollout.revision = 0

    def rollouts(self, include_finished: bool = True) -> list[Rollout]:
        where = "" if include_finished else "WHERE state IN ('running', 'halted') "
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT rollout_id, bundle, stages, soak_s, max_failures, state, "
                           "stage, created_at, stage_started_at, stage_healthy_at, reason, "
                           f"forgiven, revision FROM rollouts {where}"
                           "ORDER BY created_at, rollout_id")
        return [Rollout(rollout_id=r[0], bundle=r[1],
                        stages=msgspec.json.decode(r[2], type=list[Stage]),
                        soak_s=r[3], max_failures=r[4], state=r[5], stage=r[6],
                        created_at=r[7], stage_started_at=r[8], stage_healthy_at=r[9],
                        reason=r[10], forgiven=json.loads(r[11]), revision=r[12])
                for r in rows]

    def save_rollout(self, rollout: Rollout) -> None:
        with self._db.transaction() as tx:
            changed = tx.run(
                "UPDATE rollouts SET state = ?, stage = ?, stage_started_at = ?, "
                "stage_healthy_at = ?, reason = ?, forgiven = ?, max_failures = ?, "
                "soak_s = ?, revision = revision + 1 WHERE rollout_id = ? AND revision = ?",
                (rollout.state, rollout.stage, rollout.stage_started_at,
                 rollout.stage_healthy_at, rollout.reason, _json(rollout.forgiven),
                 rollout.max_failures, rollout.soak_s, rollout.rollout_id, rollout.revision))
            if not changed:
                if not tx.rows("SELECT 1 FROM rollouts WHERE rollout_id = ?",
                               (rollout.rollout_id,)):
                    raise KeyError(f"no rollout {rollout.rollout_id!r}")
                raise StaleRollout(f"rollout {rollout.rollout_id!r} changed since it was read")
        rollout.revision += 1

    def rollout_boxes(self, rollout_id: str) -> list[RolloutBox]:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT rollout_id, box_id, stage, step, reason, updated_at "
                           "FROM rollout_boxes WHERE rollout_id = ? ORDER BY stage, box_id",
                           (rollout_id,))
        return [RolloutBox(rollout_id=r[0], box_id=r[1], stage=r[2], step=r[3], reason=r[4],
                           updated_at=r[5]) for r in rows]

    def target(self, rollout_id: str, box_ids: list[str], stage: int, now: float,
               step: BoxStep = "targeted", reason: str = "") -> list[str]:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        added: list[str] = []
        with self._db.transaction() as tx:
            state = tx.rows("SELECT state FROM rollouts WHERE rollout_id = ?", (rollout_id,))
            if not state:
                raise KeyError(f"no rollout {rollout_id!r}")
            if state[0][0] != "running":
                return []
            for box_id in box_ids:
                if tx.run("INSERT INTO rollout_boxes (rollout_id, box_id, stage, step, reason, "
                          "updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                          "ON CONFLICT (rollout_id, box_id) DO NOTHING",
                          (rollout_id, box_id, stage, step, reason[:self._reason_chars], now)):
                    added.append(box_id)
        return added

    def assignment(self, box_id: str) -> tuple[str, str]:
        # the newest rollout that targeted the box and was not cancelled: a halted one keeps
        # what it gave (the box's own probation protects it), a cancelled one gives nothing
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT r.rollout_id, r.bundle FROM rollout_boxes rb "
                           "JOIN rollouts r ON r.rollout_id = rb.rollout_id "
                           "WHERE rb.box_id = ? AND r.state <> 'cancelled' "
                           "ORDER BY r.created_at DESC, r.rollout_id DESC LIMIT 1", (box_id,))
        return (rows[0][0], rows[0][1]) if rows else ("", "")

    # day aggregates

    def record_day(self, box_id: str, day: str, aggregates: DayAggregates, now: float) -> None:
        if not DAY.fullmatch(day):
            raise ValueError(f"day {day!r}: expected YYYY-MM-DD")
        with self._db.transaction() as tx:
            if not tx.rows("SELECT 1 FROM boxes WHERE box_id = ?", (box_id,)):
                raise KeyError(f"no box {box_id!r}")
            tx.run("INSERT INTO days (box_id, day, aggregates, received_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (box_id, day) DO UPDATE SET aggregates = excluded.aggregates, "
                   "received_at = excluded.received_at",
                   (box_id, day, msgspec.json.encode(aggregates).decode(), now))

    def days(self, since: str = "", until: str = "") -> list[tuple[str, str, DayAggregates]]:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT box_id, day, aggregates FROM days "
                           "WHERE (? = '' OR day >= ?) AND (? = '' OR day <= ?) "
                           "ORDER BY day, box_id", (since, since, until, until))
        return [(r[0], r[1], msgspec.json.decode(r[2], type=DayAggregates)) for r in rows]

    def close(self) -> None:
        self._db.close()


__all__ = ["DEFAULT_STORE", "SchemaError", "SqlFleetStore", "StoreError", "open_store"]
