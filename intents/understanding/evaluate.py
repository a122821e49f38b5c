"""Score a router on labelled TSV files: the numbers behind `branch-teller eval-intents`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from intents.understanding.catalog import INTENT_IDS
from intents.understanding.router import RouteResult
from intents.understanding.router_calibration import expected_calibration_error
from intents.understanding.router_clarify import clarify_candidates


class RoutesText(Protocol):
    """Anything with `route(text) -> RouteResult` (the Router, or a stub in tests)."""

    def route(self, text: str) -> RouteResult: ...


class DataFileError(ValueError):
    """A data file line that cannot be scored; the message names the file and line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


def _lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Numbered non-blank, non-comment lines; a missing or binary file is a DataFileError."""
    try:
        raw = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataFileError(path, 0, f"cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(path, 0, "file is not UTF-8 text") from exc
    for number, line in enumerate(raw.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _check_intent(path: str | Path, number: int, intent_id: str, known: Collection[str]) -> str:
    intent_id = intent_id.strip()
    if intent_id not in known:
        raise DataFileError(path, number, f"unknown intent id {intent_id!r}")
    return intent_id


def read_labelled(path: str | Path, known: Collection[str] = INTENT_IDS) -> list[tuple[str, str]]:
    """Read `intent<TAB>text` lines into (intent, text) rows, checking every intent id."""
    rows: list[tuple[str, str]] = []
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].strip():
            raise DataFileError(path, number, "expected 'intent<TAB>text'")
        rows.append((_check_intent(path, number, parts[0], known), parts[1].strip()))
    return rows


def read_ambiguous(
    path: str | Path, known: Collection[str] = INTENT_IDS
) -> list[tuple[str, list[str]]]:
    """Read `text<TAB>intent,intent,...` lines, checking every intent id."""
    rows: list[tuple[str, list[str]]] = []
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise DataFileError(path, number, "expected 'text<TAB>intent,intent,...'")
        intents = [_check_intent(path, number, i, known) for i in parts[1].split(",") if i.strip()]
        if len(intents) < 2:
            raise DataFileError(path, number, "an ambiguous line lists at least two intents")
        rows.append((parts[0].strip(), intents))
    return rows


def _timed_routes(router: RoutesText, texts: list[str]) -> tuple[list[RouteResult], list[float]]:
    results: list[RouteResult] = []
    latencies: list[float] = []
    for text in texts:
        start = time.perf_counter()
        results.append(router.route(text))
        latencies.append((time.perf_counter() - start) * 1000.0)
    return results, latencies


def _macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Macro F1 over gold classes; an unsure answer is a miss for its gold class only."""
    labels = sorted(set(gold))
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def score_rows(router: RoutesText, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy (unsure counts as wrong), macro F1, unsure rate, ECE, latency, confusions."""
    gold = [intent for intent, _ in rows]
    results, latencies = _timed_routes(router, [text for _, text in rows])
    top1 = [r.intent for r in results]
    answered = [("<unsure>" if r.unsure else r.intent) for r in results]
    correct_top1 = np.array([g == p for g, p in zip(gold, top1, strict=True)], dtype=bool)
    confidence = np.array([r.confidence for r in results], dtype=np.float64)
    confusions = Counter((g, p) for g, p in zip(gold, top1, strict=True) if g != p)
    by_language: dict[str, dict[str, float]] = {}
    for lang in sorted({r.language for r in results}):
        idx = [i for i, r in enumerate(results) if r.language == lang]
        by_language[lang] = {
            "n": len(idx),
            "accuracy": sum(answered[i] == gold[i] for i in idx) / len(idx),
            "top1_accuracy": sum(top1[i] == gold[i] for i in idx) / len(idx),
        }
    n = len(rows)
    return {
        "n": n,
        "accuracy": sum(g == p for g, p in zip(gold, answered, strict=True)) / n if n else 0.0,
        "top1_accuracy": float(correct_top1.mean()) if n else 0.0,
        "macro_f1": _macro_f1(gold, answered),
        "unsure_rate": sum(r.unsure for r in results) / n if n else 0.0,
        "ece": expected_calibration_error(confidence, correct_top1),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if n else 0.0,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if n else 0.0,
        "confusions": [
            {"expected": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(20)
        ],
        "by_language": by_language,
    }


def evaluate_intents(
    router: RoutesText, path: str | Path, known: Collection[str] = INTENT_IDS
) -> dict[str, Any]:
    """Score a router on an `intent<TAB>text` file (raises DataFileError on a bad line)."""
    return score_rows(router, read_labelled(path, known))


def evaluate_ambiguous(
    router: RoutesText, path: str | Path, known: Collection[str] = INTENT_IDS
) -> dict[str, Any]:
    """How often the router asks on ambiguous requests, and names at least two listed intents."""
    rows = read_ambiguous(path, known)
    results, _ = _timed_routes(router, [text for text, _ in rows])
    clarified = 0
    with_two = 0
    for (_, listed), result in zip(rows, results, strict=True):
        if not result.unsure:
            continue
        clarified += 1
        offered = set(clarify_candidates(result.candidates))
        if len(offered & set(listed)) >= min(2, len(listed)):
            with_two += 1
    n = len(rows)
    return {
        "n": n,
        "clarified_rate": clarified / n if n else 0.0,
        "clarified_with_two_listed_rate": with_two / n if n else 0.0,
    }
