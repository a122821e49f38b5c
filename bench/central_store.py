"""Central's fleet store at a bank's size: a fleet of boxes reporting, the rollout engine's
tick and the admin views, on SQLite and on a real PostgreSQL server (started here, as the
tests do), plus the cost of one box login (argon2id at its default cost).

    .venv/bin/python -m bench.central_store [--boxes 5000] [--out bench/results/central_store.json]

Wall clock on a shared machine: the load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from provisioning.central.fleet import FleetStore, Rollout
from provisioning.central.report import compare
from provisioning.central.rollout import parse_stages, step
from provisioning.central.status import fleet_status
from provisioning.central.store import open_store
from provisioning.central.wire import BoxHealth, BoxReport, DayAggregates, UpdateReport, WaitStats

REPO = Path(__file__).resolve().parent.parent
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def _timed(results: dict[str, Any], label: str, fn: Callable[[], object]) -> None:
    started = time.perf_counter()
    fn()
    results[label] = round(time.perf_counter() - started, 3)
    print(f"  {label}: {results[label]} s", file=sys.stderr)


def _report(box_id: str, n: int) -> BoxReport:
    return BoxReport(box_id=box_id, service_version="0.1.0", bundle="b6",
                     components={"stt": 3, "router": 7},
                     update=UpdateReport(rollout="r1", bundle="b7",
                                         step="succeeded" if n else "downloading"),
                     health=BoxHealth(uptime_s=n, trust="ok: fresh", kiosks_online=2))


def _day() -> DayAggregates:
    return DayAggregates(tickets=180, within_target=0.86, conversations=60, deflected=0.3,
                         turns={"voice": 120, "text": 40},
                         waits={"cash": {"normal": WaitStats(served=120, p50_s=300, p90_s=900)}},
                         latency_ms={"turn": {"p50_ms": 900, "p95_ms": 2100, "n": 160}})


def run_backend(store: FleetStore, boxes: int) -> dict[str, Any]:
    ids = [f"box-{n:05d}" for n in range(boxes)]
    out: dict[str, Any] = {"boxes": boxes}
    _timed(out, "add_boxes_s", lambda: [store.add_box(b, f"Branch {b}", ["pilot"] if i < 20
                                                      else []) for i, b in enumerate(ids)])
    now = time.time()
    store.create_rollout(Rollout(rollout_id="r1", bundle="b7", stages=parse_stages(
        "pilot,10%,all"), soak_s=0, max_failures=boxes, created_at=now, stage_started_at=now))
    _timed(out, "step_first_tick_s", lambda: step(store, now))
    for stage in range(3):  # every box succeeds, the engine walks the stages
        for b in [r.box_id for r in store.rollout_boxes("r1") if r.stage == stage]:
            store.record_report(_report(b, 1), now)
        if stage < 2:
            step(store, now)
    _timed(out, "step_tick_all_targeted_s", lambda: step(store, now + 1))
    out["rollout_state"] = store.rollouts()[0].state

    def reports() -> None:
        for b in ids:
            store.record_report(_report(b, 2), now + 2)

    _timed(out, "reports_serial_s", reports)
    out["reports_per_s_serial"] = round(boxes / out["reports_serial_s"], 1)

    def threaded() -> None:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda b: store.record_report(_report(b, 3), now + 3), ids))

    _timed(out, "reports_4_threads_s", threaded)
    out["reports_per_s_4_threads"] = round(boxes / out["reports_4_threads_s"], 1)
    _timed(out, "status_view_s", lambda: fleet_status(
        store.boxes(), [(r, store.rollout_boxes(r.rollout_id)) for r in store.rollouts()],
        time.time(), 1800))
    def days() -> None:
        for b in ids:
            store.record_day(b, "2026-12-01", _day(), now)

    _timed(out, "record_days_s", days)
    _timed(out, "report_view_s", lambda: compare(store.days(), store.boxes()))
    return out


def login_cost(url: str, tries: int = 10) -> dict[str, float]:
    """One box login at the default argon2id cost (time 3, 64 MiB, 4 lanes)."""
    store = open_store(url)
    try:
        secret = store.add_box("login-cost", "", [])
        started = time.perf_counter()
        for _ in range(tries):
            assert store.authenticate("login-cost", secret)
        good = (time.perf_counter() - started) / tries
        started = time.perf_counter()
        for _ in range(tries):
            assert not store.authenticate("nobody", secret)
        unknown = (time.perf_counter() - started) / tries
    finally:
        store.close()
    return {"login_ms": round(good * 1000, 1), "unknown_box_ms": round(unknown * 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=5000)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "central_store.json"))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
                               "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite", file=sys.stderr)
        url = f"sqlite:///{tmp}/fleet.db"
        store = open_store(url, **CHEAP)
        try:
            results["sqlite"] = run_backend(store, args.boxes)
        finally:
            store.close()
        results["sqlite"].update(login_cost(f"sqlite:///{tmp}/login.db"))
    if not args.no_postgres:
        from tests.pg_server import start_server, stop_server

        print("postgresql", file=sys.stderr)
        server = start_server()
        try:
            store = open_store(server.url(server.create_database()), **CHEAP)
            try:
                results["postgresql"] = run_backend(store, args.boxes)
            finally:
                store.close()
            results["postgresql"].update(login_cost(server.url(server.create_database())))
        finally:
            stop_server(server)
    results["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    keys = [k for k in results["sqlite"] if k != "boxes"]
    backends = [b for b in ("sqlite", "postgresql") if b in results]
    print(f"{'figure':28}" + "".join(f"{b:>14}" for b in backends))
    for key in keys:
        print(f"{key:28}" + "".join(f"{results[b].get(key, '-')!s:>14}" for b in backends))
    print(f"load average {results['loadavg_start']} -> {results['loadavg_end']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
