"""The browser benchmark's clock work: finding where the page's microphone frames sit in the
fake microphone file, and pairing each clip's end of speech with the reply heard after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bench.browser_bench import FRAME_MS, RATE, capture_start_ms, latencies


def speechy(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    t = np.arange(RATE * 12) / RATE
    bursts = (np.sin(2 * np.pi * 0.7 * t) > 0.3) * (np.sin(2 * np.pi * 3.1 * t) > -0.5)
    pcm = (0.2 * bursts * rng.standard_normal(len(t))).astype(np.float32)
    path = tmp_path / "mic.wav"
    sf.write(path, pcm, RATE, subtype="PCM_16")
    return path


def frames_from(path: Path, start_ms: float) -> list[dict[str, Any]]:
    """What the page would log if its frame 0 began at file time `start_ms`."""
    pcm, _ = sf.read(path, dtype="float32")
    frame = RATE * FRAME_MS // 1000
    first = round(start_ms * RATE / 1000)
    out = []
    for n in range((len(pcm) - first) // frame):
        x = pcm[first + n * frame:first + (n + 1) * frame]
        # a frame leaves the worklet when its last sample is in: capture time 0 = wall 1e6
        out.append({"n": n, "rms": float(np.sqrt(np.mean(x ** 2))),
                    "wall": 1e6 + (n + 1) * FRAME_MS})
    return out


def test_the_capture_start_is_found_to_a_few_ms(tmp_path: Path) -> None:
    path = speechy(tmp_path)
    for start in (0.0, 137.5, 610.0):
        found = capture_start_ms(path, frames_from(path, start))
        assert found is not None and abs(found - start) <= 2.5, (start, found)


def test_each_clip_is_paired_with_the_reply_to_its_own_turn(tmp_path: Path) -> None:
    path = speechy(tmp_path)
    mic = {f["n"]: f for f in frames_from(path, 100.0)}
    plan = [{"file": "a", "lang": "zh", "end_ms": 2100.0, "reference": "甚至出现交易几乎停滞的情况"},
            {"file": "b", "lang": "en", "end_ms": 7100.0, "reference": "Ask what you can do"}]
    # a ends at capture time 2000 ms (frame 50, which left at 1e6 + 2040): wall 1e6 + 2000
    events = [{"type": "transcript", "final": True, "text": "甚至出现交易几乎停制的情况。",
               "wall": 1e6 + 2700},
              {"type": "reply", "turn": 1, "wall": 1e6 + 2900},
              # a long clip heard as two turns: its reply is the one to its last words
              {"type": "transcript", "final": True, "text": "Ask not", "wall": 1e6 + 7300},
              {"type": "reply", "turn": 2, "wall": 1e6 + 7400},
              {"type": "transcript", "final": True, "text": "ask what you can do.",
               "wall": 1e6 + 7600},
              {"type": "reply", "turn": 3, "wall": 1e6 + 7800}]
    playback = [{"type": "started", "turn": 1, "wall": 1e6 + 3250},
                {"type": "started", "turn": 1, "wall": 1e6 + 5000},  # its second sentence
                {"type": "started", "turn": 2, "wall": 1e6 + 7500},
                {"type": "started", "turn": 3, "wall": 1e6 + 8000}]
    runs, start = latencies(plan, mic, playback, events, path)
    assert start is not None and abs(start - 100.0) <= 2.5
    assert [r["turn"] for r in runs] == [1, 3]
    assert abs(runs[0]["latency_s"] - 1.25) < 0.01 and abs(runs[1]["latency_s"] - 1.0) < 0.01
