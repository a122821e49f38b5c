"""Voice bench, in-process half: Whisper real-time factor and TTS first audio / RTF.

The service does not expose its decode times, so the STT RTF is measured on the same engine
(speech/stt.py, the service's settings) and the TTS figures on the same TtsService.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import BranchConfig
from speech.stt import SttEngine
from speech.textnorm import cer, wer
from speech.tts import TtsService

ROOT = Path(__file__).resolve().parents[1]

# Typical first sentences of real replies (the service's own phrasing for common turns).
EN_REPLY = ("Hello, welcome to the branch. Your ticket is A023. Please wait in the blue seats; "
            "counter 3 will call you in about ten minutes.")
ZH_REPLY = "您好，请问您要办理什么业务？您的号码是A023，请到3号窗口办理。前面还有4位。"


def stt_rtf(clips: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Decode every clip (language detected, as a final without a locked partial) `repeats`
    times; RTF = decode seconds / audio seconds, plus in-process CER/WER for comparison."""
    cfg = BranchConfig()
    engine = SttEngine.from_settings(ROOT / cfg.models.root / cfg.models.whisper, cfg.speech.stt)
    try:
        engine.transcribe_sync(clips[0]["pcm"].astype(np.float32) / 32768)  # warm-up
        per_clip = []
        for c in clips:
            audio = c["pcm"].astype(np.float32) / 32768
            runs = [engine.transcribe_sync(audio) for _ in range(repeats)]
            decode = statistics.median(r.decode_s for r in runs)
            score = (cer if c["lang"] == "zh" else wer)(c["reference"], runs[0].text, c["lang"])
            per_clip.append({"file": c["file"], "audio_s": round(runs[0].duration_s, 2),
                             "decode_s": round(decode, 3), "rtf": round(decode / runs[0].duration_s, 3),
                             "language": runs[0].language, "text": runs[0].text,
                             "error_rate": round(score, 4)})
    finally:
        engine.close()
    total_audio = sum(p["audio_s"] for p in per_clip)
    total_decode = sum(p["decode_s"] for p in per_clip)
    return {"rtf": round(total_decode / total_audio, 3), "per_clip": per_clip,
            "settings": {"cpu_threads": cfg.speech.stt.cpu_threads,
                         "compute_type": cfg.speech.stt.compute_type,
                         "beam_size": cfg.speech.stt.beam_size}}


async def _tts_once(tts: TtsService, text: str, language: str) -> tuple[float, float, float]:
    """(first audio ms, total synthesis s, audio s) for one reply streamed to the end."""
    started = time.perf_counter()
    first = 0.0
    audio_ms = 0
    async for chunk in tts.stream(text, language):
        if not first:
            first = (time.perf_counter() - started) * 1000
        audio_ms += chunk.duration_ms
    return first, time.perf_counter() - started, audio_ms / 1000


def tts_figures(repeats: int) -> dict[str, Any]:
    """Time to first audio and RTF of a typical English and Mandarin reply (first sentence cut
    as the service cuts it), on the service's TtsService."""
    cfg = BranchConfig()
    tts = TtsService.load(cfg.speech.tts, ROOT / cfg.models.root)
    out: dict[str, Any] = {}
    try:
        for lang, text in (("en", EN_REPLY), ("zh", ZH_REPLY)):
            asyncio.run(_tts_once(tts, text, lang))  # warm-up
            runs = [asyncio.run(_tts_once(tts, text, lang)) for _ in range(repeats)]
            firsts = [r[0] for r in runs]
            out[lang] = {"first_sentence": tts.plan(text, lang)[0], "sentences": len(tts.plan(text, lang)),
                         "first_audio_ms": round(statistics.median(firsts), 1),
                         "first_audio_ms_all": [round(f, 1) for f in firsts],
                         "rtf": round(sum(r[1] for r in runs) / sum(r[2] for r in runs), 3),
                         "audio_s": round(runs[0][2], 2)}
    finally:
        tts.close()
    return out


def window_experiment(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """The service's STT engine with Whisper's padded 30 s window (`window = "full"`) and with
    the turn's own length plus the margin (`"fit"`, the default): decode time and CER/WER of
    each on the same clips, language given."""
    import msgspec

    cfg = BranchConfig()
    folder = ROOT / cfg.models.root / cfg.models.whisper
    rows: list[dict[str, Any]] = []
    for label in ("full", "fit"):
        engine = SttEngine.from_settings(folder, msgspec.structs.replace(cfg.speech.stt,
                                                                         window=label))
        try:
            engine.transcribe_sync(clips[0]["pcm"].astype(np.float32) / 32768, "zh")  # warm-up
            for c in clips:
                tr = engine.transcribe_sync(c["pcm"].astype(np.float32) / 32768, c["lang"])
                score = (cer if c["lang"] == "zh" else wer)(c["reference"], tr.text, c["lang"])
                rows.append({"file": c["file"], "window": label, "decode_s": round(tr.decode_s, 3),
                             "error_rate": round(score, 4), "text": tr.text})
        finally:
            engine.close()
    summary = {label: {"mean_decode_s": round(statistics.mean(
                           r["decode_s"] for r in rows if r["window"] == label), 3),
                       "zh_cer": round(statistics.mean(
                           r["error_rate"] for r in rows if r["window"] == label
                           and "librispeech" not in r["file"] and "jfk" not in r["file"]), 4)}
               for label in ("full", "fit")}
    return {"summary": summary, "per_clip": rows,
            "note": "SttEngine with speech.stt.window full vs fit; language given; greedy"}
