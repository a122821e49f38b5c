"""Durable queue throughput: the real desk (engine + SQLite WAL, synchronous=FULL) per operation.

Prints issue latency percentiles and durable operations per second next to the disk's raw
fsync latency (the floor every durable commit pays), then records the figures in
bench/results/queue_sim.json (keys ops_per_s_durable, durable_issue_ms_p99, kill_test from
bench/results/kill_test.json when present).

    python bench/queue_durable.py [--ops 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config import load_config  # noqa: E402
from edge.desk import QueueDesk  # noqa: E402
from edge.store import Store  # noqa: E402

RESULTS = REPO / "bench" / "results"


class _Quiet:
    """Broadcast sink: the benchmark measures the desk, not the network."""

    def to_callers(self, msg: Any) -> None: ...
    def to_consoles(self, msg: Any) -> None: ...
    def to_kiosks(self, msg: Any) -> None: ...


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def fsync_floor(folder: Path, n: int = 300) -> dict[str, float]:
    """Raw write+fsync latency of the disk the database lives on."""
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    times = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 128)
            t = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return {"p50_ms": pct(times, 50), "p99_ms": pct(times, 99)}


async def measure(ops: int, folder: Path) -> dict[str, Any]:
    """Issue `ops` tickets, then call and complete them at two counters, all durably."""
    settings = load_config(None).queue
    store = await Store.open(folder / "branch.db")
    desk = await QueueDesk.open(settings, store, _Quiet())
    services = ["personal", "cash", "fx"]
    issue_ms: list[float] = []
    started = time.perf_counter()
    for i in range(ops):
        t = time.perf_counter()
        await desk.run("issue", services[i % 3])
        issue_ms.append((time.perf_counter() - t) * 1000)
    served = 0
    for i in range(ops // 2):
        counter = ("c1", "c2")[i % 2]
        outcome = await desk.run("call_next", counter)
        await desk.run("complete", outcome.ticket.id)
        served += 1
    elapsed = time.perf_counter() - started
    await store.close()
    total_ops = ops + 2 * served
    return {"ops": total_ops, "ops_per_s_durable": round(total_ops / elapsed, 1),
            "durable_issue_ms_p50": round(pct(issue_ms, 50), 2),
            "durable_issue_ms_p99": round(pct(issue_ms, 99), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bt-durable-", dir=REPO))
    try:
        floor = fsync_floor(folder)
        figures = asyncio.run(measure(args.ops, folder))
    finally:
        for p in folder.glob("*"):
            p.unlink()
        folder.rmdir()
    load = os.getloadavg()
    print(f"{'disk fsync p50 / p99':<28} {floor['p50_ms']:.2f} / {floor['p99_ms']:.2f} ms")
    print(f"{'durable issue p50 / p99':<28} {figures['durable_issue_ms_p50']:.2f} / "
          f"{figures['durable_issue_ms_p99']:.2f} ms")
    print(f"{'durable ops per second':<28} {figures['ops_per_s_durable']:.0f}")
    print(f"{'load average (1 min)':<28} {load[0]:.1f}")
    out = RESULTS / "queue_sim.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data["ops_per_s_durable"] = figures["ops_per_s_durable"]
    data["durable_issue_ms_p99"] = figures["durable_issue_ms_p99"]
    data["durable"] = {**figures, "fsync_floor": floor, "load_avg_1m": round(load[0], 2),
                       "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU"}
    kill = RESULTS / "kill_test.json"
    if kill.exists():
        data["kill_test"] = json.loads(kill.read_text())
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
