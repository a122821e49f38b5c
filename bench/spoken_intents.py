"""The test split read aloud: CER, and intent accuracy on what is heard next to the same text.

Each chosen test row is synthesised by the installed voices (models/zh-databaker for Mandarin,
models/piper-en-joe for English; the router never trained on audio of either), at a speed
drawn from --rates, with lobby-like noise mixed in at --snr-db (pink noise plus another
test sentence at low level, as a neighbouring customer). The audio goes through the service's
own chain: Silero VAD and the endpointer find the turn, Whisper transcribes it
(speech/stt.py, textnorm included), and the saved router routes it. Audio is cached in
bench/.cache/spoken/ by text, voice, rate and noise, so a rerun only transcribes and routes.
The spoken rows are never trained on. A skeleton: --limit keeps it to a small subset (the
machine is shared); Kokoro's accented voices are not installed here.
Run: .venv/bin/python bench/spoken_intents.py --limit 20 [--lang zh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.data import TEST_TSV, lang_of, load_labelled  # noqa: E402
from speech.endpoint import Endpointer, SpeechEnd  # noqa: E402
from speech.textnorm import cer  # noqa: E402
from speech.vad import FRAME_SAMPLES, SileroVad  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "spoken"
RESULTS = ROOT / "bench" / "results" / "spoken_intents.json"
VOICES = {"zh": ROOT / "models" / "zh-databaker", "en": ROOT / "models" / "piper-en-joe"}
RATE = 16_000


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise: the hum of a lobby, louder at low frequencies than white noise."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
    out = np.fft.irfft(spectrum, n)
    return (out / (np.abs(out).max() or 1.0)).astype(np.float32)


def mix(speech: np.ndarray, babble: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """Speech plus pink noise and a quieter neighbour, at snr_db below the speech's power."""
    rng = np.random.default_rng(seed)
    pad = np.zeros(RATE // 2, np.float32)
    clean = np.concatenate([pad, speech, pad, pad])
    noise = pink_noise(len(clean), rng)
    other = np.resize(babble, len(clean)) * 0.5 if len(babble) else 0.0
    noise = noise + other
    p_s = float(np.mean(speech**2)) or 1e-9
    p_n = float(np.mean(noise**2)) or 1e-9
    gain = np.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))
    return np.clip(clean + gain * noise, -1.0, 1.0).astype(np.float32)


def synthesise(voice: Any, text: str, rate: float) -> np.ndarray:
    """One sentence as 16 kHz float samples."""
    from speech.audio import PcmStreamDecoder

    chunk = voice.synthesize(text, rate=rate)
    decoder = PcmStreamDecoder(chunk.sample_rate)
    return np.concatenate([decoder.feed(chunk.pcm), decoder.flush()]).astype(np.float32)


def clip_for(voices: dict[str, Any], text: str, babble: str, rate: float, snr: float) -> np.ndarray:
    """The cached noisy clip of one row (synthesised on first use)."""
    lang = lang_of(text)
    key = hashlib.sha256(f"{lang}|{rate}|{snr}|{text}|{babble}".encode()).hexdigest()[:20]
    path = CACHE / f"{key}.flac"
    if path.exists():
        audio, _ = sf.read(path, dtype="float32")
        return np.asarray(audio, np.float32)
    speech = synthesise(voices[lang], text, rate)
    other = synthesise(voices[lang_of(babble)], babble, 1.0)
    audio = mix(speech, other, snr, int(key[:8], 16))
    CACHE.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, RATE)
    return audio


def turn_of(vad: SileroVad, audio: np.ndarray) -> np.ndarray:
    """The turn the service's VAD and endpointer cut from the clip (the whole clip if none)."""
    stream, ep = vad.new_stream(), Endpointer()
    padded = np.concatenate([audio, np.zeros(RATE * 2, np.float32)])
    for i in range(0, len(padded) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        for ev in ep.feed(stream.process(padded[i : i + FRAME_SAMPLES]), i * 1000 // RATE):
            if isinstance(ev, SpeechEnd):
                return padded[ev.start_ms * RATE // 1000 : ev.end_ms * RATE // 1000]
    return audio


def main() -> None:
    """Synthesise (or reuse) the subset, transcribe, route, and report audio next to text."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=20, help="rows per language (a subset)")
    ap.add_argument("--lang", default="zh,en")
    ap.add_argument("--rates", default="0.9,1.0,1.15")
    ap.add_argument("--snr-db", type=float, default=15.0)
    ap.add_argument("--router", type=Path, default=ROOT / "models" / "router" / "router.npz")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from edge.understanding import load_router
    from speech.settings import TtsSettings
    from speech.stt import SttEngine
    from speech.tts import load_voice

    langs = args.lang.split(",")
    rows = [r for r in load_labelled(TEST_TSV) if lang_of(r[1]) in langs]
    rng = random.Random(0)
    picked = [
        r
        for lang in langs
        for r in rng.sample([x for x in rows if lang_of(x[1]) == lang], args.limit)
    ]
    rates = [float(r) for r in args.rates.split(",")]
    voices = {lang: load_voice(VOICES[lang], TtsSettings()) for lang in langs}
    stt = SttEngine.load(ROOT / "models" / "whisper-base", device="cpu")
    vad = SileroVad.load(ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx")
    router = load_router(args.router)
    records = []
    for n, (gold, text) in enumerate(picked):
        babble = picked[(n + 7) % len(picked)][1]
        audio = clip_for(voices, text, babble, rates[n % len(rates)], args.snr_db)
        started = time.perf_counter()
        heard = stt.transcribe_sync(turn_of(vad, audio), language=lang_of(text))
        stt_s = time.perf_counter() - started
        said, got = router.route(text), router.route(heard.text)
        records.append(
            {
                "lang": lang_of(text),
                "gold": gold,
                "text": text,
                "heard": heard.text,
                "cer": cer(text, heard.text),
                "text_ok": said.intent == gold and not said.unsure,
                "audio_ok": got.intent == gold and not got.unsure,
                "audio_unsure": got.unsure,
                "stt_s": round(stt_s, 3),
            }
        )
        print(
            f"{records[-1]['cer']:.2f} {gold:24} {'ok' if records[-1]['audio_ok'] else '--'}"
            f"  {text} -> {heard.text}",
            flush=True,
        )
    summary: dict[str, Any] = {"subset": f"{args.limit} test rows per language", "langs": {}}
    for lang in langs:
        sel = [r for r in records if r["lang"] == lang]
        summary["langs"][lang] = {
            "n": len(sel),
            "cer": statistics.mean(r["cer"] for r in sel),
            "accuracy_text": statistics.mean(r["text_ok"] for r in sel),
            "accuracy_audio": statistics.mean(r["audio_ok"] for r in sel),
            "unsure_rate_audio": statistics.mean(r["audio_unsure"] for r in sel),
            "stt_s_p50": statistics.median(r["stt_s"] for r in sel),
        }
    summary["machine"] = {"cpu": platform.machine(), "python": platform.python_version()}
    summary["records"] = records
    args.out.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(summary["langs"], indent=1))


if __name__ == "__main__":
    main()
