"""Choosing how much of what Whisper hears trains the router: validation carves of train.tsv.

For each of --folds stratified 20% carves of train.tsv (bench/intent_cv.stratified_folds, 5
folds, seed 0), the n-gram head is fitted (plain fit, as router.py's settings were chosen) on
the other 80%, with DEFAULT_CONFIG's spoken variants plus, per grid point, the real Whisper
transcripts of those 80% (intents/data/heard_train.tsv) and ASR-like copies made from the
confusions learned on them (router_confusion.py). Scored on the carve: top-1 on the written
rows, on the carve's own Whisper transcripts (Kokoro TRAINING styles; never in the fit), and
on intent_cv's heard rows (HELDOUT phrasing + homophone mishearing). The test split is never
read. Writes bench/results/heard_choice.json with the load.
Run: nice -n 5 .venv/bin/python bench/heard_choice.py [--folds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intent_cv import heard_texts, stratified_folds  # noqa: E402
from intents.data import TRAIN_TSV, lang_of, load_heard, load_labelled  # noqa: E402
from intents.understanding.router import DEFAULT_CONFIG  # noqa: E402
from intents.understanding.router_augment import augment, heard_variants  # noqa: E402
from intents.understanding.router_config import TrainConfig  # noqa: E402
from intents.understanding.router_confusion import learn  # noqa: E402
from intents.understanding.router_train import holdout_predictor  # noqa: E402

RESULTS: Final = ROOT / "bench" / "results" / "heard_choice.json"
GRID: Final = [
    ("no heard data", False, 0.0, 1.0),
    ("heard rows", True, 0.0, 1.0),
    ("heard rows + asr 0.5", True, 0.5, 1.0),
    ("heard rows + asr 1.0", True, 1.0, 1.0),
    ("heard rows + asr 1.0 x2", True, 1.0, 2.0),
]


def fit_rows(rows: list[tuple[str, str]], cfg: TrainConfig, heard: Any) -> list[tuple[str, str]]:
    """The rows a fit sees: the carve's training rows, spoken variants and heard variants."""
    spoken = augment(rows, cfg.augment) if cfg.augment > 0 else []
    extra, _ = heard_variants(rows, heard, cfg.heard_rows, cfg.asr_noise, cfg.asr_strength)
    return rows + [(i, t) for _, i, t in spoken + extra]


def main() -> None:
    """Fit each grid point on each carve and print the validation table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folds", type=int, default=2, help="carves scored (of 5)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = load_labelled(TRAIN_TSV)
    heard = load_heard()
    fold_of = stratified_folds(rows, 5, 0)
    load_before = os.getloadavg()
    table: dict[str, dict[str, float]] = {}
    for name, use_heard, share, strength in GRID:
        cfg = replace(DEFAULT_CONFIG, heard_rows=use_heard, asr_noise=share, asr_strength=strength)
        hits: dict[str, float] = {}
        counts: dict[str, int] = {}
        started = time.perf_counter()
        for fold in range(args.folds):
            train = [r for r, f in zip(rows, fold_of, strict=True) if f != fold]
            val = [r for r, f in zip(rows, fold_of, strict=True) if f == fold]
            val_set = set(val)
            val_heard = [(i, h) for i, ref, h in heard if (i, ref) in val_set and h]
            mis = list(zip([i for i, _ in val], heard_texts(val), strict=True))
            zh = [r for r in val if lang_of(r[1]) == "zh"]
            mis_zh = [r for r in mis if lang_of(r[1]) == "zh"]
            predict = holdout_predictor(fit_rows(train, cfg, heard), cfg)
            for key, sel in (("written", val), ("written_zh", zh), ("whisper", val_heard),
                             ("misheard", mis), ("misheard_zh", mis_zh)):
                if sel:
                    got = predict([t for _, t in sel])
                    ok = sum(g == i for g, (i, _) in zip(got, sel, strict=True))
                    hits[key] = hits.get(key, 0.0) + ok
                    counts[key] = counts.get(key, 0) + len(sel)
        table[name] = {k: round(v / counts[k], 4) for k, v in hits.items()}
        table[name]["whisper_n"] = counts.get("whisper", 0)
        table[name]["fit_s"] = round(time.perf_counter() - started, 1)
        print(name, table[name], flush=True)
    conf = learn((ref, h) for _, ref, h in heard if h)
    print(f"Whisper on {conf.pairs} pairs: {conf.rates()}; top: {conf.top(15)}")
    out = {"folds": args.folds, "heard_rows": len(heard), "grid": table,
           "confusions": {"pairs": conf.pairs, "rates": conf.rates(), "top": conf.top(30)},
           "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("| setting | written | written zh | Whisper-heard zh | misheard | misheard zh |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t in table.items():
        print(f"| {name} | {t['written']:.4f} | {t['written_zh']:.4f} | {t.get('whisper', 0):.4f} "
              f"(n={t['whisper_n']}) | {t['misheard']:.4f} | {t['misheard_zh']:.4f} |")
    print(f"load: {load_before} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
