"""Is this request vague? A dedicated decision beside the router's own unsure rule.

The router's unsure rule (confidence, margin, the learned "ambiguous" class) reads one
softmax; a vague request ("我账户有点问题", "I need a loan") often gets a confident answer
there, because clear rows with the same words outvote the few vague ones. This head is a
binary vague-vs-clear decision trained on intents/data/ambiguous.tsv against the clear rows:
1. a logistic regression on the router's own n-gram TF-IDF vector (the words of vagueness:
   "有点问题", "怎么办", "doesn't work", a bare noun);
2. stacked with the router's distribution (top-1, margin, entropy, p(ambiguous)), whose
   training values are the out-of-fold ones fit_head already computes;
3. one threshold, chosen on out-of-fold scores so that at most `max_clear_rate` of clear
   validation rows would be asked about.
A vague request then names its `named` best intents (never out_of_scope) in the question;
router_vague_names.py fuses them with what the nearest vague training rows list.
Pure numpy at inference; scikit-learn only while training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
N_SUMMARY: Final = 4  # top-1, margin, entropy, p(ambiguous)


@dataclass(frozen=True, slots=True)
class VagueHead:
    """Word weights over the router's vocabulary, a stacker over (word score, summary)."""

    word_weights: npt.NDArray[np.float32]  # (n_vocab,) over the router's TF-IDF features
    word_bias: float
    stack_weights: FloatArray  # (1 + N_SUMMARY,): word score, then the distribution summary
    stack_bias: float
    threshold: float  # stacked score at or above which a request is asked about
    named: int = 3  # intents a vague request's question names

    def score(self, word_score: float, summary: FloatArray) -> float:
        """The stacked vague score of one request."""
        x = np.concatenate([[word_score], summary])
        return float(x @ self.stack_weights + self.stack_bias)

    def is_vague(self, word_score: float, summary: FloatArray) -> bool:
        """Whether to ask about this request although the router answered it."""
        return self.score(word_score, summary) >= self.threshold


def summary(intent_probs: FloatArray, p_ambiguous: FloatArray | float) -> FloatArray:
    """(top-1, top-1 minus top-2, entropy, p(ambiguous)) per row of intent probabilities."""
    p = np.clip(np.atleast_2d(np.asarray(intent_probs, dtype=np.float64)), 0.0, None)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    s = np.sort(p, axis=1)
    ent = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=1)
    pa = np.broadcast_to(np.asarray(p_ambiguous, dtype=np.float64), (len(p),))
    out: FloatArray = np.stack([s[:, -1], s[:, -1] - s[:, -2], ent, pa], axis=1)
    return out


def _folds(n: int, k: int, seed: int) -> npt.NDArray[np.int64]:
    return np.random.default_rng(seed).permutation(n) % k


def _logistic(x: Any, y: npt.NDArray[np.int64], c: float, seed: int) -> tuple[FloatArray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)
    model.fit(x, y)
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


def fit_vague(
    x_words: Any,
    y: npt.NDArray[np.int64],
    oof_summary: FloatArray,
    max_clear_rate: float,
    c: float = 1.0,
    folds: int = 5,
    seed: int = 0,
) -> tuple[VagueHead, dict[str, FloatArray]]:
    """Fit on TF-IDF rows `x_words` (scipy sparse), y 1 = vague, 0 = clear.

    `oof_summary` is each row's distribution summary from a router that never saw it. The word
    model's stacking input is out-of-fold too, so the threshold is read off held-out scores.
    Returns the head and the out-of-fold stacked scores (for the curve and the report).
    """
    y = np.asarray(y, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise ValueError("fit_vague needs both vague and clear rows")
    fold_of = _folds(len(y), folds, seed)
    word_oof = np.zeros(len(y))
    for f in range(folds):
        held, kept = fold_of == f, fold_of != f
        w, b = _logistic(x_words[kept], y[kept], c, seed)
        word_oof[held] = x_words[held] @ w + b
    stack_x = np.column_stack([word_oof, oof_summary])
    stack_oof = np.zeros(len(y))
    for f in range(folds):
        held, kept = fold_of == f, fold_of != f
        sw, sb = _logistic(stack_x[kept], y[kept], 1.0, seed)
        stack_oof[held] = stack_x[held] @ sw + sb
    threshold = threshold_for(stack_oof[y == 0], max_clear_rate)
    w, b = _logistic(x_words, y, c, seed)
    sw, sb = _logistic(stack_x, y, 1.0, seed)
    head = VagueHead(w.astype(np.float32), b, sw, sb, threshold)
    return head, {"clear": stack_oof[y == 0], "vague": stack_oof[y == 1]}


def threshold_for(clear_scores: FloatArray, max_clear_rate: float) -> float:
    """The lowest threshold that asks about at most `max_clear_rate` of the clear rows."""
    s = np.sort(np.asarray(clear_scores, dtype=np.float64))[::-1]
    k = int(np.floor(max_clear_rate * len(s)))
    if len(s) == 0:
        return float("inf")
    return float(np.nextafter(s[k], np.inf)) if k < len(s) else float(s[-1])


def name_vague(
    intent_probs: FloatArray, intents: Sequence[str], named: int, skip: str = "out_of_scope"
) -> list[tuple[str, float]]:
    """The `named` most likely intents of a vague request, best first, never `skip`."""
    order = np.argsort(-np.asarray(intent_probs), kind="stable")
    out = [(intents[j], float(intent_probs[j])) for j in order if intents[j] != skip]
    return out[:named]


def vague_arrays(head: VagueHead | None) -> dict[str, npt.NDArray[Any]]:
    """The head as named arrays for the router's .npz (nothing when there is none)."""
    if head is None:
        return {}
    meta = np.array([head.word_bias, head.stack_bias, head.threshold, float(head.named)])
    return {
        "vague_word_weights": head.word_weights,
        "vague_stack_weights": head.stack_weights,
        "vague_meta": meta,
    }


def vague_from(data: Any) -> VagueHead | None:
    """Read the head back from a loaded .npz; None for a router saved without one."""
    if "vague_meta" not in data:
        return None
    m = data["vague_meta"]
    return VagueHead(
        data["vague_word_weights"].astype(np.float32),
        float(m[0]),
        data["vague_stack_weights"].astype(np.float64),
        float(m[1]),
        float(m[2]),
        int(m[3]),
    )
