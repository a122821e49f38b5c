"""Calibration maths: softmax with temperature, ECE, and the unsure thresholds chosen on validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def softmax(scores: FloatArray, temperature: float = 1.0) -> FloatArray:
    """Turn linear scores into probabilities; rows are queries."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def nll(scores: FloatArray, labels: IntArray, temperature: float) -> float:
    """Mean negative log-likelihood: the quantity temperature scaling minimises."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def fit_temperature(scores: FloatArray, labels: IntArray) -> float:
    """Find the one temperature that minimises validation NLL (golden-section on log T)."""
    lo, hi = np.log(1e-3), np.log(1e3)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(scores, labels, float(np.exp(a))), nll(scores, labels, float(np.exp(b)))
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(scores, labels, float(np.exp(a)))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(scores, labels, float(np.exp(b)))
    return float(np.exp((lo + hi) / 2.0))


def expected_calibration_error(
    confidence: FloatArray, correct: npt.NDArray[np.bool_], n_bins: int = 15
) -> float:
    """15-bin ECE of top-1 confidence: how far stated confidence is from observed accuracy."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for i in range(n_bins):
        lo, hi = edges[i], edges[i + 1]
        mask = (conf > lo) & (conf <= hi) if i > 0 else (conf >= lo) & (conf <= hi)
        if mask.any():
            total += float(mask.sum()) * abs(float(conf[mask].mean()) - float(ok[mask].mean()))
    return total / float(conf.size)


@dataclass(frozen=True, slots=True)
class UnsureRule:
    """Unsure when calibrated top-1 is below min_confidence or top-1 minus top-2 below margin."""

    min_confidence: float
    min_margin: float

    def is_unsure(self, top1: float, top2: float) -> bool:
        """Apply the rule to one query's two best probabilities."""
        return top1 < self.min_confidence or (top1 - top2) < self.min_margin


def top2(probs: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Best and second-best probability per row."""
    part = np.sort(probs, axis=1)
    return part[:, -1], part[:, -2]


def choose_unsure_rule(
    probs: FloatArray,
    labels: IntArray,
    max_unsure_rate: float = 0.04,
    ambiguous_probs: FloatArray | None = None,
) -> UnsureRule:
    """Catch the most validation errors (and ambiguous rows) while staying under an unsure budget."""
    p1, p2 = top2(probs)
    wrong = probs.argmax(axis=1) != labels
    amb1, amb2 = top2(ambiguous_probs) if ambiguous_probs is not None else (None, None)
    best = UnsureRule(0.0, 0.0)
    best_score = -1.0
    for conf in np.linspace(0.0, 0.9, 46):
        for margin in np.linspace(0.0, 0.6, 31):
            unsure = (p1 < conf) | ((p1 - p2) < margin)
            if unsure.mean() > max_unsure_rate:
                continue
            caught = float((unsure & wrong).sum()) / max(1.0, float(wrong.sum()))
            score = caught
            if amb1 is not None and amb2 is not None:
                score += float(((amb1 < conf) | ((amb1 - amb2) < margin)).mean())
            # prefer the gentler rule on ties: fewer clear requests interrupted
            score -= 1e-3 * float(unsure.mean())
            if score > best_score:
                best_score, best = score, UnsureRule(float(conf), float(margin))
    return best
