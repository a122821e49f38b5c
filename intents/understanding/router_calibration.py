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
    """Unsure when top-1 is low, top-1 minus top-2 is small, or the request looks ambiguous."""

    min_confidence: float
    min_margin: float
    max_ambiguous: float = 1.01  # probability of the learned "ambiguous" class; >1 = off

    def is_unsure(self, top1: float, top2: float, p_ambiguous: float = 0.0) -> bool:
        """Apply the rule to one query's two best intent probabilities."""
        return (
            top1 < self.min_confidence
            or (top1 - top2) < self.min_margin
            or p_ambiguous >= self.max_ambiguous
        )

    def flags(self, probs: FloatArray, p_ambiguous: FloatArray) -> npt.NDArray[np.bool_]:
        """Vector form of `is_unsure` over rows of intent probabilities."""
        p1, p2 = top2(probs)
        return (
            (p1 < self.min_confidence)
            | ((p1 - p2) < self.min_margin)
            | (p_ambiguous >= self.max_ambiguous)
        )


def plausible(probs: FloatArray, mass: float, top_k: int = 4) -> IntArray:
    """Indices of the best intents, best first, until they cover `mass` of the probability.

    At least two (a question needs two options) and at most `top_k`: a vague request that
    spreads over its two or three readings names those, not the noise behind them. The mass is
    of the intents alone (negative entries, such as the ambiguous class masked out, count 0).
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    p = p / (p.sum() or 1.0)
    order = np.argsort(-p, kind="stable")[:top_k]
    covered = np.cumsum(p[order])
    keep = max(2, int(np.searchsorted(covered, mass - 1e-9)) + 1)
    return order[: min(keep, len(order))]


def top2(probs: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Best and second-best probability per row."""
    part = np.sort(probs, axis=1)
    return part[:, -1], part[:, -2]


def choose_unsure_rule(
    probs: FloatArray,
    labels: IntArray,
    max_unsure_rate: float = 0.04,
    p_ambiguous: FloatArray | None = None,
    ambiguous_probs: FloatArray | None = None,
    ambiguous_p_ambiguous: FloatArray | None = None,
    ambiguous_named_ok: npt.NDArray[np.bool_] | None = None,
) -> UnsureRule:
    """Catch the most validation errors and ambiguous rows while staying under an unsure budget.

    `probs` are intent probabilities of clear validation rows, `p_ambiguous` their probability
    of the learned ambiguous class; the `ambiguous_*` arrays are the same for ambiguous rows.
    `ambiguous_named_ok` marks the ambiguous rows whose question would name two of their listed
    intents: catching those counts in full, catching the others a quarter (asking beats
    guessing, but a question naming the wrong options rescues little).
    """
    p1, p2 = top2(probs)
    gap = p1 - p2
    pa = p_ambiguous if p_ambiguous is not None else np.zeros(len(p1))
    wrong = probs.argmax(axis=1) != labels
    n_wrong = max(1.0, float(wrong.sum()))
    has_amb = ambiguous_probs is not None and len(ambiguous_probs) > 0
    if has_amb and ambiguous_probs is not None:
        a1, a2 = top2(ambiguous_probs)
        agap = a1 - a2
        apa = ambiguous_p_ambiguous if ambiguous_p_ambiguous is not None else np.zeros(len(a1))
    amb_grid = np.append(np.linspace(0.05, 0.95, 19), 1.01) if p_ambiguous is not None else [1.01]
    best, best_score = UnsureRule(0.0, 0.0), -1.0
    for amb_t in amb_grid:
        by_amb = pa >= amb_t
        amb_hit = (apa >= amb_t) if has_amb else None
        for conf in np.linspace(0.0, 0.9, 31):
            by_conf = by_amb | (p1 < conf)
            for margin in np.linspace(0.0, 0.5, 26):
                unsure = by_conf | (gap < margin)
                rate = float(unsure.mean())
                if rate > max_unsure_rate:
                    break  # a wider margin only flags more
                score = float((unsure & wrong).sum()) / n_wrong
                if has_amb and amb_hit is not None:
                    asked = amb_hit | (a1 < conf) | (agap < margin)
                    if ambiguous_named_ok is None:
                        score += float(asked.mean())
                    else:
                        score += float((asked & ambiguous_named_ok).mean())
                        score += 0.25 * float(asked.mean())
                score -= 1e-3 * rate  # on ties, interrupt fewer clear requests
                if score > best_score:
                    best_score = score
                    best = UnsureRule(float(conf), float(margin), float(amb_t))
    return best


def choose_fraud_floor(probs: FloatArray, y: IntArray, fraud: int, max_asks: float) -> float:
    """The lowest fraud probability that asks about a non-fraud answer, within a budget of
    clear validation rows (those neither fraud nor answered as fraud) asked about."""
    if fraud < 0:
        return 1.01
    pred = probs.argmax(axis=1)
    clear = (y != fraud) & (pred != fraud)
    if not clear.any():
        return 1.01
    for floor in np.linspace(0.02, 0.5, 25):
        if float((probs[clear, fraud] >= floor).mean()) <= max_asks:
            return float(floor)
    return 0.5
