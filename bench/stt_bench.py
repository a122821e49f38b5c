"""Measure the speech input chain on the shared clips: load times, VAD cost, STT RTF and CER/WER.

Run: .venv/bin/python bench/stt_bench.py [--model models/whisper-base] [--device auto]
Prints a table and writes bench/results/stt_bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from speech.endpoint import Endpointer, SpeechEnd, SpeechStart
from speech.settings import SttSettings
from speech.stt import SttEngine, Transcript
from speech.stt_stream import StreamingTranscriber
from speech.textnorm import cer, wer
from speech.vad import FRAME_SAMPLES, SileroVad

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "datasets" / "speech"

PROMPTS: dict[str, dict[str, str | None]] = {
    "none": {"zh": "", "en": ""},
    "generic": {"zh": "以下是普通话的句子。", "en": ""},
    "domain": {
        "zh": "以下是普通话的句子，关于银行业务：挂失、开户、转账、取号、账户、存款。",
        "en": "A customer at a bank branch: account, card, transfer, deposit, ticket.",
    },
}


def load_clips() -> list[dict[str, str]]:
    with (CLIPS / "manifest.tsv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def bench_vad(model: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    vad = SileroVad.load(model)
    load_s = time.perf_counter() - t0
    audio, _ = sf.read(CLIPS / "jfk_16k_mono.flac", dtype="float32")
    stream = vad.new_stream()
    frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES, 512)]
    stream.process(frames[0])
    t0 = time.perf_counter()
    for frame in frames:
        stream.process(frame)
    per_frame_ms = (time.perf_counter() - t0) / len(frames) * 1000
    return {"load_s": load_s, "per_frame_ms": per_frame_ms, "frames": len(frames)}


async def stream_clip(
    engine: SttEngine, vad: SileroVad, audio: np.ndarray, speculative: bool
) -> dict[str, object]:
    """Play a clip plus 1.5 s of silence in real time through VAD, endpointer and transcriber."""
    audio = np.concatenate([audio, np.zeros(24_000, np.float32)]).astype(np.float32)
    partials: list[Transcript] = []
    st = StreamingTranscriber(engine, SttSettings(), on_partial=partials.append)
    ep, stream = Endpointer(), vad.new_stream()
    t0 = time.perf_counter()
    final_task, end_wall = None, 0.0
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = audio[i : i + FRAME_SAMPLES]
        st.push(frame)
        for ev in ep.feed(stream.process(frame), i // 16):
            if not speculative and not isinstance(ev, (SpeechStart, SpeechEnd)):
                continue
            task = st.handle(ev)
            if isinstance(ev, SpeechEnd) and final_task is None:
                final_task, end_wall = task, time.perf_counter()
        await asyncio.sleep(max(0.0, t0 + (i + FRAME_SAMPLES) / 16_000 - time.perf_counter()))
        if final_task is not None:
            break
    assert final_task is not None, "no turn found"
    final = await final_task
    await st.aclose()
    return {
        "partials": len(partials),
        "first_partial": partials[0].text if partials else "",
        "final_latency_s": round(time.perf_counter() - end_wall, 3),
        "text": final.text,
    }


DOMAIN_ZH = (
    "我要挂失银行卡",
    "我想开一个储蓄账户",
    "帮我查一下账户余额",
    "我要给我儿子转账五万块",
    "信用卡怎么激活",
    "我想办理三年定期存款",
    "我的网银密码忘记了",
    "请问对公业务在哪里取号",
    "我要换一张新的借记卡",
    "这个理财产品的风险等级是多少",
)


def bench_domain(engine: SttEngine) -> dict[str, object]:
    """Banking phrases from the offline zh voice (synthetic, so easier than real callers)."""
    from speech.audio import PcmStreamDecoder
    from speech.zh_voice import ZhVoiceEngine

    voice = ZhVoiceEngine.load(ROOT / "models" / "zh-databaker")
    clips = []
    for text in DOMAIN_ZH:
        chunk = voice.synthesize(text)
        decoder = PcmStreamDecoder(chunk.sample_rate)
        audio = np.concatenate([decoder.feed(chunk.pcm), decoder.flush()])
        clips.append((text, np.concatenate([np.zeros(4800, np.float32), audio])))
    result: dict[str, object] = {}
    for prompt_name, prompts in PROMPTS.items():
        errors = []
        for text, audio in clips:
            tr = engine.transcribe_sync(audio, language="zh", initial_prompt=prompts["zh"])
            errors.append(cer(text, tr.text))
            print(f"domain {prompt_name:7} CER {errors[-1] * 100:5.1f}%  {text} -> {tr.text}")
        result[prompt_name] = round(statistics.mean(errors), 4)
        print(f"domain {prompt_name:7} mean CER {result[prompt_name]}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=str(ROOT / "models" / "whisper-base"))
    ap.add_argument("--vad", default=str(ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx"))
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stream-only", action="store_true", help="only the real-time stream runs")
    ap.add_argument("--domain", action="store_true", help="also TTS banking phrases (zh)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "stt_bench.json"))
    args = ap.parse_args()

    vad = bench_vad(Path(args.vad))
    print(f"VAD load {vad['load_s'] * 1000:.1f} ms, {vad['per_frame_ms']:.3f} ms per 32 ms frame")

    t0 = time.perf_counter()
    engine = SttEngine.load(args.model, device=args.device, cpu_threads=args.threads)
    load_s = time.perf_counter() - t0
    print(f"STT load {load_s:.2f} s on {engine.device}")
    engine.transcribe_sync(np.zeros(16_000, np.float32), language="en")  # warm-up

    rows: list[dict[str, object]] = []
    for clip in [] if args.stream_only else load_clips():
        audio, rate = sf.read(CLIPS / clip["file"], dtype="float32")
        assert rate == 16_000
        lang = clip["lang"]
        for mode in ("auto", "forced"):
            for prompt_name, prompts in PROMPTS.items():
                if mode == "auto" and prompt_name != "none":
                    continue
                tr = engine.transcribe_sync(
                    audio, language=None if mode == "auto" else lang, initial_prompt=prompts[lang]
                )
                err = (
                    cer(clip["reference"], tr.text)
                    if lang == "zh"
                    else wer(clip["reference"], tr.text)
                )
                rows.append(
                    {
                        "file": clip["file"],
                        "lang": lang,
                        "mode": mode,
                        "prompt": prompt_name,
                        "detected": tr.language,
                        "lang_prob": round(tr.language_prob, 3),
                        "rtf": round(tr.decode_s / tr.duration_s, 3),
                        "decode_s": round(tr.decode_s, 3),
                        "error": round(err, 4),
                        "text": tr.text,
                    }
                )
                r = rows[-1]
                print(
                    f"{clip['file'][:28]:28} {mode:6} {prompt_name:7} {tr.language}"
                    f" {tr.language_prob:4.2f} RTF {r['rtf']:5.3f} "
                    f"{'CER' if lang == 'zh' else 'WER'} {err * 100:5.1f}%  {tr.text}"
                )

    summary: dict[str, object] = {}
    for lang in () if args.stream_only else ("zh", "en"):
        for mode, prompt_name in [("auto", "none"), *(("forced", p) for p in PROMPTS)]:
            sel = [
                r
                for r in rows
                if r["lang"] == lang and r["mode"] == mode and r["prompt"] == prompt_name
            ]
            key = f"{lang}/{mode}/{prompt_name}"
            mean_err = statistics.mean(float(str(r["error"])) for r in sel)
            mean_rtf = statistics.mean(float(str(r["rtf"])) for r in sel)
            summary[key] = {"mean_error": round(mean_err, 4), "mean_rtf": round(mean_rtf, 3)}
            metric = "CER" if lang == "zh" else "WER"
            print(f"{key:22} mean {metric} {mean_err * 100:5.1f}%  RTF {mean_rtf:.3f}")

    domain = bench_domain(engine) if args.domain else None
    vad_model = SileroVad.load(args.vad)
    streaming: list[dict[str, object]] = []
    for name in ("BAC009S0764W0121.wav", "jfk_16k_mono.flac"):
        audio, _ = sf.read(CLIPS / name, dtype="float32")
        for speculative in (True, False):
            r = asyncio.run(stream_clip(engine, vad_model, audio, speculative))
            r.update(file=name, speculative=speculative)
            streaming.append(r)
            print(
                f"stream {name[:24]:24} speculative={speculative!s:5} partials {r['partials']}"
                f" final {r['final_latency_s']} s after SpeechEnd: {r['text']}"
            )

    result = {
        "streaming": streaming,
        "domain_zh_tts": domain,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, device {engine.device}",
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "model": args.model,
        "stt_load_s": round(load_s, 3),
        "vad": vad,
        "summary": summary,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
