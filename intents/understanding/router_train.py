"""Fit the router's linear head with scikit-learn and export plain numpy arrays for inference."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intents.understanding.features import features, normalise
from intents.understanding.router_augment import augment, heard_variants
from intents.understanding.router_calibration import (
    UnsureRule,
    choose_fraud_floor,
    choose_unsure_rule,
    expected_calibration_error,
    fit_temperature,
    plausible,
    softmax,
)
from intents.understanding.router_config import TrainConfig
from intents.understanding.router_encoder import (
    Encoder,
    EncoderHead,
    cascade_probs,
    choose_fusion,
    fit_encoder_linear,
)
from intents.understanding.router_vague import VagueHead, fit_vague, summary
from intents.understanding.router_vague_names import NeighbourNames

FloatArray = npt.NDArray[np.float64]
AMBIGUOUS_CLASS: Final = "__ambiguous__"


@dataclass(frozen=True, slots=True)
class FittedHead:
    """Everything inference needs, as arrays; no scikit-learn objects survive training."""

    classes: tuple[str, ...]
    vocab: dict[str, int]
    idf: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]  # (n_features, n_classes)
    bias: npt.NDArray[np.float32]
    temperature: float
    rule: UnsureRule
    char_max: int
    max_chars: int
    report: dict[str, float]
    pinyin: int = 0
    encoder: EncoderHead | None = None  # optional second stage (router_encoder.py)
    candidate_mass: float = 0.9
    fraud_floor: float = 1.01  # fraud probability at which another answer is asked about
    vague: VagueHead | None = None  # the dedicated vague decision (router_vague.py)
    names: NeighbourNames | None = None  # which intents a question names (router_vague_names.py)


def _feature_lists(texts: Sequence[str], cfg: TrainConfig) -> list[list[str]]:
    return [features(normalise(t, cfg.max_chars), cfg.char_max, cfg.pinyin) for t in texts]


def _vocabulary(feats: Sequence[list[str]], min_df: int) -> tuple[dict[str, int], FloatArray]:
    df: Counter[str] = Counter()
    for f in feats:
        df.update(set(f))
    kept = sorted(k for k, v in df.items() if v >= min_df)
    n = len(feats)
    idf = np.array([math.log((1 + n) / (1 + df[k])) + 1.0 for k in kept], dtype=np.float64)
    return {k: i for i, k in enumerate(kept)}, idf


def _matrix(feats: Sequence[list[str]], vocab: dict[str, int], idf: FloatArray) -> Any:
    """TF-IDF rows as a scipy.sparse csr_matrix (scipy ships no types mypy can use here)."""
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, f in enumerate(feats):
        counts = Counter(vocab[x] for x in f if x in vocab)
        weighted = {j: (1.0 + math.log(k)) * float(idf[j]) for j, k in counts.items()}
        norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
        for j, v in weighted.items():
            rows.append(i)
            cols.append(j)
            vals.append(v / norm)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(feats), len(vocab)))


def _fit_linear(
    x: Any, y: npt.NDArray[np.int64], cfg: TrainConfig, weight: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Return (weights (n_features, n_classes), bias) of a one-vs-rest or softmax linear model."""
    n_classes = int(y.max()) + 1
    if cfg.method == "logreg":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=cfg.c, max_iter=500, random_state=cfg.seed)
    else:
        from sklearn.svm import LinearSVC

        model = LinearSVC(C=cfg.c, random_state=cfg.seed)
    model.fit(x, y, sample_weight=weight)
    coef = np.zeros((n_classes, x.shape[1]))
    bias = np.full(n_classes, -1e3)  # a class absent from this fold never wins
    rows, intercepts = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: score = +row vs -row
        rows = np.vstack([-rows[0], rows[0]])
        intercepts = np.array([-intercepts[0], intercepts[0]])
    for row, cls in enumerate(model.classes_):
        coef[cls] = rows[row]
        bias[cls] = intercepts[row]
    return coef.T, bias


def _folds(y: npt.NDArray[np.int64], k: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """Stratified fold assignment: every class spread over every fold where it can be."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold_of[idx] = np.arange(len(idx)) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def _column(probs: FloatArray, j: int) -> FloatArray:
    return probs[:, j] if probs.shape[1] > j else np.zeros(len(probs))


def _risk_coverage(views: tuple[Any, ...]) -> dict[str, float]:
    """What a bigger unsure budget buys on validation: accuracy of answered rows, ambiguous caught."""
    probs, y, p_amb, amb_probs, amb_p_amb, named_ok = views
    out: dict[str, float] = {}
    correct = probs.argmax(axis=1) == y
    for budget in (0.05, 0.1, 0.2, 0.3):
        rule = choose_unsure_rule(probs, y, budget, p_amb, amb_probs, amb_p_amb, named_ok)
        unsure = rule.flags(probs, p_amb if p_amb is not None else np.zeros(len(probs)))
        key = f"budget_{budget:.2f}"
        out[f"{key}_unsure_rate"] = float(unsure.mean())
        out[f"{key}_answered_accuracy"] = float(correct[~unsure].mean()) if (~unsure).any() else 0.0
        if len(amb_probs):
            asked = rule.flags(amb_probs, amb_p_amb)
            out[f"{key}_ambiguous_flagged"] = float(asked.mean())
            out[f"{key}_ambiguous_named_two"] = float((asked & named_ok).mean())
    return out


def _fast_share_tradeoff(
    oof: FloatArray,
    enc_oof: FloatArray,
    y: npt.NDArray[np.int64],
    temperature: float,
    head: EncoderHead,
    n_intents: int,
) -> dict[str, float]:
    """Validation accuracy if the fast path had to take a given share (a latency budget)."""
    top = softmax(oof, temperature)[:, :n_intents].max(axis=1)
    out: dict[str, float] = {}
    for share in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 1.0):
        thr = float(np.quantile(top, 1.0 - share))
        fast_head = replace(head, fast_confidence=thr)
        probs, _ = cascade_probs(oof, enc_oof, temperature, fast_head, n_intents)
        correct = probs[:, :n_intents].argmax(axis=1) == y
        out[f"val_accuracy_fast_share_{share:.2f}"] = float(correct.mean())
        out[f"fast_confidence_at_share_{share:.2f}"] = thr
    return out


Target = tuple[tuple[int, float], ...]  # (class, weight) pairs of one ambiguous row


def _vague_targets(
    ambiguous: Sequence[tuple[str, Sequence[str]]], index: dict[str, int], cfg: TrainConfig
) -> list[Target]:
    """Soft labels (each listed intent at 1/k) and/or the ambiguous class, per ambiguous row."""
    out: list[Target] = []
    ambiguous_class = len(index)
    for _, listed in ambiguous:
        known = [index[i] for i in dict.fromkeys(listed) if i in index]
        share = cfg.vague_weight / max(1, len(known))
        soft = tuple((j, share) for j in known) if cfg.vague_soft else ()
        klass = ((ambiguous_class, cfg.vague_class_weight),) if cfg.vague_class else ()
        out.append(soft + klass)
    return out


def _with_ambiguous(
    rows: Sequence[Any],
    y: npt.NDArray[np.int64],
    amb_rows: Sequence[Any],
    amb_targets: Sequence[Target],
) -> tuple[list[Any], npt.NDArray[np.int64], FloatArray]:
    """Clear rows at weight 1, then each ambiguous row once per (class, weight) target."""
    extra = [r for r, t in zip(amb_rows, amb_targets, strict=True) for _ in t]
    extra_y = np.array([j for t in amb_targets for j, _ in t], dtype=np.int64)
    extra_w = np.array([w for t in amb_targets for _, w in t], dtype=np.float64)
    weight = np.concatenate([np.ones(len(y)), extra_w])
    return list(rows) + extra, np.concatenate([y, extra_y]), weight


def _named_ok(
    probs: FloatArray, listed_rows: Sequence[set[int]], mass: float
) -> npt.NDArray[np.bool_]:
    """Whether each ambiguous row's question (plausible candidates) names two of its intents."""
    from intents.understanding.router_clarify import clarify_candidates

    out = np.zeros(len(listed_rows), dtype=bool)
    for i, (row, listed) in enumerate(zip(probs, listed_rows, strict=True)):
        picked = plausible(row, mass)
        named = clarify_candidates([(str(j), float(row[j])) for j in picked])
        out[i] = len(listed & {int(j) for j in named}) >= min(2, len(listed))
    return out


def fit_head(
    rows: Sequence[tuple[str, str]],
    cfg: TrainConfig,
    ambiguous: Sequence[tuple[str, Sequence[str]]] = (),
    encoder: Encoder | None = None,
) -> FittedHead:
    """Train on (intent, text) rows: out-of-fold scores calibrate, the final head sees all rows.

    With an encoder, a second linear head on its sentence vectors is fused in as a cascade.
    """
    if not rows:
        raise ValueError("no training rows")
    classes = tuple(sorted({intent for intent, _ in rows}))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[intent] for intent, _ in rows], dtype=np.int64)
    feats = _feature_lists([text for _, text in rows], cfg)
    n_intents = len(classes)
    if ambiguous and cfg.vague_class:  # a learned "this is vague" class, index n_intents
        classes = (*classes, AMBIGUOUS_CLASS)
    # the class learns "this is vague"; soft labels (vague_soft) make a row 1/k of each intent
    # it lists instead or as well. Full-weight positives of every listed intent (tried first)
    # pulled one reading up: "我账户有点问题" routed to account_frozen at 0.66
    amb = list(ambiguous)
    amb_feats = _feature_lists([t for t, _ in amb], cfg)
    amb_labels = _vague_targets(amb, index, cfg)
    amb_fold = np.random.default_rng(cfg.seed).permutation(len(amb)) % max(1, cfg.folds)
    # spoken variants train the n-gram head beside their source row, never across folds
    spoken = augment(rows, cfg.augment) if cfg.augment > 0 else []
    if cfg.heard_rows or cfg.asr_noise > 0:
        from intents.data import load_heard

        heard, _ = heard_variants(
            rows, load_heard(), cfg.heard_rows, cfg.asr_noise, cfg.asr_strength
        )
        spoken += heard
    spoken_parent = np.array([i for i, _, _ in spoken], dtype=np.int64)
    spoken_y = np.array([index[intent] for _, intent, _ in spoken], dtype=np.int64)
    spoken_feats = _feature_lists([text for _, _, text in spoken], cfg)

    oof = np.zeros((len(rows), len(classes)))
    amb_oof = np.zeros((len(amb), len(classes)))
    emb = amb_emb = None
    if encoder is not None:
        emb = encoder.embed([normalise(t, cfg.max_chars) for _, t in rows])
        amb_emb = encoder.embed([normalise(t, cfg.max_chars) for t, _ in amb]) if amb else emb[:0]
    enc_oof, amb_enc_oof = np.zeros_like(oof), np.zeros_like(amb_oof)
    for fold, held in enumerate(_folds(y, cfg.folds, cfg.seed)):
        train_idx = np.setdiff1d(np.arange(len(rows)), held)
        amb_in = [i for i in range(len(amb)) if amb_fold[i] != fold]
        amb_out = [i for i in range(len(amb)) if amb_fold[i] == fold]
        spoken_in = np.flatnonzero(np.isin(spoken_parent, train_idx))
        fold_feats, fold_y, fold_w = _with_ambiguous(
            [feats[i] for i in train_idx] + [spoken_feats[j] for j in spoken_in],
            np.concatenate([y[train_idx], spoken_y[spoken_in]]),
            [amb_feats[i] for i in amb_in],
            [amb_labels[i] for i in amb_in],
        )
        vocab, idf = _vocabulary(fold_feats, cfg.min_df)
        w, b = _fit_linear(_matrix(fold_feats, vocab, idf), fold_y, cfg, fold_w)
        oof[held] = _matrix([feats[i] for i in held], vocab, idf) @ w + b
        if amb_out:
            amb_oof[amb_out] = _matrix([amb_feats[i] for i in amb_out], vocab, idf) @ w + b
        if emb is not None and amb_emb is not None:
            x = np.vstack(
                [emb[train_idx], *(amb_emb[i][None] for i in amb_in for _ in amb_labels[i])]
            )
            _, enc_y, enc_w = _with_ambiguous(
                list(train_idx), y[train_idx], amb_in, [amb_labels[i] for i in amb_in]
            )
            we, be = fit_encoder_linear(x, enc_y, len(classes), cfg.enc_c, cfg.seed, enc_w)
            enc_oof[held] = emb[held] @ we + be
            amb_enc_oof[amb_out] = amb_emb[amb_out] @ we + be

    if cfg.vague_class:  # calibrate the ambiguous class too: vague rows are its positives
        amb_y = np.full(len(amb), n_intents, dtype=np.int64)
        temperature = fit_temperature(np.vstack([oof, amb_oof]), np.concatenate([y, amb_y]))
    else:
        temperature = fit_temperature(oof, y)
    probs_all = softmax(oof, temperature)
    amb_all = softmax(amb_oof, temperature)
    enc_head = None
    if emb is not None:
        enc_head = choose_fusion(
            oof, enc_oof, y, temperature, n_intents, min_fast_share=cfg.min_fast_share
        )
        probs_all, fast = cascade_probs(oof, enc_oof, temperature, enc_head, n_intents)
        amb_all, _ = cascade_probs(amb_oof, amb_enc_oof, temperature, enc_head, n_intents)
    probs, p_amb = probs_all[:, :n_intents], _column(probs_all, n_intents)
    amb_probs, amb_p_amb = amb_all[:, :n_intents], _column(amb_all, n_intents)
    listed = [{index[i] for i in intents if i in index} for _, intents in amb]
    named_ok = _named_ok(amb_probs, listed, cfg.candidate_mass)
    views = (probs, y, p_amb if amb and cfg.vague_class else None, amb_probs, amb_p_amb, named_ok)
    rule = choose_unsure_rule(views[0], views[1], cfg.max_unsure_rate, *views[2:])
    rule = replace(rule, min_confidence=max(rule.min_confidence, cfg.confidence_floor))
    fraud_floor = choose_fraud_floor(probs, y, index.get("fraud_report", -1), cfg.max_fraud_asks)
    correct = probs.argmax(axis=1) == y
    report = {
        "val_accuracy": float(correct.mean()),
        "val_ece_raw": expected_calibration_error(softmax(oof).max(axis=1), correct),
        "val_ece": expected_calibration_error(probs.max(axis=1), correct),
        "temperature": temperature,
        "unsure_min_confidence": rule.min_confidence,
        "unsure_min_margin": rule.min_margin,
        "unsure_max_ambiguous": rule.max_ambiguous,
        "fraud_floor": fraud_floor,
    }
    report.update(_risk_coverage(views))
    if enc_head is not None:
        ngram_only = softmax(oof, temperature)[:, :n_intents].argmax(axis=1) == y
        report.update(
            {
                "val_accuracy_ngram_only": float(ngram_only.mean()),
                "val_fast_path_share": float(fast.mean()),
                "fusion_ngram_weight": enc_head.ngram_weight,
                "fusion_fast_confidence": enc_head.fast_confidence,
            }
        )
        report.update(_fast_share_tradeoff(oof, enc_oof, y, temperature, enc_head, n_intents))

    all_feats, all_y, all_w = _with_ambiguous(
        feats + spoken_feats, np.concatenate([y, spoken_y]), amb_feats, amb_labels
    )
    vocab, idf = _vocabulary(all_feats, cfg.min_df)
    w, b = _fit_linear(_matrix(all_feats, vocab, idf), all_y, cfg, all_w)
    if enc_head is not None and emb is not None and amb_emb is not None:
        x = np.vstack([emb, *(amb_emb[i][None] for i, t in enumerate(amb_labels) for _ in t)])
        _, enc_y, enc_w = _with_ambiguous(list(range(len(y))), y, amb, amb_labels)
        we, be = fit_encoder_linear(x, enc_y, len(classes), cfg.enc_c, 0, enc_w)
        enc_head = replace(enc_head, weights=we.astype(np.float32), bias=be.astype(np.float32))
    vague = None
    if amb and cfg.vague_max_clear_rate > 0:  # on the final vocabulary; out-of-fold summaries
        vague, vague_oof = fit_vague(
            _matrix(feats + amb_feats, vocab, idf),
            np.concatenate([np.zeros(len(y)), np.ones(len(amb))]).astype(np.int64),
            np.vstack([summary(probs, p_amb), summary(amb_probs, amb_p_amb)]),
            cfg.vague_max_clear_rate,
            cfg.vague_c,
            seed=cfg.seed,
        )
        vague = replace(vague, threshold=vague.threshold + cfg.vague_threshold_shift)
        report["vague_threshold"] = vague.threshold
        report["vague_val_clear_asked"] = float((vague_oof["clear"] >= vague.threshold).mean())
        report["vague_val_vague_asked"] = float((vague_oof["vague"] >= vague.threshold).mean())
    names = _neighbour_names(amb, amb_feats, vocab, idf, index, cfg)
    return FittedHead(
        classes=classes,
        vocab=vocab,
        idf=idf.astype(np.float32),
        weights=w.astype(np.float32),
        bias=b.astype(np.float32),
        temperature=temperature,
        rule=rule,
        char_max=cfg.char_max,
        max_chars=cfg.max_chars,
        report=report,
        pinyin=cfg.pinyin,
        encoder=enc_head,
        candidate_mass=cfg.candidate_mass,
        fraud_floor=fraud_floor,
        vague=vague,
        names=names,
    )


def _neighbour_names(
    amb: Sequence[tuple[str, Sequence[str]]],
    amb_feats: Sequence[list[str]],
    vocab: dict[str, int],
    idf: FloatArray,
    index: dict[str, int],
    cfg: TrainConfig,
) -> NeighbourNames | None:
    """The vague rows on the final vocabulary, with their listed intents, for naming."""
    if not amb or cfg.names_k <= 0:
        return None
    listed = np.zeros((len(amb), len(index)), dtype=np.uint8)
    for row, (_, intents) in enumerate(amb):
        listed[row, [index[i] for i in intents if i in index]] = 1
    return NeighbourNames.build(
        _matrix(amb_feats, vocab, idf), listed, k=cfg.names_k, power=cfg.names_power,
        weight=cfg.names_weight, min_sim=cfg.names_min_sim,
    )


def holdout_predictor(
    train_rows: Sequence[tuple[str, str]], cfg: TrainConfig
) -> Callable[[Sequence[str]], list[str]]:
    """One plain fit of the n-gram head, returned as a function from texts to top-1 intents."""
    classes = sorted({intent for intent, _ in train_rows})
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[intent] for intent, _ in train_rows], dtype=np.int64)
    feats = _feature_lists([text for _, text in train_rows], cfg)
    vocab, idf = _vocabulary(feats, cfg.min_df)
    w, b = _fit_linear(_matrix(feats, vocab, idf), y, cfg)

    def predict(texts: Sequence[str]) -> list[str]:
        scores = _matrix(_feature_lists(texts, cfg), vocab, idf) @ w + b
        return [classes[int(j)] for j in scores.argmax(axis=1)]

    return predict


def holdout_accuracy(
    train_rows: Sequence[tuple[str, str]], val_rows: Sequence[tuple[str, str]], cfg: TrainConfig
) -> float:
    """Top-1 accuracy of one plain fit on a validation split: how settings get chosen."""
    pred = holdout_predictor(train_rows, cfg)([t for _, t in val_rows])
    return float(np.mean([p == gold for p, (gold, _) in zip(pred, val_rows, strict=True)]))
