"""Whisper's options on validation-style clips: beam, language forcing, biasing prompts, n-best.

The clips are bench/heard_train.py's cached ones (train.tsv Mandarin rows read by Kokoro's
TRAINING styles with lobby noise; never the spoken test subset), cut by the service's VAD.
Each clip is encoded once (the service's fit window); every variant then decodes from that
encoding, so the variants differ only in decoding. Variants:
  base        the service today: language detected (zh/en), greedy, the default zh prompt
  forced      language forced to zh (what a turn whose language is known could do)
  beam5       beam search, 5 beams
  products    a prompt naming the bank's products (every clip)
  currency    a prompt naming currencies, on the foreign-exchange rows only (as after an FX intent)
  digits      a prompt of amounts and digits, on rows with a number in them (as while an amount
              is awaited)
and routing over beam search's 5-best, each hypothesis' router probabilities weighted by the
softmax of its length-normalised log-probability, against routing the 1-best (top-1 is the
router's most probable intent for every variant, before its unsure and guard rules). Routing uses the
router given (default the installed one, which never trained on these transcripts).
Reports CER, top-1 routing accuracy, wall ms (encode + language + decode; inflated by the
shared box's load) and the process CPU ms the same work took (the fairer cost) per variant;
writes bench/results/stt_options.json with the load.
Run: nice -n 5 .venv/bin/python bench/stt_options.py [--clips 80]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.heard_train import CACHE, read_log, row_key, sample_rows  # noqa: E402
from bench.spoken_audio import service_speech, turn_of  # noqa: E402
from speech.textnorm import cer, clean_transcript  # noqa: E402

RESULTS: Final = ROOT / "bench" / "results" / "stt_options.json"
BASE_PROMPT: Final = "以下是普通话的句子。"
PROMPTS: Final = {
    "products": BASE_PROMPT + "银行卡、信用卡、存折、贷款、定期存款、转账、汇款、挂失、社保卡、理财。",
    "currency": BASE_PROMPT + "美元、欧元、日元、英镑、港币、澳元、外币兑换、汇率。",
    "digits": BASE_PROMPT + "金额是五千元，两万块，一百美元，10000元。",
}
FX_INTENTS: Final = ("foreign_exchange", "cash_exchange", "international_remittance")
_NUMBER: Final = re.compile(r"[0-9零一二两三四五六七八九十百千万]")


def decode(stt: Any, encoded: Any, language: str, prompt: str | None, beam: int,
           duration: float, hypotheses: int = 1) -> list[tuple[str, float]]:
    """(cleaned text, average log-probability) of each hypothesis, best first."""
    from faster_whisper.transcribe import get_suppressed_tokens

    fit = stt._fit
    tok = fit._tokenizer(language)
    ids: list[int] = [tok.sot_prev, *tok.encode(" " + prompt)] if prompt else []
    ids += [*tok.sot_sequence, tok.no_timestamps]
    result = fit._model.model.generate(
        encoded, [ids], beam_size=beam, num_hypotheses=hypotheses,
        max_length=len(ids) + stt._token_budget(duration), return_scores=True,
        suppress_blank=True, suppress_tokens=list(get_suppressed_tokens(tok, (-1,))),
    )[0]
    out = []
    for seq, score in zip(result.sequences_ids, result.scores, strict=True):
        tokens = [t for t in seq if t < tok.eot]
        out.append((clean_transcript(tok.decode(tokens), language, prompt=prompt), float(score)))
    return out


def fused(router: Any, hyps: list[tuple[str, float]], temperature: float = 0.1) -> str:
    """The intent with the most router probability over the hypotheses, weighted by score."""
    scores = np.array([s for _, s in hyps])
    w = np.exp((scores - scores.max()) / temperature)
    w /= w.sum()
    total = sum(wi * router.probabilities(t)[: len(router.intents)] for wi, (t, _) in
                zip(w, hyps, strict=True))
    return str(router.intents[int(np.argmax(total))])


def main() -> None:
    """Decode each cached clip every way, route, and tabulate."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=80)
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--router", type=Path, default=ROOT / "models" / "router" / "router.npz")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    from edge.understanding import load_router

    done = read_log()
    rows = [(i, t) for i, t in sample_rows() if row_key(i, t) in done][: args.clips]
    stt, vad, vad_settings = service_speech(args.models)
    router = load_router(args.router)
    load_before = os.getloadavg()
    records: list[dict[str, Any]] = []
    for intent, text in rows:
        audio, _ = sf.read(CACHE / f"{row_key(intent, text)}.flac", dtype="float32")
        turn = turn_of(vad, np.asarray(audio, np.float32), vad_settings)
        dur = len(turn) / 16_000
        t0, c0 = time.perf_counter(), time.process_time()
        encoded = stt._fit.encode(stt._fit.window(turn, stt.settings.window_margin_ms))
        enc = ((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000)
        t0, c0 = time.perf_counter(), time.process_time()
        lang, _ = stt._pick(stt._fit.detect(encoded))
        detect = ((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000)
        variants: dict[str, tuple[str, str, float, float]] = {}

        def run(name: str, language: str, prompt: str | None, beam: int,
                extra: tuple[float, float], encoded: Any = encoded, dur: float = dur,
                variants: dict[str, Any] = variants,
                enc: tuple[float, float] = enc) -> list[tuple[str, float]]:
            t0, c0 = time.perf_counter(), time.process_time()
            hyps = decode(stt, encoded, language, prompt, beam, dur, 5 if beam > 1 else 1)
            ms = enc[0] + extra[0] + (time.perf_counter() - t0) * 1000
            cpu = enc[1] + extra[1] + (time.process_time() - c0) * 1000
            variants[name] = (hyps[0][0], fused(router, hyps[:1]), ms, cpu)
            return hyps

        none = (0.0, 0.0)
        run("base", lang, stt._prompt(lang, None), 1, detect)
        run("forced", "zh", BASE_PROMPT, 1, none)
        hyps = run("beam5", lang, stt._prompt(lang, None), 5, detect)
        t0, c0 = time.perf_counter(), time.process_time()
        nbest = fused(router, hyps)
        variants["nbest5"] = (hyps[0][0], nbest,
                              variants["beam5"][2] + (time.perf_counter() - t0) * 1000,
                              variants["beam5"][3] + (time.process_time() - c0) * 1000)
        run("products", "zh", PROMPTS["products"], 1, none)
        if intent in FX_INTENTS:
            run("currency", "zh", PROMPTS["currency"], 1, none)
        if _NUMBER.search(text):
            run("digits", "zh", PROMPTS["digits"], 1, none)
        records.append({"intent": intent, "text": text, "detected": lang, "variants": {
            k: {"heard": h, "intent": i, "ms": round(ms, 1), "cpu_ms": round(cpu, 1),
                "cer": round(cer(text, h), 4)}
            for k, (h, i, ms, cpu) in variants.items()}})
        print(f"{len(records)}/{len(rows)} {text} -> {variants['base'][0]}", flush=True)
    table: dict[str, Any] = {}
    for name in ("base", "forced", "beam5", "nbest5", "products", "currency", "digits"):
        sel = [r for r in records if name in r["variants"]]
        if not sel:
            continue
        v = [r["variants"][name] for r in sel]
        b = [r["variants"]["base"] for r in sel]
        table[name] = {
            "n": len(sel),
            "cer": round(statistics.mean(x["cer"] for x in v), 4),
            "cer_base_same_rows": round(statistics.mean(x["cer"] for x in b), 4),
            "top1": round(statistics.mean(x["intent"] == r["intent"] for x, r in zip(v, sel, strict=True)), 4),
            "top1_base_same_rows": round(statistics.mean(x["intent"] == r["intent"] for x, r in zip(b, sel, strict=True)), 4),
            "ms_p50": round(float(np.percentile([x["ms"] for x in v], 50)), 1),
            "ms_p95": round(float(np.percentile([x["ms"] for x in v], 95)), 1),
            "cpu_ms_mean": round(statistics.mean(x["cpu_ms"] for x in v), 1),
        }
    out = {"clips": len(records), "router": str(args.router), "variants": table,
           "wrong_language_detected": sum(r["detected"] != "zh" for r in records),
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
           "records": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("| variant | n | CER | CER base | top-1 | top-1 base | ms p50 | ms p95 | CPU ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t in table.items():
        print(f"| {name} | {t['n']} | {t['cer']:.3f} | {t['cer_base_same_rows']:.3f} | "
              f"{t['top1']:.3f} | {t['top1_base_same_rows']:.3f} | {t['ms_p50']:.0f} | "
              f"{t['ms_p95']:.0f} | {t['cpu_ms_mean']:.0f} |")
    print(f"load: {load_before} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
