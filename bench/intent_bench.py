"""Public and own-split intent benchmarks for the router architecture; writes intent_bench.json.

Every setting (C, n-gram length, unsure and out-of-scope thresholds) is chosen on validation
data carved from train (CLINC150: its own val split); each test split is scored once.
Run: .venv/bin/python bench/intent_bench.py [--only banking77,clinc150,own]
"""

from __future__ import annotations

import argparse
import csv
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

from intents.evaluate import evaluate_ambiguous, read_ambiguous, read_labelled, score_rows  # noqa: E402
from intents.router import OUT_OF_SCOPE, Router  # noqa: E402
from intents.router_calibration import expected_calibration_error, softmax  # noqa: E402
from intents.router_train import TrainConfig, holdout_accuracy  # noqa: E402

DATASETS = Path("/work/shared/datasets")
DATA = ROOT / "intents" / "data"
RESULTS = ROOT / "bench" / "results" / "intent_bench.json"
GRID = [TrainConfig(c=c, char_max=m) for m in (3, 4) for c in (0.5, 1.0, 2.0)]
SEED = 0


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
    scores = np.array([router.scores(t) for _, t in rows])
    gold = np.array([index.get(g, -1) for g, _ in rows])
    raw, cal = softmax(scores), softmax(scores, router.head.temperature)
    correct = raw.argmax(1) == gold
    return (
        expected_calibration_error(raw.max(1), correct),
        expected_calibration_error(cal.max(1), correct),
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


def bench_banking77() -> dict[str, Any]:
    """BANKING77: 15% of train carved for validation, final router fit on all of train."""

    def load(name: str) -> list[tuple[str, str]]:
        with open(DATASETS / "banking77" / name, encoding="utf-8") as fh:
            return [(r["category"], r["text"]) for r in csv.DictReader(fh)]

    train, test = load("train.csv"), load("test.csv")
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


def bench_clinc150() -> dict[str, Any]:
    """CLINC150 full: oos_train is an out_of_scope class; the threshold is chosen on val."""
    data = json.loads((DATASETS / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    train = _oos_split(data["train"] + data["oos_train"])
    val = _oos_split(data["val"] + data["oos_val"])
    test = _oos_split(data["test"] + data["oos_test"])
    print("CLINC150: choosing settings on val", flush=True)
    cfg, table = choose_config(train, val)
    router = Router.train(train, cfg, slot_parser=lambda *_: {})
    best_t, best = 0.0, -1.0
    sweep = []
    for t in np.round(np.arange(0.0, 0.96, 0.05), 2):
        ins, rec = _oos_scores(router, val, float(t))
        sweep.append({"threshold": float(t), "in_scope_accuracy": ins, "oos_recall": rec})
        if ins + rec > best:
            best_t, best = float(t), ins + rec
    ins, rec = _oos_scores(router, test, best_t)
    in_scope = [r for r in test if r[0] != OUT_OF_SCOPE]
    scored = score_rows(router, in_scope)
    before, after = _ece_before_after(router, in_scope)
    print(f"  OOS threshold {best_t} (val)  test in-scope {ins:.4f}  OOS recall {rec:.4f}")
    return {
        "in_scope_accuracy": ins,
        "oos_recall": rec,
        "oos_threshold": best_t,
        "in_scope_top1_accuracy_no_threshold": scored["top1_accuracy"],
        "ece_before_temperature": before,
        "ece": after,
        "temperature": router.head.temperature,
        "latency_ms_p50": scored["latency_ms_p50"],
        "latency_ms_p95": scored["latency_ms_p95"],
        "c": cfg.c,
        "char_max": cfg.char_max,
        "grid": table,
        "val_threshold_sweep": sweep,
        "published_best": {"in_scope_accuracy": 96.2, "oos_recall": 52.3},
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


def main() -> None:
    """Run the chosen benchmarks, print a table and write bench/results/intent_bench.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="banking77,clinc150,own")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    runners = {"banking77": bench_banking77, "clinc150": bench_clinc150, "own_split": bench_own}
    for name, run in runners.items():
        if name in wanted or (name == "own_split" and "own" in wanted):
            results[name] = run()
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
