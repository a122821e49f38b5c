"""The fast bilingual intent router: numpy-only inference with calibrated confidence and unsure."""

from __future__ import annotations

import importlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intents.understanding.features import detect_language, features, has_content, normalise
from intents.understanding.router_calibration import UnsureRule, plausible
from intents.understanding.router_config import TrainConfig
from intents.understanding.router_encoder import Encoder, EncoderHead, fuse
from intents.understanding.router_guard import FRAUD, banking_lexicon, guard
from intents.understanding.router_train import AMBIGUOUS_CLASS, FittedHead, fit_head
from intents.understanding.router_vague import name_vague, summary, vague_arrays, vague_from
from intents.understanding.router_vague_names import names_arrays, names_from

OUT_OF_SCOPE: Final = "out_of_scope"
FORMAT_VERSION: Final = 1
TOP_K: Final = 4

# c and char_max: a 20% validation carve of intents/data/train.tsv (bench/intent_bench.py grid);
# min_fast_share: 5-fold CV on train.tsv with the e5 cascade (bench/intent_cv.py --e5): 89.1%
# top-1 at 0.6, 88.7% at 0.7, 87.5% at 0.8; 0.65 keeps the median query off the encoder
# pinyin=2, augment=1: one stratified 20% carve of train.tsv, plain fit, top-1 on the written
# rows and on the same rows as heard (bench/intent_cv.py heard_texts): toneless-off 90.29 /
# 79.97, folded pinyin + one spoken variant per row 90.64 / 82.84 (Mandarin heard 78.2 -> 82.2)
DEFAULT_CONFIG: Final = TrainConfig(c=0.5, char_max=3, min_fast_share=0.65, pinyin=2, augment=1)

SlotParser = Callable[[str, str, date], Any]


@dataclass(frozen=True, slots=True)
class RouteResult:
    """One routing answer; `unsure` means the dialogue should ask among `candidates`."""

    intent: str
    confidence: float
    candidates: list[tuple[str, float]]
    unsure: bool
    language: str
    slots: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # "empty_input" when nothing could be routed; "truncated"
    # "heard_banking" / "maybe_fraud": router_guard.py asked instead of refusing / misrouting

    def to_json(self) -> dict[str, Any]:
        """A plain dict for logs, the wire and the eval CLI."""
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "candidates": [[i, round(p, 4)] for i, p in self.candidates],
            "unsure": self.unsure,
            "language": self.language,
            "slots": self.slots,
            "reason": self.reason,
        }


def _default_slot_parser() -> SlotParser | None:
    """Use intents.understanding.slots.parse_slots when that module is installed; routing works without it."""
    try:
        module = importlib.import_module("intents.understanding.slots")
    except ImportError:
        return None
    parser = getattr(module, "parse_slots", None)
    return parser if callable(parser) else None


class Router:
    """Character/word n-gram TF-IDF with a linear head, temperature-calibrated softmax."""

    def __init__(
        self,
        head: FittedHead,
        slot_parser: SlotParser | None = None,
        today: Callable[[], date] = date.today,
        encoder: Encoder | None = None,
    ) -> None:
        self.head = head
        self._encoder = encoder if head.encoder is not None else None
        self.classes = head.classes
        self._class_arr = np.array(head.classes)
        self.rule: UnsureRule = head.rule
        self._slot_parser = slot_parser
        self._today = today
        classes = head.classes
        self._amb_idx = classes.index(AMBIGUOUS_CLASS) if AMBIGUOUS_CLASS in classes else -1
        self.intents = tuple(c for c in classes if c != AMBIGUOUS_CLASS)
        self._fraud_idx = classes.index(FRAUD) if FRAUD in classes else -1
        self._lexicon = banking_lexicon()

    @classmethod
    def train(
        cls,
        rows: Sequence[tuple[str, str]],
        config: TrainConfig | None = None,
        ambiguous: Sequence[tuple[str, Sequence[str]]] = (),
        slot_parser: SlotParser | None = None,
        encoder: Encoder | None = None,
    ) -> Router:
        """Fit on (intent, text) rows and (text, intents) ambiguous rows; thresholds from out-of-fold."""
        head = fit_head(rows, config or DEFAULT_CONFIG, ambiguous, encoder)
        parser = slot_parser if slot_parser is not None else _default_slot_parser()
        return cls(head, parser, encoder=encoder)

    def scores(self, text: str) -> npt.NDArray[np.float64]:
        """Raw linear scores for one text (before temperature); no known feature gives the bias."""
        return self._scores_clean(normalise(text, self.head.max_chars))

    def _scores_clean(self, clean: str) -> npt.NDArray[np.float64]:
        head = self.head
        feats = features(clean, head.char_max, head.pinyin)
        counts = Counter(head.vocab[f] for f in feats if f in head.vocab)
        if not counts:
            return head.bias.astype(np.float64)
        ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        vals = (1.0 + np.log(tf)) * head.idf[ids]
        vals /= math.sqrt(float(vals @ vals)) or 1.0
        return (vals @ head.weights[ids] + head.bias).astype(np.float64)

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Calibrated class probabilities in `self.classes` order."""
        return self._probabilities_clean(normalise(text, self.head.max_chars))

    def _probabilities_clean(self, clean: str) -> npt.NDArray[np.float64]:
        head = self.head
        scores = self._scores_clean(clean)
        z = scores / head.temperature
        z -= z.max()
        e = np.exp(z)
        probs: npt.NDArray[np.float64] = e / e.sum()
        enc = head.encoder
        if enc is None or self._encoder is None:
            return probs
        intent_top = float(np.max(np.where(np.arange(len(probs)) == self._amb_idx, -1.0, probs)))
        if intent_top >= enc.fast_confidence:
            return probs  # confident n-gram answer: skip the encoder (the cascade's fast path)
        vec = self._encoder.embed([clean])[0].astype(np.float64)
        enc_scores = vec @ enc.weights + enc.bias
        fused: npt.NDArray[np.float64] = fuse(
            scores[None, :], enc_scores[None, :], head.temperature, enc
        )[0]
        return fused

    def route(self, text: str) -> RouteResult:
        """Route one customer utterance; never raises on odd input and takes bounded time."""
        if not isinstance(text, str):
            text = ""
        truncated = len(text) > self.head.max_chars
        clean = normalise(text, self.head.max_chars)
        language = detect_language(clean)
        if not has_content(clean):
            return RouteResult(OUT_OF_SCOPE, 0.0, [], True, language, {}, "empty_input")
        probs = self._probabilities_clean(clean)
        p_ambiguous = 0.0
        if self._amb_idx >= 0:
            p_ambiguous = float(probs[self._amb_idx])
            probs = probs.copy()
            probs[self._amb_idx] = -1.0  # never a candidate; it only feeds the unsure rule
        order = plausible(probs, self.head.candidate_mass, TOP_K)
        candidates = [(str(self._class_arr[i]), float(probs[i])) for i in order if probs[i] >= 0]
        top1 = candidates[0][1]
        top2 = candidates[1][1] if len(candidates) > 1 else 0.0
        unsure = self.rule.is_unsure(top1, top2, p_ambiguous)
        named = self._vague(clean, probs, p_ambiguous)
        if named:  # a vague request names its best readings, not the probability mass
            unsure = True
            candidates = name_vague(probs, self.classes, named, OUT_OF_SCOPE)
        if unsure:  # ...fused with what its nearest vague training rows list
            candidates = self._neighbour_named(clean, probs, candidates, bool(named))
        p_fraud = float(probs[self._fraud_idx]) if self._fraud_idx >= 0 else 0.0
        ruled = guard(clean, candidates, unsure, p_fraud, self._lexicon, self.head.fraud_floor)
        return RouteResult(
            intent=ruled.candidates[0][0],
            confidence=ruled.candidates[0][1],
            candidates=ruled.candidates,
            unsure=ruled.unsure,
            language=language,
            slots=self._slots(clean, language),
            reason="truncated" if truncated else ruled.rule,
        )

    def vague_score(self, text: str) -> float | None:
        """The vague decision's score of one text (None without one): for benchmarks."""
        clean = normalise(text, self.head.max_chars)
        probs = self._probabilities_clean(clean)
        p_amb = float(probs[self._amb_idx]) if self._amb_idx >= 0 else 0.0
        return self._vague_score(clean, probs, p_amb)

    def _neighbour_named(
        self,
        clean: str,
        probs: npt.NDArray[np.float64],
        candidates: list[tuple[str, float]],
        vague: bool,
    ) -> list[tuple[str, float]]:
        """The candidates a question names (router_vague_names.py), or `candidates` unchanged."""
        names = self.head.names
        if names is None:
            return candidates
        head = self.head
        counts = Counter(head.vocab[f] for f in features(clean, head.char_max, head.pinyin)
                         if f in head.vocab)
        ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))))
        vals *= head.idf[ids]
        vals /= math.sqrt(float(vals @ vals)) or 1.0
        sims = names.similarities(ids, vals)
        if not vague and (len(sims) == 0 or float(sims.max()) < names.min_sim):
            return candidates
        intent_probs = np.clip(probs[: len(self.intents)], 0.0, None)
        named = names.name(intent_probs, self.intents, sims, [c for c, _ in candidates])
        if not named or not candidates:
            return candidates or named
        # the router's own answer stays first (its top-1 accuracy is unchanged; validation:
        # 65.0% of vague rows name two listed, 65.4% when the fused order leads)
        first = candidates[0]
        rest = [c for c in named if c[0] != first[0]]
        return [first, *rest[: names.named - (first[0] != OUT_OF_SCOPE)]]

    def _vague(self, clean: str, probs: npt.NDArray[np.float64], p_ambiguous: float) -> int:
        """How many intents to name when the vague decision (router_vague.py) asks, else 0."""
        vague, score = self.head.vague, self._vague_score(clean, probs, p_ambiguous)
        if vague is None or score is None or score < vague.threshold:
            return 0
        return vague.named

    def _vague_score(
        self, clean: str, probs: npt.NDArray[np.float64], p_ambiguous: float
    ) -> float | None:
        vague, head = self.head.vague, self.head
        if vague is None:
            return None
        counts = Counter(head.vocab[f] for f in features(clean, head.char_max, head.pinyin)
                         if f in head.vocab)
        word = vague.word_bias
        if counts:
            ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            vals = (1.0 + np.log(tf)) * head.idf[ids]
            vals /= math.sqrt(float(vals @ vals)) or 1.0
            word += float(vals @ vague.word_weights[ids])
        intent_probs = np.where(np.arange(len(probs)) == self._amb_idx, 0.0, probs)
        return vague.score(word, summary(intent_probs, p_ambiguous)[0])

    def _slots(self, clean: str, language: str) -> dict[str, Any]:
        if self._slot_parser is None:
            return {}
        try:
            parsed = self._slot_parser(clean, language, self._today())
        except Exception:  # a slot bug must never cost the customer their intent
            return {}
        to_json = getattr(parsed, "to_json", None)
        out = to_json() if callable(to_json) else parsed
        return dict(out) if isinstance(out, dict) else {}

    def save(self, path: str | Path) -> None:
        """Write one .npz (arrays and strings only, no pickle) that `load` reads back exactly."""
        head = self.head
        vocab = sorted(head.vocab, key=head.vocab.__getitem__)
        meta = np.array(
            [
                head.temperature,
                head.rule.min_confidence,
                head.rule.min_margin,
                head.char_max,
                head.max_chars,
                FORMAT_VERSION,
                head.rule.max_ambiguous,
                float(head.pinyin),
                head.candidate_mass,
                head.fraud_floor,
            ],
            dtype=np.float64,
        )
        report_keys = sorted(head.report)
        with open(path, "wb") as fh:
            arrays: dict[str, npt.NDArray[Any]] = {
                "classes": np.array(head.classes),
                "vocab": np.array(vocab),
                "idf": head.idf,
                "weights": head.weights,
                "bias": head.bias,
                "meta": meta,
                "report_keys": np.array(report_keys),
                "report_values": np.array([head.report[k] for k in report_keys]),
                **_encoder_arrays(head.encoder),
                **vague_arrays(head.vague),
                **names_arrays(head.names),
            }
            np.savez_compressed(fh, allow_pickle=False, **arrays)

    @classmethod
    def load(
        cls,
        path: str | Path,
        slot_parser: SlotParser | None = None,
        today: Callable[[], date] = date.today,
        encoder: Encoder | None = None,
    ) -> Router:
        """Read a saved router; numpy only, so the edge runtime needs no scikit-learn."""
        with np.load(path, allow_pickle=False) as data:
            meta = data["meta"]
            if int(meta[5]) != FORMAT_VERSION:
                raise ValueError(f"{path}: router format {int(meta[5])}, expected {FORMAT_VERSION}")
            head = FittedHead(
                classes=tuple(str(c) for c in data["classes"]),
                vocab={str(v): i for i, v in enumerate(data["vocab"])},
                idf=data["idf"],
                weights=data["weights"],
                bias=data["bias"],
                temperature=float(meta[0]),
                rule=UnsureRule(float(meta[1]), float(meta[2]), float(meta[6])),
                char_max=int(meta[3]),
                max_chars=int(meta[4]),
                report=dict(
                    zip(
                        (str(k) for k in data["report_keys"]),
                        (float(v) for v in data["report_values"]),
                        strict=True,
                    )
                ),
                encoder=_encoder_from(data),
                pinyin=int(meta[7]) if len(meta) > 7 else 0,
                candidate_mass=float(meta[8]) if len(meta) > 8 else 1.0,
                fraud_floor=float(meta[9]) if len(meta) > 9 else 1.01,
                vague=vague_from(data),
                names=names_from(data),
            )
        parser = slot_parser if slot_parser is not None else _default_slot_parser()
        return cls(head, parser, today, encoder)


def _encoder_arrays(enc: EncoderHead | None) -> dict[str, npt.NDArray[Any]]:
    if enc is None:
        return {}
    meta = [enc.enc_temperature, enc.ngram_weight, enc.fused_temperature, enc.fast_confidence]
    return {"enc_weights": enc.weights, "enc_bias": enc.bias, "enc_meta": np.array(meta)}


def _encoder_from(data: Any) -> EncoderHead | None:
    if "enc_meta" not in data:
        return None
    m = data["enc_meta"]
    return EncoderHead(
        data["enc_weights"], data["enc_bias"], float(m[0]), float(m[1]), float(m[2]), float(m[3])
    )


def load_or_train(
    path: str | Path,
    train_tsv: str | Path,
    ambiguous_tsv: str | Path | None = None,
    config: TrainConfig | None = None,
    encoder: Encoder | None = None,
) -> Router:
    """Load the saved router, or train it from the project data (seconds) and save it there.

    With an encoder (E5Encoder) the saved router holds the cascade's second head too; training
    then embeds every row once (~30 s on 2 cores).
    """
    from intents.understanding.evaluate import read_ambiguous, read_labelled

    path = Path(path)
    newest_data = max(Path(p).stat().st_mtime for p in (train_tsv, ambiguous_tsv) if p)
    if path.exists() and path.stat().st_mtime >= newest_data:
        return Router.load(path, encoder=encoder)
    ambiguous = read_ambiguous(ambiguous_tsv) if ambiguous_tsv else []
    rows = read_labelled(train_tsv)
    router = Router.train(rows, config or DEFAULT_CONFIG, ambiguous, encoder=encoder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    router.save(tmp)
    tmp.replace(path)  # atomic: a crash mid-write never leaves half a router
    return router
