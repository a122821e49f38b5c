"""What neighbour naming (router_vague_names.py) adds to routing: route() on vague requests
with the saved router as it is and with its neighbours removed; writes
bench/results/vague_naming_latency.json.

The n-gram head alone (no encoder) so that only the naming differs. Rows: ambiguous.tsv
(training rows: latency only, no accuracy is read) and a sample of train.tsv, each routed
`--repeats` times, interleaved with and without the neighbours; each text's fastest repeat
counts (the shared box preempts single calls). The load average is recorded.
Run: .venv/bin/python bench/vague_naming_latency.py [--router models-own/router/router.npz]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.data import AMBIGUOUS_TSV, TRAIN_TSV, load_ambiguous, load_labelled  # noqa: E402
from intents.understanding.router import Router  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "vague_naming_latency.json"


def _timed(router: Router, texts: list[str]) -> np.ndarray:
    out = []
    for text in texts:
        start = time.perf_counter()
        router.route(text)
        out.append(time.perf_counter() - start)
    return np.array(out) * 1000.0


def _stats(ms: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
    }


def main() -> None:
    """Time both variants, print a table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--router", type=Path, default=ROOT / "models" / "router" / "router.npz")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    router = Router.load(args.router, slot_parser=lambda *_: {})
    if router.head.names is None:
        raise SystemExit(f"{args.router} has no neighbour naming: retrain it (train-router)")
    plain = Router(replace(router.head, names=None), lambda *_: {})
    vague = [t for t, _ in load_ambiguous(AMBIGUOUS_TSV)]
    clear = [t for _, t in load_labelled(TRAIN_TSV)][::20]
    load_start = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {"router": str(args.router), "n_vague": len(vague),
                              "n_clear": len(clear)}
    for name, texts in (("vague", vague), ("clear", clear)):
        with_names, without = [], []
        for _ in range(args.repeats):
            with_names.append(_timed(router, texts))
            without.append(_timed(plain, texts))
        # per text the fastest of its repeats: the shared box preempts single calls for 10-30 ms
        a, b = np.min(with_names, axis=0), np.min(without, axis=0)
        asked = float(np.mean([router.route(t).unsure for t in texts]))
        result[name] = {"with_naming": _stats(a), "without_naming": _stats(b),
                        "added_ms_mean": float(a.mean() - b.mean()), "asked_rate": asked}
    result["machine"] = {
        "cpu": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_at_start": load_start,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{'rows':8} {'variant':16} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name in ("vague", "clear"):
        for variant in ("with_naming", "without_naming"):
            s = result[name][variant]
            print(f"{name:8} {variant:16} {s['p50_ms']:8.3f} {s['p95_ms']:8.3f} {s['mean_ms']:8.3f}")
        print(f"{name:8} added mean {result[name]['added_ms_mean']:.3f} ms")
    print("load", result["machine"]["loadavg_at_start"], "->", result["machine"]["loadavg_at_end"])


if __name__ == "__main__":
    main()
