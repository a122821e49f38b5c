"""True end of speech of each shared clip: its last voiced frame, found once and stored.

The clips end with 0.4-0.7 s of silence, so a latency counted from a clip's last sample is that
much too good. This finds the last 32 ms frame that Silero VAD (as the service runs it:
speech/vad.py, PCM16 scaled to [-1, 1), frames aligned to the stream's start) scores at or
above the service's speech threshold, cross-checks it with a frame-energy measure, and writes
bench/data/speech_ends.json with each clip's sha256 so that a changed clip is noticed.

Run: .venv/bin/python -m bench.speech_ends            (rewrite the file, ~2 s)
     .venv/bin/python -m bench.speech_ends --check    (exit 1 when the file is stale)
Other benchmarks import `speech_end_s(path)` / `speech_end_chunk(path, chunk_ms)`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "datasets" / "speech"
ENDS = ROOT / "bench" / "data" / "speech_ends.json"
RATE = 16_000
FRAME = 512  # one Silero frame, 32 ms: also the bench's websocket chunk
THRESHOLD = 0.5  # VadSettings.threshold: the service counts a frame at or above it as speech
ENERGY_BELOW_PEAK_DB = 35.0  # a frame this far under the clip's loudest frame is not speech
ENERGY_ABOVE_FLOOR_DB = 10.0  # ... nor one this close to its noise floor
AGREE_MS = 200  # VAD and energy ends further apart than this are reported as a disagreement


class StaleSpeechEnds(RuntimeError):
    """The stored end of speech is missing or was found on a different file."""


@dataclass(frozen=True)
class SpeechEnd:
    """Where the speech in one clip stops (times in seconds from the clip's first sample)."""

    sha256: str
    duration_s: float
    last_voiced_frame: int  # index of the last 32 ms frame with VAD probability >= THRESHOLD
    speech_end_s: float  # end of that frame
    silence_after_s: float  # duration_s - speech_end_s: what a clip-end clock gave away
    energy_end_s: float  # end of the last frame loud enough by the energy measure
    vad_energy_gap_ms: int  # energy_end_s - speech_end_s


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_pcm16(path: Path) -> npt.NDArray[np.int16]:
    pcm, rate = sf.read(path, dtype="int16")
    if rate != RATE or pcm.ndim != 1:
        raise ValueError(f"{path.name}: need 16 kHz mono, got {rate} Hz, shape {pcm.shape}")
    return np.asarray(pcm, dtype=np.int16)


def frames_of(pcm: npt.NDArray[np.int16], tail_frames: int = 0) -> npt.NDArray[np.float32]:
    """The clip as the service's VAD sees it: float frames from the stream's start, the last
    one completed with silence (the bench streams silence after the clip), then tail_frames
    frames of silence."""
    n = -(-len(pcm) // FRAME) + tail_frames
    padded = np.zeros(n * FRAME, dtype=np.float32)
    padded[:len(pcm)] = pcm.astype(np.float32) / 32768.0
    return padded.reshape(n, FRAME)


def last_voiced_vad(probs: list[float], n_clip_frames: int, threshold: float = THRESHOLD) -> int:
    """Index of the last frame of the clip scored at or above `threshold`; -1 if none."""
    voiced = [i for i, p in enumerate(probs[:n_clip_frames]) if p >= threshold]
    return voiced[-1] if voiced else -1


def last_voiced_energy(frames: npt.NDArray[np.float32]) -> int:
    """Index of the last frame whose RMS is within ENERGY_BELOW_PEAK_DB of the loudest frame
    and ENERGY_ABOVE_FLOOR_DB over the noise floor (10th percentile); -1 if none."""
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-7))
    floor = float(np.percentile(db, 10))
    cut = max(float(db.max()) - ENERGY_BELOW_PEAK_DB, floor + ENERGY_ABOVE_FLOOR_DB)
    loud = np.flatnonzero(db >= cut)
    return int(loud[-1]) if loud.size else -1


def vad_probs(frames: npt.NDArray[np.float32], model: Path) -> list[float]:
    """Silero probabilities of consecutive frames through one fresh stream, as the service."""
    from speech.vad import SileroVad

    stream = SileroVad.load(model).new_stream()
    return [stream.process(f) for f in frames]


def find_end(path: Path, model: Path) -> SpeechEnd:
    """Run VAD and the energy measure over one clip."""
    pcm = read_pcm16(path)
    n_clip = -(-len(pcm) // FRAME)
    frames = frames_of(pcm, tail_frames=RATE // FRAME)
    vad_frame = last_voiced_vad(vad_probs(frames, model), n_clip)
    energy_frame = last_voiced_energy(frames[:n_clip])
    if vad_frame < 0:
        raise ValueError(f"{path.name}: Silero finds no speech at threshold {THRESHOLD}")
    duration = len(pcm) / RATE
    end = min((vad_frame + 1) * FRAME, len(pcm)) / RATE
    energy_end = min((energy_frame + 1) * FRAME, len(pcm)) / RATE
    return SpeechEnd(sha256_of(path), round(duration, 4), vad_frame, round(end, 4),
                     round(duration - end, 4), round(energy_end, 4),
                     round((energy_end - end) * 1000))


def clip_names(clips: Path = CLIPS) -> list[str]:
    with (clips / "manifest.tsv").open(encoding="utf-8") as f:
        return [row["file"] for row in csv.DictReader(f, delimiter="\t")]


def build(clips: Path = CLIPS, model: Path | None = None) -> dict[str, Any]:
    """The JSON document for every clip in the manifest."""
    model = model or ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx"
    ends = {name: asdict(find_end(clips / name, model)) for name in clip_names(clips)}
    return {"method": (f"last 32 ms frame (512 samples from the clip's first sample) with "
                       f"Silero VAD v6 probability >= {THRESHOLD} (the service's speech "
                       f"threshold, one fresh stream per clip, PCM16/32768 as the service "
                       f"scales it); energy cross-check: last frame within "
                       f"{ENERGY_BELOW_PEAK_DB:.0f} dB of the loudest and "
                       f"{ENERGY_ABOVE_FLOOR_DB:.0f} dB over the 10th-percentile floor"),
            "threshold": THRESHOLD, "frame_samples": FRAME, "sample_rate": RATE,
            "clips": ends}


def load_ends(path: Path = ENDS) -> dict[str, Any]:
    if not path.is_file():
        raise StaleSpeechEnds(f"{path} is missing: run python -m bench.speech_ends")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def stored_end(clip: Path, ends: dict[str, Any] | None = None) -> SpeechEnd:
    """The stored end of one clip, after checking that the file is the one it was found on."""
    entry = (ends or load_ends())["clips"].get(clip.name)
    if entry is None:
        raise StaleSpeechEnds(f"no stored end of speech for {clip.name}: rerun bench.speech_ends")
    found = SpeechEnd(**entry)
    if sha256_of(clip) != found.sha256:
        raise StaleSpeechEnds(f"{clip.name} changed since its end of speech was found: rerun "
                              "bench.speech_ends")
    return found


def speech_end_s(clip: Path) -> float:
    """Seconds from the clip's first sample to the end of its last voiced frame."""
    return stored_end(clip).speech_end_s


def speech_end_chunk(clip: Path, chunk_ms: int = 32, end_s: float | None = None) -> int:
    """Index of the streamed chunk (chunk_ms each, from the clip's start) that holds the last
    voiced sample: at real-time pace, the end of speech is when that chunk is sent."""
    end = speech_end_s(clip) if end_s is None else end_s
    last_sample = max(0, round(end * RATE) - 1)
    return last_sample // (RATE * chunk_ms // 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="compare with the stored file instead of writing it")
    args = parser.parse_args()
    found = build()
    for name, e in found["clips"].items():
        flag = "" if abs(e["vad_energy_gap_ms"]) <= AGREE_MS else "  <- VAD and energy disagree"
        print(f"{name:<34} {e['duration_s']:6.2f} s  speech ends {e['speech_end_s']:6.3f} s  "
              f"silence after {e['silence_after_s']:5.3f} s  energy end "
              f"{e['energy_end_s']:6.3f} s{flag}")
    if args.check:
        stale = found["clips"] != load_ends()["clips"]
        print("stored ends are stale" if stale else f"{ENDS} is up to date")
        sys.exit(1 if stale else 0)
    ENDS.parent.mkdir(parents=True, exist_ok=True)
    ENDS.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {ENDS}")


if __name__ == "__main__":
    main()
