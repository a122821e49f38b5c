"""Shared pieces of the spoken benchmarks: lobby noise, the service's VAD cut, Whisper as served.

Used by bench/heard_train.py (training speakers -> heard training rows), bench/spoken_intents.py
(test speakers -> the spoken test set) and bench/stt_options.py (Whisper's options on cached
clips). Clips are cached as FLAC by a key of everything that made them, so reruns resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import soundfile as sf

ROOT: Final = Path(__file__).resolve().parents[1]
RATE: Final = 16_000
Audio = npt.NDArray[np.float32]


def pink_noise(n: int, rng: np.random.Generator) -> Audio:
    """1/f noise: the hum of a lobby, louder at low frequencies than white noise."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
    out = np.fft.irfft(spectrum, n)
    return (out / (np.abs(out).max() or 1.0)).astype(np.float32)


def mix(speech: Audio, babble: Audio, snr_db: float, seed: int) -> Audio:
    """Half a second of room before and a second after the speech, then pink noise plus a
    quieter neighbour's sentence, together `snr_db` below the speech's power."""
    rng = np.random.default_rng(seed)
    pad = np.zeros(RATE // 2, np.float32)
    clean = np.concatenate([pad, speech, pad, pad])
    noise = pink_noise(len(clean), rng)
    if len(babble):
        start = int(rng.integers(0, max(1, len(babble) // 2)))
        noise = noise + np.resize(np.roll(babble, -start), len(clean)) * 0.5
    p_s = float(np.mean(speech**2)) or 1e-9
    p_n = float(np.mean(noise**2)) or 1e-9
    gain = np.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))
    out: Audio = np.clip(clean + gain * noise, -1.0, 1.0).astype(np.float32)
    return out


def clip_key(*parts: object) -> str:
    """A cache key of everything that made a clip."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


def cached(path: Path, make: Callable[[], Audio]) -> Audio:
    """The clip at `path`, made (and written as FLAC) on first use."""
    if path.exists():
        audio, _ = sf.read(path, dtype="float32")
        return np.asarray(audio, np.float32)
    audio = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.flac")
    sf.write(tmp, audio, RATE)
    tmp.replace(path)
    return audio


def turn_of(vad: Any, audio: Audio, settings: Any = None) -> Audio:
    """The turn the service's VAD and endpointer cut from the clip (the whole clip if none)."""
    from speech.endpoint import Endpointer, SpeechEnd
    from speech.vad import FRAME_SAMPLES

    stream, ep = vad.new_stream(), Endpointer(settings)
    padded = np.concatenate([audio, np.zeros(RATE * 2, np.float32)])
    for i in range(0, len(padded) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        for ev in ep.feed(stream.process(padded[i : i + FRAME_SAMPLES]), i * 1000 // RATE):
            if isinstance(ev, SpeechEnd):
                return padded[ev.start_ms * RATE // 1000 : ev.end_ms * RATE // 1000]
    return audio


def service_speech(models: Path, cpu_threads: int = 2) -> tuple[Any, Any, Any]:
    """(Whisper engine, Silero VAD, VAD settings) exactly as branch.example.toml configures
    the service, so benchmarks hear what a kiosk would."""
    import tomllib

    import msgspec

    from speech.settings import SttSettings, VadSettings
    from speech.stt import SttEngine
    from speech.vad import SileroVad

    conf = tomllib.loads((ROOT / "branch.example.toml").read_text(encoding="utf-8"))
    speech = conf.get("speech", {})
    stt_conf = dict(speech.get("stt", {}), device="cpu", cpu_threads=cpu_threads)
    stt_settings = msgspec.convert(stt_conf, SttSettings)
    vad_settings = msgspec.convert(speech.get("vad", {}), VadSettings)
    stt = SttEngine.from_settings(models / "whisper-base", stt_settings)
    vad = SileroVad.load(models / "silero-vad" / "silero_vad_v6.onnx")
    return stt, vad, vad_settings


def piper_say(voice: Any, text: str, rate: float, pitch: float = 1.0) -> Audio:
    """One sentence from an installed voice (speech/tts.py) as 16 kHz float samples; pitch is
    shifted by resampling (which also changes tempo, so the voice runs at rate / pitch)."""
    import soxr

    chunk = voice.synthesize(text, rate=rate / pitch)
    pcm = np.frombuffer(chunk.pcm, dtype="<i2").astype(np.float32) / 32768.0
    out = soxr.resample(pcm, chunk.sample_rate * pitch, RATE)
    return np.clip(np.asarray(out, np.float32), -1.0, 1.0)
