"""Central's fleet store, the same tests on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from provisioning.central.fleet import FleetStore, Rollout, Stage, StaleRollout
from provisioning.central.schema import SCHEMA_VERSION, SchemaError
from provisioning.central.store import SqlFleetStore, StoreError, open_store
from provisioning.central.wire import BoxHealth, BoxReport, DayAggregates, UpdateReport, WaitStats
from tests.conftest import REPO
from tests.pg_server import pg_server, pg_url  # noqa: F401  (fixtures)

CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central/fleet.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[FleetStore]:
    opened = open_store(store_url, **CHEAP)
    try:
        yield opened
    finally:
        opened.close()


def _rollout(rollout_id: str = "r1", bundle: str = "b7", created_at: float = 100.0) -> Rollout:
    return Rollout(rollout_id=rollout_id, bundle=bundle, stages=[Stage(name="pilot", tag="pilot"),
                   Stage(name="all", share=1.0)], soak_s=600, max_failures=1,
                   created_at=created_at, stage_started_at=created_at)


def _report(box_id: str, rollout: str = "", step: str = "downloading", reason: str = "",
            bundle: str = "factory") -> BoxReport:
    update = UpdateReport(rollout=rollout, bundle="b7", step=step, reason=reason)  # type: ignore[arg-type]
    return BoxReport(box_id=box_id, service_version="0.1.0", bundle=bundle,
                     components={"stt": 3}, update=update if rollout else None,
                     health=BoxHealth(uptime_s=5, trust="ok: fresh", kiosks_online=2))


def test_box_secrets_are_shown_once_and_checked(store: FleetStore) -> None:
    secret = store.add_box("sh-001", "Shanghai Pudong 001", ["pilot", "pilot", "east"])
    assert len(secret) >= 40
    assert store.authenticate("sh-001", secret)
    assert not store.authenticate("sh-001", secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not store.authenticate("nobody", secret)
    [box] = store.boxes()
    assert (box.box_id, box.branch, box.cohort_tags, box.enabled) == (
        "sh-001", "Shanghai Pudong 001", ["east", "pilot"], True)
    with pytest.raises(ValueError, match="exists"):
        store.add_box("sh-001", "again", [])
    with pytest.raises(ValueError, match="box id"):
        store.add_box("bad id!", "x", [])
    with pytest.raises(ValueError, match="tag"):
        store.add_box("sh-002", "x", ["no spaces"])
    store.set_enabled("sh-001", False)
    assert not store.authenticate("sh-001", secret)
    store.set_enabled("sh-001", True)
    assert store.authenticate("sh-001", secret)
    new = store.rotate_secret("sh-001")
    assert new != secret and store.authenticate("sh-001", new)
    assert not store.authenticate("sh-001", secret)
    with pytest.raises(KeyError):
        store.rotate_secret("nobody")
    with pytest.raises(KeyError):
        store.set_enabled("nobody", True)


def test_an_unknown_box_costs_a_hash_like_a_wrong_secret(store: FleetStore,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(store, SqlFleetStore)
    store.add_box("sh-001", "", [])
    store.add_box("sh-002", "", [])
    store.set_enabled("sh-002", False)
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(store, "_hasher", Counting(time_cost=1, memory_cost=1024,
                                                   parallelism=1))
    for box_id in ("sh-001", "sh-002", "nobody"):
        assert not store.authenticate(box_id, "guess")
    assert len(calls) == 3 and all(c.startswith("$argon2id$") for c in calls)


def test_the_secret_is_never_stored(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/fleet.db", **CHEAP)
    secret = store.add_box("sh-001", "", [])
    store.close()
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()
    [[digest]] = sqlite3.connect(tmp_path / "fleet.db").execute("SELECT secret_hash FROM boxes")
    assert digest.startswith("$argon2id$")


def test_raised_cost_rehashes_on_the_next_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    first = open_store(url, **CHEAP)
    secret = first.add_box("sh-001", "", [])
    first.close()
    second = open_store(url, argon2_time_cost=2, argon2_memory_kib=2048, argon2_parallelism=1)
    assert second.authenticate("sh-001", secret)
    second.close()
    [[digest]] = sqlite3.connect(tmp_path / "fleet.db").execute("SELECT secret_hash FROM boxes")
    assert "m=2048,t=2" in digest


def test_reports_keep_versions_health_contact_and_the_rollout_step(store: FleetStore) -> None:
    store.add_box("sh-001", "", ["pilot"])
    store.create_rollout(_rollout())
    assert store.target("r1", ["sh-001"], 0, now=200) == ["sh-001"]
    store.record_report(_report("sh-001", "r1", "downloading"), now=210)
    [box] = store.boxes()
    assert (box.service_version, box.bundle, box.components, box.last_contact) == (
        "0.1.0", "factory", {"stt": 3}, 210)
    assert box.health["trust"] == "ok: fresh" and box.health["kiosks_online"] == 2
    [row] = store.rollout_boxes("r1")
    assert (row.step, row.updated_at) == ("downloading", 210)
    # the same step again (a periodic report, a new reason) leaves updated_at: soak counts from it
    store.record_report(_report("sh-001", "r1", "downloading", "40%"), now=250)
    [row] = store.rollout_boxes("r1")
    assert (row.step, row.reason, row.updated_at) == ("downloading", "40%", 210)
    store.record_report(_report("sh-001", "r1", "failed", "smoke test: " + "x" * 1000), now=260)
    [row] = store.rollout_boxes("r1")
    assert (row.step, row.updated_at) == ("failed", 260) and len(row.reason) == 400
    # a report about a rollout that never targeted the box changes no rollout row
    store.record_report(_report("sh-001", "other", "succeeded"), now=270)
    assert [r.step for r in store.rollout_boxes("r1")] == ["failed"]
    with pytest.raises(KeyError):
        store.record_report(_report("nobody"), now=1)


def test_rollouts_are_saved_with_an_optimistic_lock(store: FleetStore) -> None:
    store.add_box("sh-001", "", [])
    rollout = _rollout()
    store.create_rollout(rollout)
    with pytest.raises(ValueError, match="exists"):
        store.create_rollout(_rollout())
    engine_copy, operator_copy = store.rollouts(), store.rollouts()
    operator_copy[0].state, operator_copy[0].reason = "halted", "by hand"
    store.save_rollout(operator_copy[0])
    engine_copy[0].stage = 1
    with pytest.raises(StaleRollout):
        store.save_rollout(engine_copy[0])
    [saved] = store.rollouts()
    assert (saved.state, saved.stage, saved.reason, saved.revision) == ("halted", 0, "by hand", 1)
    assert saved.stages == rollout.stages and saved.soak_s == 600
    operator_copy[0].state, operator_copy[0].forgiven = "running", ["sh-001"]
    store.save_rollout(operator_copy[0])  # the same holder saves again: its revision followed
    assert store.rollouts()[0].forgiven == ["sh-001"]
    with pytest.raises(KeyError):
        store.save_rollout(_rollout("nope"))
    done = _rollout("r0", created_at=50)
    done.state = "completed"
    store.create_rollout(done)
    assert [r.rollout_id for r in store.rollouts()] == ["r0", "r1"]
    assert [r.rollout_id for r in store.rollouts(include_finished=False)] == ["r1"]


def test_targets_never_twice_and_never_by_a_halted_rollout(store: FleetStore) -> None:
    for box_id in ("a", "b", "c"):
        store.add_box(box_id, "", [])
    store.create_rollout(_rollout())
    assert store.target("r1", ["a", "b"], 0, now=1) == ["a", "b"]
    assert store.target("r1", ["b", "c"], 1, now=2, step="succeeded",
                        reason="already on the bundle") == ["c"]
    rows = {r.box_id: r for r in store.rollout_boxes("r1")}
    assert (rows["b"].stage, rows["b"].step) == (0, "targeted")
    assert (rows["c"].stage, rows["c"].step, rows["c"].reason) == (1, "succeeded",
                                                                    "already on the bundle")
    [rollout] = store.rollouts()
    rollout.state = "halted"
    store.save_rollout(rollout)
    store.add_box("d", "", [])
    assert store.target("r1", ["d"], 1, now=3) == []
    with pytest.raises(KeyError):
        store.target("nope", ["a"], 0, now=3)
    with pytest.raises(ValueError):
        store.target("r1", ["a"], 0, now=3, step="bogus")  # type: ignore[arg-type]


def test_assignment_follows_the_newest_rollout_not_cancelled(store: FleetStore) -> None:
    store.add_box("a", "", [])
    store.add_box("b", "", [])
    assert store.assignment("a") == ("", "")
    store.create_rollout(_rollout("r1", "b7", created_at=100))
    store.target("r1", ["a"], 0, now=100)
    assert store.assignment("a") == ("r1", "b7") and store.assignment("b") == ("", "")
    store.create_rollout(_rollout("r2", "b8", created_at=200))
    store.target("r2", ["a"], 0, now=200)
    assert store.assignment("a") == ("r2", "b8")
    [_, r2] = store.rollouts()
    r2.state = "halted"  # a halted rollout keeps what it gave
    store.save_rollout(r2)
    assert store.assignment("a") == ("r2", "b8")
    r2.state = "cancelled"  # a cancelled one gives nothing: the older one stands
    store.save_rollout(r2)
    assert store.assignment("a") == ("r1", "b7")


def test_day_aggregates_are_idempotent_per_box_and_day(store: FleetStore) -> None:
    store.add_box("a", "", [])
    store.add_box("b", "", [])
    day = DayAggregates(tickets=40, within_target=0.9, waits={
        "cash": {"normal": WaitStats(served=30, p50_s=120, p90_s=400, within_target=0.9)}},
        turns={"voice": 12}, latency_ms={"turn": {"p50_ms": 800, "p95_ms": 1900, "n": 12}})
    store.record_day("a", "2026-12-01", day, now=1)
    store.record_day("a", "2026-12-01", DayAggregates(tickets=41), now=2)  # a resend replaces
    store.record_day("b", "2026-12-01", day, now=3)
    store.record_day("a", "2026-12-02", day, now=4)
    rows = store.days()
    assert [(b, d, a.tickets) for b, d, a in rows] == [
        ("a", "2026-12-01", 41), ("b", "2026-12-01", 40), ("a", "2026-12-02", 40)]
    assert rows[1][2] == day
    assert [d for _, d, _ in store.days(since="2026-12-02")] == ["2026-12-02"]
    assert [b for b, _, _ in store.days(until="2026-12-01")] == ["a", "b"]
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        store.record_day("a", "Dec 1", day, now=5)
    with pytest.raises(KeyError):
        store.record_day("nobody", "2026-12-01", day, now=5)


def test_the_schema_is_versioned_and_kept_on_reopen(store_url: str) -> None:
    first = open_store(store_url, **CHEAP)
    first.add_box("a", "", ["pilot"])
    first.close()
    second = open_store(store_url, **CHEAP)  # no migration runs twice
    assert [b.box_id for b in second.boxes()] == ["a"]
    assert isinstance(second, SqlFleetStore)
    with second._db.transaction() as tx:
        assert tx.rows("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        tx.run("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    second.close()
    with pytest.raises(SchemaError, match="newer than this branch-teller knows"):
        open_store(store_url, **CHEAP)


def test_bad_urls_and_unreachable_servers_are_clear(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unsupported"):
        open_store("mysql://x/y")
    with pytest.raises(StoreError, match="needs a path"):
        open_store("sqlite:///")
    with pytest.raises(StoreError, match="cannot reach"):
        open_store(f"postgresql://postgres@/x?host={tmp_path}&port=1", connect_timeout_s=1)


def test_threads_share_one_store(store: FleetStore) -> None:
    ids = [f"box-{n:02d}" for n in range(12)]
    for box_id in ids:
        store.add_box(box_id, "", [])
    store.create_rollout(_rollout())
    store.target("r1", ids, 0, now=1)
    errors: list[BaseException] = []

    def report(box_id: str) -> None:
        try:
            for n in range(10):
                store.record_report(_report(box_id, "r1", "downloading" if n < 9 else
                                            "succeeded"), now=10 + n)
                store.assignment(box_id)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=report, args=(box_id,)) for box_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert {r.step for r in store.rollout_boxes("r1")} == {"succeeded"}


WRITER = """
import sys
from provisioning.central.store import open_store
store = open_store(sys.argv[1], argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
for n in range(30):
    store.add_box(f"{sys.argv[2]}-{n}", "", [])
store.close()
"""


def test_another_process_writes_beside_an_open_store(store_url: str) -> None:
    """`central box add` while `central serve` holds the same store (SQLite: WAL)."""
    store = open_store(store_url, **CHEAP)
    try:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, store_url, "cli"], cwd=REPO)
        for n in range(30):
            store.add_box(f"server-{n}", "", [])
            store.boxes()
        assert proc.wait(timeout=60) == 0
        assert len(store.boxes()) == 60
    finally:
        store.close()
