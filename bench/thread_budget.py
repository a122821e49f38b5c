"""Thread budget on a small box: does each model's intra-op thread count pay off when the
lanes run them at the same time (LLM answering while a kiosk's reply is synthesised and
another kiosk's speech decoded)?

Run: .venv/bin/python bench/thread_budget.py [--llm-folder models/llm-tiny]
In-process, same engines as the service. For each setting: the median time of one first
reply sentence (TTS, en) and of one clip's decode (STT), alone and while the LLM generates
back to back on another thread. Writes bench/results/thread_budget.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.llm import CallStats, LlmEngine  # noqa: E402

from edge.config import BranchConfig  # noqa: E402
from speech.stt import SttEngine  # noqa: E402
from speech.tts import TtsService, TtsSettings  # noqa: E402

OUT = ROOT / "bench" / "results" / "thread_budget.json"
CLIP = ROOT.parent / "shared" / "datasets" / "speech" / "BAC009S0764W0121.wav"
SENTENCE = "Hello, welcome to the branch."


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Background:
    """The LLM writing answers back to back until stopped (the answers lane, busy)."""

    def __init__(self, llm: LlmEngine | None) -> None:
        self.llm = llm
        self.stop = threading.Event()
        self.tokens = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        assert self.llm is not None
        while not self.stop.is_set():
            stats = CallStats()
            for _ in self.llm.stream_answer("Answer briefly.", "How much is a wire transfer?",
                                            deadline_s=5.0, max_new_tokens=64, cancel=self.stop,
                                            stats=stats):
                pass
            self.tokens += stats.new_tokens

    def __enter__(self) -> Background:
        if self.llm is not None:
            self.thread.start()
            time.sleep(0.5)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        if self.llm is not None:
            self.thread.join(10)


def python_lag(seconds: float = 3.0) -> dict[str, float]:
    """How late a Python thread wakes from 5 ms sleeps (the event loop's lot): long stalls
    while a model runs mean its runtime holds the GIL, not just the cores."""
    lags = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        time.sleep(0.005)
        lags.append(time.perf_counter() - started - 0.005)
    lags.sort()
    return {"p50_ms": round(lags[len(lags) // 2] * 1000, 1),
            "p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 1),
            "max_ms": round(lags[-1] * 1000, 1)}


def numpy_busy(stop: threading.Event) -> None:
    """Native work that releases the GIL, for comparison with the LLM."""
    a = np.random.default_rng(0).random((400, 400), dtype=np.float32)
    while not stop.is_set():
        a @ a


def timed(fn: Any, n: int) -> float:
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs), 4)


def measure(llm_threads: int, tts_threads: int, stt_threads: int, llm_folder: str,
            n: int) -> dict[str, Any]:
    cfg = BranchConfig()
    tts = TtsService.load(TtsSettings(voices={"en": "piper-en-joe"}, threads=tts_threads),
                          ROOT / cfg.models.root)
    stt = SttEngine.from_settings(ROOT / cfg.models.root / cfg.models.whisper,
                                  msgspec_replace(cfg.speech.stt, cpu_threads=stt_threads))
    llm = LlmEngine.load(llm_folder, "cpu", llm_threads) if llm_folder else None
    pcm, _ = sf.read(CLIP, dtype="float32")
    voice = tts.voice_for("en")
    try:
        voice.synthesize(SENTENCE)
        stt.transcribe_sync(pcm, "zh")
        out: dict[str, Any] = {"llm_threads": llm_threads, "tts_threads": tts_threads,
                               "stt_threads": stt_threads}
        for label, bg in (("alone", None), ("with_llm", llm)):
            with Background(bg) as running:
                started = time.perf_counter()
                out[f"tts_sentence_s_{label}"] = timed(lambda: voice.synthesize(SENTENCE), n)
                out[f"stt_clip_s_{label}"] = timed(lambda: stt.transcribe_sync(pcm, "zh"), n)
                out[f"python_lag_{label}"] = python_lag()
                if bg is not None:
                    out["llm_tokens_per_s"] = round(
                        running.tokens / (time.perf_counter() - started), 2)
        stop = threading.Event()
        native = threading.Thread(target=numpy_busy, args=(stop,), daemon=True)
        native.start()
        out["python_lag_with_numpy"] = python_lag()
        stop.set()
        native.join(10)
        return out
    finally:
        tts.close()
        stt.close()


def msgspec_replace(settings: Any, **changes: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(settings, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm-folder", default="models/llm-tiny")
    parser.add_argument("-n", type=int, default=5, help="repeats per figure (median)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    load0 = load()
    settings = [(2, 2, 2), (1, 2, 2), (1, 1, 1)]
    rows = [measure(lt, tt, st, args.llm_folder, args.n) for lt, tt, st in settings]
    result = {"rows": rows, "sentence": SENTENCE, "clip": CLIP.name, "cores": os.cpu_count(),
              "load_average_1_5_15": {"start": load0, "end": load()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for r in rows:
        print(r)
    print(f"load average start {load0} end {load()}; wrote {args.out}")


if __name__ == "__main__":
    main()
