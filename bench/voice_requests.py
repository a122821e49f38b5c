"""voice_bench.py's kiosk phases on spoken banking requests instead of the shared news clips.

The shared clips (AISHELL news, LibriSpeech, JFK) are no requests a bank kiosk hears, so the
semantic end of turn (speech/turn_end.py: a finished sentence that routes with confidence to a
banking intent ends the turn after a short pause) never applies to them. These clips are clear
requests in both languages read by the installed voices (models/zh-databaker, piper joe), plus
two that trail off mid-request ("我想，那个，" / "I want to, um," then 0.8 s of silence, then
the rest): those must stay one turn. Synthesised once and cached in bench/.cache/voice_requests/;
the true end of speech is found per clip with Silero as bench/speech_ends.py does.

Run (one kiosk, then four):
  .venv/bin/python bench/voice_requests.py                        # semantic end on (default)
  .venv/bin/python bench/voice_requests.py --set speech.vad.semantic_end=false   # baseline
  .venv/bin/python bench/voice_requests.py --set speech.tts.cache_mb=0   # no sentence cache
Writes bench/results/voice_requests.json (or --out); prints voice_bench's table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import voice_bench  # noqa: E402
from bench.speech_ends import find_end, speech_end_chunk  # noqa: E402
from bench.voice_client import CHUNK_MS, Peer, ServiceProcess  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "voice_requests"
OUT = ROOT / "bench" / "results" / "voice_requests.json"
VOICES = {"zh": ROOT / "models" / "zh-databaker", "en": ROOT / "models" / "piper-en-joe"}
VAD = ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx"
RATE = 16_000
TAIL_S = 0.6  # silence after the speech, as the shared clips end with 0.4-0.7 s
PAUSE_S = 0.8  # the hesitation inside a trailing request: longer than end_silence_ms

REQUESTS: list[tuple[str, tuple[str, ...]]] = [
    ("zh", ("我想查一下余额。",)),
    ("zh", ("我的银行卡丢了，要挂失。",)),
    ("zh", ("我要开一个新账户。",)),
    ("zh", ("帮我取个号吧。",)),
    ("zh", ("我想换一点美元。",)),
    ("zh", ("我想，那个，", "办一张信用卡。")),
    ("en", ("I want to check my balance.",)),
    ("en", ("I lost my bank card.",)),
    ("en", ("I would like to open a savings account.",)),
    ("en", ("How do I reset my password?",)),
    ("en", ("I need to send money abroad.",)),
    ("en", ("I want to, um,", "apply for a credit card.")),
]


def _synthesise(voice: Any, text: str) -> np.ndarray:
    from speech.audio import PcmStreamDecoder

    chunk = voice.synthesize(text, rate=1.0)
    decoder = PcmStreamDecoder(chunk.sample_rate)
    return np.concatenate([decoder.feed(chunk.pcm), decoder.flush()]).astype(np.float32)


def _clip(voices: dict[str, Any], lang: str, parts: tuple[str, ...]) -> Path:
    key = hashlib.sha256(f"{lang}|{PAUSE_S}|{TAIL_S}|{'|'.join(parts)}".encode()).hexdigest()[:16]
    path = CACHE / f"{lang}-{key}.wav"
    if path.exists():
        return path
    gap = np.zeros(int(PAUSE_S * RATE), np.float32)
    pieces: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            pieces.append(gap)
        pieces.append(_synthesise(voices[lang], part))
    pieces.append(np.zeros(int(TAIL_S * RATE), np.float32))
    audio = np.concatenate(pieces)
    CACHE.mkdir(parents=True, exist_ok=True)
    sf.write(path, (np.clip(audio, -1, 1) * 32767).astype(np.int16), RATE, subtype="PCM_16")
    return path


def request_clips() -> list[dict[str, Any]]:
    """The request clips in voice_bench's clip format (PCM16, reference, end-of-speech chunk)."""
    from speech.settings import TtsSettings
    from speech.tts import load_voice

    voices = {lang: load_voice(folder, TtsSettings(noise_scale=0.0, noise_w=0.0))
              for lang, folder in VOICES.items()}
    clips = []
    for lang, parts in REQUESTS:
        path = _clip(voices, lang, parts)
        pcm, rate = sf.read(path, dtype="int16")
        assert rate == RATE
        end = find_end(path, VAD)
        clips.append({"file": f"{'trailing-' if len(parts) > 1 else ''}{path.name}",
                      "lang": lang, "reference": (" " if lang == "en" else "").join(parts),
                      "pcm": pcm, "speech_end_s": end.speech_end_s,
                      "end_chunk": speech_end_chunk(path, CHUNK_MS, end.speech_end_s)})
    return clips


async def requests_one(svc: ServiceProcess, console: Peer, clips: list[dict[str, Any]],
                       args: argparse.Namespace) -> dict[str, Any]:
    """One kiosk speaks every request clip `reps` times."""
    return await voice_bench.one_kiosk(svc, console, request_clips(), args)


async def requests_four(svc: ServiceProcess, console: Peer, clips: list[dict[str, Any]],
                        args: argparse.Namespace) -> dict[str, Any]:
    """Four kiosks at once, each cycling the request clips from a different offset."""
    return await voice_bench.four_kiosks(svc, console, request_clips(), args)


def main() -> None:
    voice_bench.SCENARIOS.clear()  # the shared clips' phases are voice_bench.py's own run
    voice_bench.SCENARIOS["requests"] = requests_one
    voice_bench.SCENARIOS["requests4"] = requests_four
    argv = sys.argv[1:]
    if "--phases" not in argv:
        argv += ["--phases", "requests", "requests4"]
    if "--out" not in argv:
        argv += ["--out", str(OUT)]
    sys.argv = [sys.argv[0], *argv]
    voice_bench.main()
    split_by_repeat(Path(argv[argv.index("--out") + 1]))


def split_by_repeat(out: Path) -> None:
    """One kiosk's turns split by whether their reply was already said in this run.

    The TTS sentence cache ([speech.tts] cache_mb) plays a repeated sentence without synthesis,
    and this bench repeats every request: the first time a reply is said is what a new sentence
    costs, the repeats what a branch's everyday replies cost. Both go into the JSON.
    """
    result = json.loads(out.read_text(encoding="utf-8"))
    clips = result.get("detail", {}).get("turn", {}).get("per_clip", [])
    seen: set[str] = set()
    groups: dict[str, list[float]] = {"first_time": [], "repeated": []}
    for clip in clips:
        reply = str(clip.get("reply", ""))
        if clip.get("latency_s") is not None:
            groups["repeated" if reply in seen else "first_time"].append(float(clip["latency_s"]))
        seen.add(reply)
    split = {
        name: {"n": len(v), "p50_s": round(float(np.percentile(v, 50)), 3),
               "p95_s": round(float(np.percentile(v, 95)), 3)}
        for name, v in groups.items() if v
    }  # fmt: skip
    result["turn_by_reply"] = split
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for name, figures in split.items():
        print(f"one kiosk, reply said {name.replace('_', ' ')}: n={figures['n']} "
              f"p50 {figures['p50_s']:.3f} s, p95 {figures['p95_s']:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
