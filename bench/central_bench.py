"""Central's server on 127.0.0.1: what a box's report costs (argon2 at argon2-cffi's default
cost, with and without the credential cache), how long the rollout tick takes to nudge many
linked boxes, and how fast a target streams from /repo/targets.

    .venv/bin/python -m bench.central_bench [--links 200] [--out bench/results/central_server.json]

The boxes are websockets clients in this same process (so their CPU counts against central's),
and the fleet store is the real one (`open_store`, a SQLite file in a temporary folder) with
the real rollout engine: the figures include SQLite's cost per report and per tick. Wall
clock on a shared machine: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from provisioning.central.fleet import FleetStore, Rollout
from provisioning.central.rollout import parse_stages, step
from provisioning.central.server import serve
from provisioning.central.server_settings import CentralServerSettings
from provisioning.central.store import open_store
from provisioning.central.wire import ENCODER, BoxReport

REPO = Path(__file__).resolve().parent.parent
TARGET_MB = 64
# cheap argon2 where argon2 is not what is measured (registering and linking many boxes)
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def _store(tmp: Path, cheap: bool = True) -> FleetStore:
    """A fresh real fleet store (SQLite) in its own file."""
    url = f"sqlite:///{tempfile.mkdtemp(dir=tmp)}/fleet.db"
    return open_store(url, **CHEAP) if cheap else open_store(url)


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
    }


async def _reports(url: str, box: str, secret: str, n: int) -> list[float]:
    body = ENCODER.encode(BoxReport(box_id=box, service_version="0.1.0", bundle="factory"))
    headers = {"Authorization": f"Bearer {box}:{secret}", "Content-Type": "application/json"}
    took: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            start = time.perf_counter()
            async with http.post(f"{url}/api/v1/report", data=body, headers=headers) as r:
                assert r.status == 200, r.status
                await r.read()
            took.append(time.perf_counter() - start)
    return took


async def _report_costs(tmp: Path, n: int) -> dict[str, Any]:
    """Report round trips with the credential cache (the usual case) and without it."""
    out: dict[str, Any] = {}
    for label, cache_s in (("cached", 60.0), ("argon2_each_time", 0.0)):
        store = _store(tmp, cheap=False)  # open_store's argon2 defaults (the real cost)
        secret = store.add_box("box-0", "bench", [])
        settings = CentralServerSettings(auth_cache_s=cache_s)
        server = await serve(store, _repo(tmp), step, tick_s=3600, settings=settings)
        try:
            await _reports(server.url, "box-0", secret, 1)  # warm (and fill the cache)
            out[label] = _ms(await _reports(server.url, "box-0", secret, n))
        finally:
            await server.stop()
            store.close()
    return out


async def _nudge_fanout(tmp: Path, links: int) -> dict[str, Any]:
    """Open `links` box links, start a rollout for all, time one tick until every box has
    its Nudge."""
    store = _store(tmp)
    secrets = {f"box-{i:04d}": store.add_box(f"box-{i:04d}", "bench", []) for i in range(links)}
    server = await serve(store, _repo(tmp), step, tick_s=3600)
    ws_url = server.url.replace("http://", "ws://") + "/api/v1/link"
    conns: list[ClientConnection] = []
    try:
        start = time.perf_counter()
        for box, secret in secrets.items():
            ws = await connect(ws_url, additional_headers={"Authorization": f"Bearer {box}:{secret}"})
            await ws.send(ENCODER.encode(BoxReport(box_id=box, service_version="0", bundle="f")).decode())
            await ws.recv()
            conns.append(ws)
        connect_s = time.perf_counter() - start
        now = time.time()
        store.create_rollout(Rollout(rollout_id="r1", bundle="b1", stages=parse_stages("all"),
                                     soak_s=0, max_failures=0, created_at=now,
                                     stage_started_at=now))
        start = time.perf_counter()
        targeted = await server.tick()
        tick_s = time.perf_counter() - start
        await asyncio.gather(*(asyncio.wait_for(ws.recv(), 60) for ws in conns))
        all_nudged_s = time.perf_counter() - start
        assert len(targeted) == links
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        await server.stop()
        store.close()
    return {"links": links, "connect_and_first_report_s": round(connect_s, 3),
            "tick_s": round(tick_s, 4), "all_nudged_s": round(all_nudged_s, 4)}


async def _download(tmp: Path) -> dict[str, Any]:
    repo = _repo(tmp)
    target = repo / "targets" / "stt" / "big.tar"
    target.write_bytes(os.urandom(TARGET_MB * 1024 * 1024))
    store = _store(tmp)
    server = await serve(store, repo, step, tick_s=3600)
    try:
        async with aiohttp.ClientSession() as http:
            start = time.perf_counter()
            got = 0
            async with http.get(f"{server.url}/repo/targets/stt/big.tar") as r:
                async for chunk in r.content.iter_chunked(256 * 1024):
                    got += len(chunk)
            took = time.perf_counter() - start
    finally:
        await server.stop()
        store.close()
    assert got == TARGET_MB * 1024 * 1024
    return {"mb": TARGET_MB, "s": round(took, 3), "mb_per_s": round(TARGET_MB / took, 1)}


def _repo(tmp: Path) -> Path:
    repo = Path(tempfile.mkdtemp(dir=tmp))
    (repo / "metadata").mkdir()
    (repo / "targets" / "stt").mkdir(parents=True)
    return repo


async def _main(links: int, reports: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        load_before = [f"{x:.2f}" for x in os.getloadavg()]
        results: dict[str, Any] = {
            "report_round_trip": await _report_costs(Path(tmp), reports),
            "nudge_fanout": await _nudge_fanout(Path(tmp), links),
            "target_download": await _download(Path(tmp)),
        }
        results["load_before"] = load_before
        results["load_after"] = [f"{x:.2f}" for x in os.getloadavg()]
        results["cores"] = os.cpu_count()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "central_server.json"))
    args = parser.parse_args()
    results = asyncio.run(_main(args.links, args.reports))
    rt = results["report_round_trip"]
    fan = results["nudge_fanout"]
    dl = results["target_download"]
    print(f"{'measure':44} {'value':>22}")
    print(f"{'report round trip, credential cached':44} {rt['cached']['p50_ms']:>9} ms p50 {rt['cached']['p95_ms']:>6} p95")
    each = rt["argon2_each_time"]
    print(f"{'report round trip, argon2 every time':44} {each['p50_ms']:>9} ms p50 {each['p95_ms']:>6} p95")
    print(f"{'links opened (each with a first report)':44} {fan['links']:>10} in {fan['connect_and_first_report_s']} s")
    print(f"{'rollout tick targeting every box':44} {fan['tick_s']:>19} s")
    print(f"{'... until every linked box has its Nudge':44} {fan['all_nudged_s']:>19} s")
    print(f"{'target download (64 MB) from /repo/targets':44} {dl['mb_per_s']:>14} MB/s")
    print(f"load average before/after: {' '.join(results['load_before'])} / {' '.join(results['load_after'])}")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
