"""The test split read aloud: CER, and intent accuracy on what is heard next to the same text.

A stratified subset of test.tsv (round-robin over intents, seeded; --zh and --en rows) is
read by voices the router never trained on: the installed voices (models/zh-databaker for
Mandarin, models/piper-en-joe for English) and, for --kokoro-share of the Mandarin rows,
Kokoro-82M's TEST styles (bench/kokoro_speaker.TEST_STYLES: Japanese voices reading Mandarin,
an accented speaker). Each row gets a speed and pitch drawn from its text, and lobby noise
(pink noise plus a neighbour: one of a small pool of other test sentences in the installed
voices) at a drawn SNR. The clip goes through
the service's own chain: Silero VAD and the endpointer cut the turn, Whisper transcribes it
with branch.example.toml's [speech.stt] (language detected, as on a first turn), and the saved
router routes the transcript and, for comparison, the written row.
Hearing is cached (bench/.cache/spoken/: FLAC per clip, transcripts in heard.tsv), so
`--hear-only` can run the slow part first and a later run only routes. Never trained on.
Reports per voice group: CER, accuracy on audio and on the same rows as text (unsure counted
wrong), unsure rate, STT and routing latency; writes bench/results/spoken_intents.json.
Run: nice -n 5 .venv/bin/python bench/spoken_intents.py [--hear-only] [--router PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.spoken_audio import (  # noqa: E402
    cached,
    clip_key,
    mix,
    piper_say,
    service_speech,
    turn_of,
)
from intents.data import TEST_TSV, lang_of, load_labelled  # noqa: E402
from speech.textnorm import cer  # noqa: E402

CACHE: Final = ROOT / "bench" / ".cache" / "spoken"
HEARD: Final = CACHE / "heard.tsv"
RESULTS: Final = ROOT / "bench" / "results" / "spoken_intents.json"
VOICES: Final = {"zh": "zh-databaker", "en": "piper-en-joe"}
SPEEDS: Final = (0.85, 1.2)
PITCHES: Final = (0.9, 1.1)
SNRS_DB: Final = (10.0, 25.0)
BABBLE_POOL: Final = 12


def pick(lang: str, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n test rows of one language, round-robin over intents (seeded order within each)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for intent, text in load_labelled(TEST_TSV):
        if lang_of(text) == lang:
            by_intent[intent].append(text)
    rng = random.Random(f"{seed}-{lang}")
    for texts in by_intent.values():
        rng.shuffle(texts)
    out: list[tuple[str, str]] = []
    for i in range(max(len(v) for v in by_intent.values())):
        out += [(k, by_intent[k][i]) for k in sorted(by_intent) if i < len(by_intent[k])]
    return out[:n]


def plan(zh: int, en: int, kokoro_share: float) -> list[tuple[str, str, str]]:
    """(voice, intent, text): every kth Mandarin row goes to a Kokoro test style."""
    from bench.kokoro_speaker import TEST_STYLES

    out: list[tuple[str, str, str]] = []
    every = round(1 / kokoro_share) if kokoro_share > 0 else 0
    k = 0
    for n, (intent, text) in enumerate(pick("zh", zh)):
        if every and n % every == 0:
            out.append((f"kokoro:{TEST_STYLES[k % len(TEST_STYLES)]}", intent, text))
            k += 1
        else:
            out.append((VOICES["zh"], intent, text))
    out += [(VOICES["en"], intent, text) for intent, text in pick("en", en)]
    return out


def group_of(voice: str) -> str:
    """The report's voice group."""
    return "zh_kokoro_accented" if voice.startswith("kokoro:") else f"{lang_of_voice(voice)}_own"


def lang_of_voice(voice: str) -> str:
    return "en" if voice == VOICES["en"] else "zh"


def read_heard() -> dict[str, tuple[str, float]]:
    """Cached transcripts: key -> (heard text, STT seconds)."""
    out: dict[str, tuple[str, float]] = {}
    if HEARD.exists():
        for line in HEARD.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                out[parts[0]] = (parts[1], float(parts[2]))
    return out


def hear(rows: list[tuple[str, str, str]], models: Path, threads: int) -> dict[str, tuple[str, float]]:
    """Synthesise, cut and transcribe every planned row not yet in the cache."""
    from bench.kokoro_speaker import speaker
    from speech.settings import TtsSettings
    from speech.tts import load_voice

    done = read_heard()
    # Interleave the languages by rank so a run cut short leaves a stratified prefix of each
    rank = {id(r): i / max(1, sum(lang_of(x[2]) == lang_of(r[2]) for x in rows))
            for lang in ("zh", "en")
            for i, r in enumerate(x for x in rows if lang_of(x[2]) == lang)}
    todo = sorted((r for r in rows if clip_key(*r) not in done), key=lambda r: rank[id(r)])
    if not todo:
        return done
    stt, vad, vad_settings = service_speech(models, threads)
    voices: dict[str, Any] = {}

    def say(voice: str, text: str, speed: float, pitch: float) -> np.ndarray:
        if voice not in voices:
            voices[voice] = (
                speaker(voice.split(":", 1)[1], "test", threads)
                if voice.startswith("kokoro:")
                else load_voice(models / voice, TtsSettings(threads=threads))
            )
        if voice.startswith("kokoro:"):
            return np.asarray(voices[voice].say(text, speed, pitch), np.float32)
        return piper_say(voices[voice], text, speed, pitch)

    CACHE.mkdir(parents=True, exist_ok=True)
    babble: dict[str, list[np.ndarray]] = {}
    for lang in ("zh", "en"):  # neighbours: a small pool of test rows in the own voices
        pool = [r for r in rows if lang_of(r[2]) == lang and not r[0].startswith("kokoro:")]
        babble[lang] = [
            cached(CACHE / f"babble-{clip_key(lang, r[2])}.flac",
                   partial(say, VOICES[lang], r[2], 1.0, 1.0))
            for r in pool[-BABBLE_POOL:]
        ]
    started = time.perf_counter()
    with HEARD.open("a", encoding="utf-8") as log:
        for n, (voice, intent, text) in enumerate(todo):
            key = clip_key(voice, intent, text)
            rng = random.Random(key)
            speed, pitch, snr = rng.uniform(*SPEEDS), rng.uniform(*PITCHES), rng.uniform(*SNRS_DB)
            lang = lang_of(text)
            noise = babble[lang][rng.randrange(len(babble[lang]))]
            seed = rng.randrange(2**31)

            def make(voice: str = voice, text: str = text, speed: float = speed,
                     pitch: float = pitch, snr: float = snr, noise: np.ndarray = noise,
                     seed: int = seed) -> np.ndarray:
                return mix(say(voice, text, speed, pitch), noise, snr, seed)

            audio = cached(CACHE / f"{key}.flac", make)
            t0 = time.perf_counter()
            heard = stt.transcribe_sync(turn_of(vad, audio, vad_settings))
            stt_s = time.perf_counter() - t0
            clean = heard.text.replace("\t", " ").replace("\n", " ").strip()
            log.write(f"{key}\t{clean}\t{stt_s:.3f}\n")
            log.flush()
            done[key] = (clean, stt_s)
            if (n + 1) % 10 == 0:
                each = (time.perf_counter() - started) / (n + 1)
                print(f"heard {n + 1}/{len(todo)} ({each:.1f} s each)", flush=True)
    return done


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def route_all(
    rows: list[tuple[str, str, str]], heard: dict[str, tuple[str, float]], router: Any
) -> list[dict[str, Any]]:
    """Route each row's transcript and its written text; one record per row."""
    records = []
    for voice, gold, text in rows:
        said_text, stt_s = heard[clip_key(voice, gold, text)]
        said = router.route(text)
        t0 = time.perf_counter()
        got = router.route(said_text)
        route_ms = (time.perf_counter() - t0) * 1000
        records.append(
            {
                "group": group_of(voice),
                "voice": voice,
                "gold": gold,
                "text": text,
                "heard": said_text,
                "cer": cer(text, said_text),
                "text_ok": said.intent == gold and not said.unsure,
                "audio_ok": got.intent == gold and not got.unsure,
                "audio_top1": got.intent == gold,
                "audio_unsure": got.unsure,
                "audio_intent": got.intent,
                "stt_s": round(stt_s, 3),
                "route_ms": round(route_ms, 2),
            }
        )
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per voice group and overall: CER, accuracy audio vs text, unsure rate, latency."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["group"]].append(r)
    groups["overall"] = records
    out: dict[str, Any] = {}
    for name, sel in sorted(groups.items()):
        out[name] = {
            "n": len(sel),
            "cer": round(statistics.mean(r["cer"] for r in sel), 4),
            "accuracy_text": round(statistics.mean(r["text_ok"] for r in sel), 4),
            "accuracy_audio": round(statistics.mean(r["audio_ok"] for r in sel), 4),
            "top1_audio": round(statistics.mean(r["audio_top1"] for r in sel), 4),
            "unsure_rate_audio": round(statistics.mean(r["audio_unsure"] for r in sel), 4),
            "stt_s_p50": round(pct([r["stt_s"] for r in sel], 50), 3),
            "stt_s_p95": round(pct([r["stt_s"] for r in sel], 95), 3),
            "route_ms_p50": round(pct([r["route_ms"] for r in sel], 50), 2),
            "route_ms_p95": round(pct([r["route_ms"] for r in sel], 95), 2),
        }
    return out


def main() -> None:
    """Hear the subset (cached), then route it and report audio next to text."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--zh", type=int, default=300, help="Mandarin test rows")
    ap.add_argument("--en", type=int, default=150, help="English test rows")
    ap.add_argument("--kokoro-share", type=float, default=1 / 3,
                    help="share of Mandarin rows read by Kokoro's accented test styles")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--router", type=Path, default=ROOT / "models" / "router" / "router.npz")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hear-only", action="store_true", help="synthesise and transcribe only")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    rows = plan(args.zh, args.en, args.kokoro_share)
    load_before = os.getloadavg()
    heard = hear(rows, args.models, args.threads)
    if args.hear_only:
        print(f"{sum(clip_key(*r) in heard for r in rows)}/{len(rows)} rows heard")
        return
    from edge.understanding import load_router

    router = load_router(args.router)
    records = route_all(rows, heard, router)
    summary: dict[str, Any] = {
        "subset": {"zh": args.zh, "en": args.en, "kokoro_share": args.kokoro_share},
        "router": str(args.router),
        "groups": summarise(records),
        "machine": {
            "cpu": platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("| group | n | CER | acc text | acc audio | unsure | STT p50/p95 s | route p50/p95 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, g in summary["groups"].items():
        print(
            f"| {name} | {g['n']} | {g['cer']:.3f} | {g['accuracy_text']:.3f} | "
            f"{g['accuracy_audio']:.3f} | {g['unsure_rate_audio']:.3f} | "
            f"{g['stt_s_p50']:.2f}/{g['stt_s_p95']:.2f} | "
            f"{g['route_ms_p50']:.1f}/{g['route_ms_p95']:.1f} |"
        )
    print(f"load: {load_before} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
