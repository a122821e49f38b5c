"""The audit log's tables: append-only (SQLite triggers refuse UPDATE and DELETE), hash-chained
rows, the chain's anchors and the box's signed checkpoints. Every function here runs on the
store's thread with its connection (edge/store.py).

A table written before the chain existed is migrated on first start: its rows are chained in
id order from the genesis marker, the anchor records how many there were, and an
`audit_chain_started` row says so in the log itself: the chain vouches for those rows only from
the migration on, not for what they held before it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.audit_chain import GENESIS_HASH, Anchor, Checkpoint, row_hash, sign_checkpoint

_TABLES = """
CREATE TABLE IF NOT EXISTS audit_anchors (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, after_id INTEGER NOT NULL,
    after_hash TEXT NOT NULL, reason TEXT NOT NULL, migrated_rows INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, branch TEXT NOT NULL, upto_id INTEGER NOT NULL,
    upto_hash TEXT NOT NULL, public_key TEXT NOT NULL, signature TEXT NOT NULL);
"""

# Append-only: nothing is changed; rows go only at the end of the chain, hashed; the only
# deletion is a retention purge of the oldest rows, up to an anchor recorded first.
_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows are never changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
WHEN OLD.id > (SELECT COALESCE(MAX(after_id), 0) FROM audit_anchors)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows are never deleted'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_at_end BEFORE INSERT ON audit
WHEN NEW.hash IS NULL OR NEW.id IS NULL OR NEW.id <= (SELECT COALESCE(MAX(id), 0) FROM audit)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows are chained at its end'); END;
"""
_FROZEN = ("audit_anchors", "audit_checkpoints")


def ensure_chain(conn: sqlite3.Connection, now: float) -> int:
    """Tables, triggers and the genesis anchor; chains an unchained table (returns how many
    rows were migrated, 0 when there was nothing to do)."""
    conn.executescript(_TABLES)
    migrated = 0
    with _immediate(conn):  # a CLI tool starting beside the service migrates only once
        columns = {r[1] for r in conn.execute("PRAGMA table_info(audit)")}
        if "hash" not in columns:
            conn.execute("ALTER TABLE audit ADD COLUMN prev_hash TEXT")
            conn.execute("ALTER TABLE audit ADD COLUMN hash TEXT")
        if conn.execute("SELECT COUNT(*) FROM audit_anchors").fetchone()[0] == 0:
            migrated = _chain_existing(conn, now)
    script = _TRIGGERS + "".join(
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} BEGIN SELECT "
        f"RAISE(ABORT, '{t} is append-only'); END;\n"
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} BEGIN SELECT "
        f"RAISE(ABORT, '{t} is append-only'); END;\n"
        for t in _FROZEN
    )
    conn.executescript(script)
    if migrated:
        append(
            conn,
            now,
            "system",
            "audit_chain_started",
            {
                "migrated_rows": migrated,
                "note": "rows written before the hash chain existed were chained from the genesis "
                "marker at this migration; the chain vouches for them from now on only",
            },
        )
    return migrated


def _chain_existing(conn: sqlite3.Connection, now: float) -> int:
    rows = conn.execute("SELECT id, at, actor, action, detail FROM audit ORDER BY id").fetchall()
    first = rows[0][0] if rows else 1
    prev = GENESIS_HASH
    for rid, at, actor, action, detail in rows:
        row = _row(rid, at, actor, action, detail)
        h = row_hash(row, prev)
        conn.execute(
            "UPDATE audit SET at = ?, prev_hash = ?, hash = ? WHERE id = ?",
            (row["at"], prev, h, rid),
        )
        prev = h
    conn.execute(
        "INSERT INTO audit_anchors(at, after_id, after_hash, reason, migrated_rows) "
        "VALUES (?, ?, ?, 'genesis', ?)",
        (now, first - 1, GENESIS_HASH, len(rows)),
    )
    return len(rows)


def _row(rid: int, at: Any, actor: Any, action: Any, detail: Any) -> dict[str, Any]:
    return {"id": int(rid), "at": float(at), "actor": actor, "action": action, "detail": detail}


def anchors(conn: sqlite3.Connection) -> list[Anchor]:
    """Every anchor, oldest first (the genesis, then one per retention purge)."""
    return [
        Anchor(after_id=a, after_hash=h, reason=r, at=at, migrated_rows=m)
        for at, a, h, r, m in conn.execute(
            "SELECT at, after_id, after_hash, reason, migrated_rows FROM audit_anchors ORDER BY seq"
        )
    ]


def _tail(conn: sqlite3.Connection) -> tuple[int, str]:
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    if last is not None:
        return int(last[0]), str(last[1])
    anchor = anchors(conn)[-1]
    return anchor.after_id, anchor.after_hash


def append(
    conn: sqlite3.Connection, at: float, actor: str, action: str, detail: dict[str, Any]
) -> int:
    """Chain one row at the end of the log (committed before returning); returns its id."""
    with _immediate(conn):
        prev_id, prev_hash = _tail(conn)
        row = _row(prev_id + 1, at, actor, action, json.dumps(detail, ensure_ascii=False))
        conn.execute(
            "INSERT INTO audit(id, at, actor, action, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                row["at"],
                actor,
                action,
                row["detail"],
                prev_hash,
                row_hash(row, prev_hash),
            ),
        )
    return int(row["id"])


def checkpoints(conn: sqlite3.Connection) -> list[Checkpoint]:
    """The box's signed checkpoints, oldest first."""
    return [
        Checkpoint(seq=s, at=at, branch=b, upto_id=u, upto_hash=h, public_key=k, signature=sig)
        for s, at, b, u, h, k, sig in conn.execute(
            "SELECT seq, at, branch, upto_id, upto_hash, public_key, signature "
            "FROM audit_checkpoints ORDER BY seq"
        )
    ]


def unsigned_rows(conn: sqlite3.Connection) -> int:
    """Rows after the newest checkpoint."""
    signed = conn.execute("SELECT COALESCE(MAX(upto_id), 0) FROM audit_checkpoints").fetchone()[0]
    return int(conn.execute("SELECT COUNT(*) FROM audit WHERE id > ?", (signed,)).fetchone()[0])


def write_checkpoint(
    conn: sqlite3.Connection, key: Ed25519PrivateKey, branch: str, at: float
) -> Checkpoint | None:
    """Sign the newest row (None when it is signed already or the log is empty)."""
    with _immediate(conn):  # another process (a CLI tool) may be appending
        if unsigned_rows(conn) == 0:
            return None
        upto_id, upto_hash = _tail(conn)
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints").fetchone()[0]
        cp = sign_checkpoint(key, int(seq) + 1, at, branch, upto_id, upto_hash)
        conn.execute(
            "INSERT INTO audit_checkpoints(seq, at, branch, upto_id, upto_hash, public_key, "
            "signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cp.seq, cp.at, cp.branch, cp.upto_id, cp.upto_hash, cp.public_key, cp.signature),
        )
    return cp


def prune(conn: sqlite3.Connection, cutoff: float, now: float) -> int:
    """Retention: remove the oldest rows up to the newest signed checkpoint older than
    `cutoff`, anchoring the chain there first (rows are never removed anywhere else)."""
    with _immediate(conn):
        found = conn.execute(
            "SELECT c.upto_id, c.upto_hash FROM audit_checkpoints c "
            "JOIN audit a ON a.id = c.upto_id WHERE a.at < ? ORDER BY c.upto_id DESC LIMIT 1",
            (cutoff,),
        ).fetchone()
        if found is None or found[0] <= anchors(conn)[-1].after_id:
            return 0
        conn.execute(
            "INSERT INTO audit_anchors(at, after_id, after_hash, reason) "
            "VALUES (?, ?, ?, 'retention')",
            (now, found[0], found[1]),
        )
        return int(conn.execute("DELETE FROM audit WHERE id <= ?", (found[0],)).rowcount)


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (committed, or rolled back on any error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
