"""TTS benchmark: voice load times, time to first audio, real-time factor, Mandarin intelligibility.

Run: .venv/bin/python bench/tts_bench.py  (about a minute on 2 cores; writes bench/results/tts.json)
Intelligibility: the zh synthesis is resampled to 16 kHz and transcribed by faster-whisper base
(language zh, beam 1, temperature 0), Traditional output converted to Simplified with OpenCC,
then normalised like the input (digits read out) and compared to the spoken text by character
error rate (punctuation ignored).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.settings import TtsSettings  # noqa: E402
from speech.spoken import speakable  # noqa: E402
from speech.tts import PiperVoiceEngine, TtsService, Voice  # noqa: E402
from speech.zh_voice import ZhVoiceEngine  # noqa: E402

EN_REPLY = (
    "Hello, welcome to the branch. Your ticket is A023. Please wait in the blue seats; "
    "counter 3 will call you in about ten minutes. You can also use the self-service machine."
)
EN_SENTENCES = [
    "Please take ticket A023 to counter 3.",
    "Your debit card has been frozen, and a new card costs nothing.",
    "The branch opens at 9:00 and closes at 17:00.",
]
ZH_SENTENCES = [
    "您好，请问您要办理什么业务？",
    "请A023号到3号窗口办理。",
    "您的银行卡已经挂失，新卡三个工作日后可以领取。",
]


def _cer(ref: str, hyp: str) -> float:
    keep = lambda s: [c for c in s if c.isalnum()]  # noqa: E731
    r, h = keep(ref), keep(hyp)
    row = list(range(len(h) + 1))
    for i, rc in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hc in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rc != hc))
    return row[-1] / max(len(r), 1)


def _rtf(voice: Voice, sentences: list[str], language: str) -> dict[str, float]:
    voice.synthesize(speakable(sentences[0], language))  # warm-up
    compute = audio = 0.0
    for text in sentences:
        started = time.perf_counter()
        chunk = voice.synthesize(speakable(text, language))
        compute += time.perf_counter() - started
        audio += chunk.duration_ms / 1000
    return {"rtf": compute / audio, "audio_s": audio, "compute_s": compute}


async def _first_audio_ms(
    service: TtsService, text: str, language: str, runs: int = 5
) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        stream = service.stream(text, language)
        await anext(stream)
        times.append(1000 * (time.perf_counter() - started))
        await stream.aclose()
        await asyncio.sleep(0.3)  # let the cancelled look-ahead sentence finish
    return times


def _transcribe(voice: ZhVoiceEngine, sentences: list[str]) -> list[dict[str, object]]:
    import opencc
    import soxr
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(ROOT / "models" / "whisper-base"), device="cpu", compute_type="int8", cpu_threads=2
    )
    t2s = opencc.OpenCC("t2s")
    rows: list[dict[str, object]] = []
    for text in sentences:
        spoken = speakable(text, "zh")
        chunk = voice.synthesize(spoken)
        audio = np.frombuffer(chunk.pcm, "<i2").astype(np.float32) / 32767.0
        audio16 = soxr.resample(audio, chunk.sample_rate, 16000)
        segments, _ = model.transcribe(
            audio16, language="zh", beam_size=1, temperature=0.0, condition_on_previous_text=False
        )
        heard = t2s.convert("".join(s.text for s in segments).strip())
        # Whisper writes digits ("A023号"): read its output the same way before comparing.
        cer = _cer(spoken, speakable(heard, "zh"))
        rows.append({"text": text, "spoken": spoken, "heard": heard, "cer": cer})
    return rows


async def main() -> None:
    settings = TtsSettings()
    started = time.perf_counter()
    en = PiperVoiceEngine.load(ROOT / "models" / "piper-en-joe")
    en_load = time.perf_counter() - started
    started = time.perf_counter()
    zh = ZhVoiceEngine.load(ROOT / "models" / "zh-databaker", threads=settings.threads)
    zh_load = time.perf_counter() - started
    service = TtsService({"en": en, "zh": zh}, settings)

    en_rtf = _rtf(en, EN_SENTENCES, "en")
    zh_rtf = _rtf(zh, ZH_SENTENCES, "zh")
    en_first = await _first_audio_ms(service, EN_REPLY, "en")
    uncut = TtsService({"en": en}, TtsSettings(first_sentence_max_width=200))
    en_first_uncut = await _first_audio_ms(uncut, EN_REPLY, "en")
    uncut.close()
    zh_first = await _first_audio_ms(service, "您好，欢迎光临。请问您要办理什么业务？", "zh")
    service.close()
    heard = _transcribe(zh, ZH_SENTENCES)

    results = {
        "machine": f"{platform.machine()} {platform.processor() or ''} 2-core CPU, no GPU".strip(),
        "load_average_1_5_15": os.getloadavg(),
        "load_s": {"en_piper_joe_with_alignments": en_load, "zh_databaker_litert": zh_load},
        "rtf": {"en": en_rtf, "zh": zh_rtf},
        "first_audio_ms": {
            "en": {"median": statistics.median(en_first), "all": en_first},
            "zh": {"median": statistics.median(zh_first), "all": zh_first},
            "en_first_sentence": service.plan(EN_REPLY, "en")[0],
            "en_uncut": {"median": statistics.median(en_first_uncut), "all": en_first_uncut},
            "en_uncut_first_sentence": uncut.plan(EN_REPLY, "en")[0],
        },
        "zh_whisper_base": heard,
    }
    out = ROOT / "bench" / "results" / "tts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2))

    print(f"{'measure':<34}{'en':>12}{'zh':>12}")
    print(f"{'load (s)':<34}{en_load:>12.2f}{zh_load:>12.2f}")
    print(f"{'RTF (compute / audio)':<34}{en_rtf['rtf']:>12.3f}{zh_rtf['rtf']:>12.3f}")
    med_en, med_zh = statistics.median(en_first), statistics.median(zh_first)
    print(f"{'first audio, median of 5 (ms)':<34}{med_en:>12.0f}{med_zh:>12.0f}")
    print(f"{'  en, first sentence not cut (ms)':<34}{statistics.median(en_first_uncut):>12.0f}")
    for row in heard:
        print(f"zh said {row['spoken']!s:<28} heard {row['heard']!s:<28} CER {row['cer']:.2f}")
    print(f"load average during run: {os.getloadavg()} (2 cores shared; figures rise with it)")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
