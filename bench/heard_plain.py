"""Homophone features and spoken variants, judged by one plain fit per setting.

For each `pinyin,augment` setting given, the n-gram head is fitted once (LinearSVC, no
calibration, no encoder stage) on train.tsv and its top-1 read on test.tsv as written and as
heard (bench/intent_cv.py heard_texts: HELDOUT phrasing plus homophone mishearing). With
--carve the fit is on 80% of train.tsv and read on the other 20% (how the settings were
chosen); the test split is for the one final reading. Writes bench/results/heard_plain.json.
Run: .venv/bin/python bench/heard_plain.py [--carve] 0,0 2,1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intent_cv import heard_texts, stratified_folds  # noqa: E402
from intents.data import TEST_TSV, lang_of, load_labelled  # noqa: E402
from intents.understanding.router import DEFAULT_CONFIG  # noqa: E402
from intents.understanding.router_augment import augment  # noqa: E402
from intents.understanding.router_train import (  # noqa: E402
    _feature_lists,
    _fit_linear,
    _matrix,
    _vocabulary,
)

RESULTS = ROOT / "bench" / "results" / "heard_plain.json"


def main() -> None:
    """Fit each setting once and print / write its top-1 as written and as heard."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("settings", nargs="+", help="pinyin,augment pairs such as 0,0 2,1")
    ap.add_argument("--carve", action="store_true", help="validation carve instead of test")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    train = load_labelled()
    if args.carve:
        fold = stratified_folds(train, 5, 0)
        scored = [r for r, f in zip(train, fold, strict=True) if f == 0]
        train = [r for r, f in zip(train, fold, strict=True) if f != 0]
    else:
        scored = load_labelled(TEST_TSV)
    heard = heard_texts(scored)
    classes = sorted({i for i, _ in train})
    index = {c: k for k, c in enumerate(classes)}
    zh = np.array([lang_of(t) == "zh" for _, t in scored])
    out: dict[str, Any] = {"scored_on": "carve of train.tsv" if args.carve else "test.tsv"}
    for spec in args.settings:
        pinyin, copies = (int(x) for x in spec.split(","))
        cfg = replace(DEFAULT_CONFIG, pinyin=pinyin, augment=copies)
        start = time.perf_counter()
        spoken = augment(train, copies) if copies else []
        feats = _feature_lists([t for _, t in train] + [v for _, _, v in spoken], cfg)
        y = np.array([index[i] for i, _ in train] + [index[i] for _, i, _ in spoken])
        vocab, idf = _vocabulary(feats, 1)
        w, b = _fit_linear(_matrix(feats, vocab, idf), y, cfg)
        result: dict[str, Any] = {}
        for name, texts in (("written", [t for _, t in scored]), ("heard", heard)):
            pred = (_matrix(_feature_lists(texts, cfg), vocab, idf) @ w + b).argmax(1)
            ok = np.array([classes[k] == g for k, (g, _) in zip(pred, scored, strict=True)])
            result[name] = {"all": ok.mean(), "zh": ok[zh].mean(), "en": ok[~zh].mean()}
        result["seconds"] = time.perf_counter() - start
        out[f"pinyin={pinyin},augment={copies}"] = result
        print(spec, json.dumps(result, default=float), flush=True)
    out["load"] = os.getloadavg()
    args.out.write_text(json.dumps(out, indent=1, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
