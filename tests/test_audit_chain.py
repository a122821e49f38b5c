"""The audit log is append-only and hash-chained with signed checkpoints: the triggers refuse
changes, an old table is migrated, and `branch-teller audit verify` (the real CLI, in a
subprocess) names every edited, deleted, reordered or cut-off row."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge import box_key
from edge.audit_chain import GENESIS_HASH, Anchor, row_hash, sign_checkpoint, verify_log
from edge.config import AuditSettings
from edge.store import Store
from tests.conftest import REPO

EVERY = 5  # checkpoint every 5 rows in these tests


def _log(tmp_path: Path, rows: int = 12) -> Path:
    """A closed database with `rows` chained audit rows and its signed checkpoints."""
    return asyncio.run(_write_log(tmp_path, rows))


async def _write_log(tmp_path: Path, rows: int) -> Path:
    store = await Store.open(
        tmp_path / "branch.db", AuditSettings(checkpoint_every_rows=EVERY), "test-branch"
    )
    for i in range(rows):
        await store.audit("teller-1", "call_next", {"ticket": f"A{i:03d}", "counter": "c1"})
    await store.close()  # signs the tail
    return tmp_path / "branch.db"


def _verify(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "audit", "verify", "--db", str(db), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _tamper(db: Path, *sql: str) -> None:
    """What someone with the file and sqlite3 could do: drop the triggers, then change rows."""
    conn = sqlite3.connect(db, isolation_level=None)
    for name in (
        "audit_no_update",
        "audit_no_delete",
        "audit_append_at_end",
        "audit_checkpoints_no_delete",
    ):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in sql:
        conn.execute(statement)
    conn.close()


def test_intact_log_verifies_and_says_what_it_checked(tmp_path: Path) -> None:
    db = _log(tmp_path)
    done = _verify(db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain: 12 rows (ids 1-12)" in done.stdout
    assert "checkpoints: 3 signed; the newest covers row 12" in done.stdout
    assert "OK: the audit log is intact" in done.stdout


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            ['UPDATE audit SET detail = \'{"ticket": "A999"}\' WHERE id = 4'],
            "row 4: content does not match its hash (edited after it was written)",
        ),
        (["DELETE FROM audit WHERE id = 7"], "row 7: missing (deleted)"),
        (
            [
                "UPDATE audit SET id = -1 WHERE id = 3",
                "UPDATE audit SET id = 3 WHERE id = 4",
                "UPDATE audit SET id = 4 WHERE id = -1",
            ],
            "row 3: holds the row written as row 4 (rows reordered)",
        ),
        (
            ["DELETE FROM audit WHERE id > 10"],
            "checkpoint 3: signed for rows up to 12, the log ends at row 10 (truncated: 2 newest rows "
            "removed)",
        ),
    ],
    ids=["edited", "deleted", "reordered", "truncated"],
)
def test_verify_names_each_kind_of_tampering(tmp_path: Path, sql: list[str], expected: str) -> None:
    db = _log(tmp_path)
    _tamper(db, *sql)
    done = _verify(db)
    assert done.returncode == 1, done.stdout
    assert "TAMPERED" in done.stdout and expected in done.stdout, done.stdout


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoints(tmp_path: Path) -> None:
    db = _log(tmp_path)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT id, at, actor, action, detail FROM audit ORDER BY id").fetchall()
    conn.close()
    statements, prev = [], GENESIS_HASH
    for rid, at, actor, action, detail in rows:  # edit row 2, then re-hash everything after
        if rid == 2:
            detail = '{"ticket": "A777"}'
        h = row_hash(
            {"id": rid, "at": at, "actor": actor, "action": action, "detail": detail}, prev
        )
        statements.append(
            f"UPDATE audit SET detail = '{detail}', prev_hash = '{prev}', "
            f"hash = '{h}' WHERE id = {rid}"
        )
        prev = h
    _tamper(db, *statements)
    done = _verify(db)
    assert done.returncode == 1
    assert "checkpoint 1: row 5 is not the row that was signed" in done.stdout


def test_truncation_with_the_box_checkpoints_cut_too_is_caught_by_an_export(tmp_path: Path) -> None:
    db = _log(tmp_path)
    export = tmp_path / "off-box.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "audit",
            "checkpoints",
            "--db",
            str(db),
            "--export",
            str(export),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "3 checkpoints written" in done.stdout
    assert len(export.read_text().splitlines()) == 3
    _tamper(db, "DELETE FROM audit WHERE id > 10", "DELETE FROM audit_checkpoints WHERE seq = 3")
    assert _verify(db).returncode == 0  # the box alone cannot tell...
    done = _verify(db, "--checkpoints", str(export))
    assert done.returncode == 1  # ...the copy kept elsewhere can
    assert "1 from the export file" in done.stdout
    assert "checkpoint 3: signed for rows up to 12, the log ends at row 10" in done.stdout


def test_a_forged_checkpoint_is_refused(tmp_path: Path) -> None:
    db = _log(tmp_path)
    other = sign_checkpoint(Ed25519PrivateKey.generate(), 9, time.time(), "x", 12, "0" * 64)
    export = tmp_path / "forged.jsonl"
    export.write_text(json.dumps(other.to_json()) + "\n")
    done = _verify(db, "--checkpoints", str(export))
    assert done.returncode == 1
    assert "checkpoint 9: signature does not verify with the box's key" in done.stdout


def test_triggers_refuse_update_delete_and_out_of_place_inserts(tmp_path: Path) -> None:
    db = _log(tmp_path, rows=3)
    conn = sqlite3.connect(db)
    for sql in (
        "UPDATE audit SET actor = 'x' WHERE id = 1",
        "DELETE FROM audit WHERE id = 3",
        "INSERT INTO audit(id, at, actor, action, detail) VALUES (4, 1, 'a', 'b', '{}')",
        "INSERT INTO audit(id, at, actor, action, detail, prev_hash, hash) "
        "VALUES (2, 1, 'a', 'b', '{}', 'p', 'h')",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_anchors SET after_id = 99",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()
    assert _verify(db).returncode == 0


async def test_an_unchained_table_is_migrated_and_the_migration_is_stated(tmp_path: Path) -> None:
    db = tmp_path / "branch.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, at FLOAT, actor TEXT, "
        "action TEXT, detail TEXT)"
    )
    conn.executemany(
        "INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
        [
            (i, 1_700_000_000 + i, "cli", "staff_add", json.dumps({"user": f"u{i}"}))
            for i in range(5, 10)
        ],
    )  # ids 1-4 went in an old retention purge
    conn.commit()
    conn.close()
    store = await Store.open(db)
    await store.audit("teller-1", "login", {})
    rows = await store.audit_rows()
    await store.close()
    assert [r["action"] for r in rows[:2]] == ["login", "audit_chain_started"]
    assert json.loads(rows[1]["detail"])["migrated_rows"] == 5
    done = _verify(db)
    assert done.returncode == 0, done.stdout
    assert "rows 5-9 were written before the hash chain existed" in done.stdout
    store = await Store.open(db)  # a second start migrates nothing more
    assert len(await store.audit_rows()) == 7
    await store.close()


async def test_retention_removes_only_a_signed_prefix_and_the_chain_still_verifies(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "branch.db", AuditSettings(checkpoint_every_rows=EVERY))
    for i in range(12):
        await store.audit("teller-1", "call_next", {"ticket": f"A{i:03d}"})
    late = time.time() + 400 * 86_400.0
    deleted = await store.purge(late, transcript_days=30, audit_days=365, event_days=400)
    assert deleted["audit"] == 10  # up to the newest checkpoint (row 10), not beyond it
    await store.audit("teller-1", "call_next", {"ticket": "A100"})
    await store.close()
    done = _verify(tmp_path / "branch.db")
    assert done.returncode == 0, done.stdout
    assert "rows up to 10 were removed by retention" in done.stdout
    assert "chain: 3 rows (ids 11-13)" in done.stdout


def test_box_key_is_private_and_kept(tmp_path: Path) -> None:
    _log(tmp_path, rows=1)
    path = tmp_path / box_key.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    path.chmod(0o644)
    _log(tmp_path, rows=1)
    assert path.read_bytes() == first  # reused, never regenerated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # narrowed again


def test_cannot_verify_without_a_key_or_database(tmp_path: Path) -> None:
    done = _verify(tmp_path / "missing.db")
    assert done.returncode == 2 and "no such database" in done.stderr


def test_pure_verify_on_a_handmade_chain() -> None:
    key = Ed25519PrivateKey.generate()
    rows, prev = [], GENESIS_HASH
    for i in range(1, 4):
        row = {"id": i, "at": 1.5 * i, "actor": "a", "action": "b", "detail": "{}"}
        h = row_hash(row, prev)
        rows.append({**row, "prev_hash": prev, "hash": h})
        prev = h
    cp = sign_checkpoint(key, 1, 9.0, "b", 3, prev)
    genesis = Anchor(0, GENESIS_HASH, "genesis", 0.0)
    assert verify_log(rows, genesis, [cp], key.public_key()).intact
    verdict = verify_log(rows[:2], genesis, [cp], key.public_key())
    assert not verdict.intact and "truncated" in verdict.problems[0]


_KEY = Ed25519PrivateKey.generate()
_GENESIS = Anchor(0, GENESIS_HASH, "genesis", 0.0)


def _chain(details: list[str]) -> list[dict[str, object]]:
    rows, prev = [], GENESIS_HASH
    for i, detail in enumerate(details, start=1):
        row = {"id": i, "at": 1_765_000_000.25 + i, "actor": "t", "action": "a", "detail": detail}
        h = row_hash(row, prev)
        rows.append({**row, "prev_hash": prev, "hash": h})
        prev = h
    return rows


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=12), min_size=3, max_size=30),
    st.sampled_from(["edit", "delete", "swap", "truncate", "none"]),
    st.data(),
)
def test_any_single_tampering_of_a_signed_chain_is_found(
    details: list[str], how: str, data: st.DataObject
) -> None:
    rows = _chain(details)
    cp = sign_checkpoint(_KEY, 1, 0.0, "b", len(rows), str(rows[-1]["hash"]))
    n = len(rows)
    if how == "edit":
        k = data.draw(st.integers(0, n - 1))
        new = data.draw(st.text(max_size=12).filter(lambda t: t != rows[k]["detail"]))
        rows[k] = {**rows[k], "detail": new}
    elif how == "delete":
        del rows[data.draw(st.integers(0, n - 1))]
    elif how == "swap":
        j, k = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        rows[j], rows[k] = {**rows[k], "id": rows[j]["id"]}, {**rows[j], "id": rows[k]["id"]}
    elif how == "truncate":
        rows = rows[: data.draw(st.integers(0, n - 1))]
    verdict = verify_log(rows, _GENESIS, [cp], _KEY.public_key())
    assert verdict.intact is (how == "none"), verdict.problems
