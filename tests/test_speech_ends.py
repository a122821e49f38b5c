"""The voice bench's true end of speech: found on the clips, stored, and timed when streamed."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from bench.speech_ends import (
    CLIPS,
    ENDS,
    FRAME,
    RATE,
    StaleSpeechEnds,
    find_end,
    frames_of,
    last_voiced_energy,
    last_voiced_vad,
    load_ends,
    speech_end_chunk,
    stored_end,
)
from bench.voice_client import CHUNK_MS, Peer, stream_clip

ROOT = Path(__file__).resolve().parents[1]
VAD_MODEL = ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx"
have_clips = pytest.mark.skipif(not (CLIPS / "manifest.tsv").is_file(),
                                reason="../shared speech clips absent")


def tone_then_silence(speech_s: float, silence_s: float) -> np.ndarray:
    t = np.arange(int(speech_s * RATE)) / RATE
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    return np.concatenate([tone, np.zeros(int(silence_s * RATE), np.int16)])


def test_energy_finds_the_end_of_a_tone_before_known_silence() -> None:
    pcm = tone_then_silence(1.0, 0.5)  # the tone's last sample is sample 15999: frame 31
    frames = frames_of(pcm)
    assert frames.shape == (-(-len(pcm) // FRAME), FRAME)
    assert last_voiced_energy(frames) == 15_999 // FRAME == 31


def test_last_voiced_frame_ignores_the_tail_past_the_clip() -> None:
    probs = [0.1, 0.9, 0.6, 0.2, 0.49, 0.95]
    assert last_voiced_vad(probs, n_clip_frames=5) == 2  # 0.49 is under the 0.5 threshold
    assert last_voiced_vad(probs, n_clip_frames=6) == 5
    assert last_voiced_vad([0.1, 0.2], 2) == -1


def test_the_chunk_holding_the_last_voiced_sample() -> None:
    assert speech_end_chunk(Path("x"), 32, end_s=1.0) == 31  # sample 15999 of 512-sample chunks
    assert speech_end_chunk(Path("x"), 32, end_s=1.024) == 31  # a frame-aligned end
    assert speech_end_chunk(Path("x"), 32, end_s=1.025) == 32
    assert speech_end_chunk(Path("x"), 20, end_s=1.0) == 49


class _Socket:
    """Records when each websocket message went out."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, Any]] = []

    async def send(self, message: Any) -> None:
        self.sent.append((asyncio.get_running_loop().time(), message))


async def test_latency_clock_starts_at_the_last_voiced_chunk_not_the_clip_end() -> None:
    speech_s, silence_s = 0.32, 0.256  # 10 chunks of tone, 8 of silence inside the clip
    pcm = tone_then_silence(speech_s, silence_s)
    peer = Peer(cast(Any, _Socket()))
    sent = await asyncio.wait_for(stream_clip(peer, 1, pcm, silence_s=0.1, pace=True), 10)
    assert len(sent) == len(pcm) // (RATE * CHUNK_MS // 1000) == 18
    end = last_voiced_energy(frames_of(pcm))
    assert end == speech_end_chunk(Path("x"), CHUNK_MS, end_s=speech_s) == 9
    # at real-time pace the end of speech goes out `silence_s` before the clip's last chunk
    assert sent[-1] - sent[end] == pytest.approx(silence_s, abs=0.03)
    assert sent[end] - sent[0] == pytest.approx(end * CHUNK_MS / 1000, abs=0.03)


@have_clips
def test_stored_ends_belong_to_the_shared_clips_and_leave_silence_after() -> None:
    ends = load_ends()
    assert ends["threshold"] == 0.5 and ends["frame_samples"] == FRAME
    for name in ends["clips"]:
        end = stored_end(CLIPS / name, ends)  # sha256 checked
        assert 0 < end.speech_end_s <= end.duration_s
        assert end.speech_end_s == pytest.approx(end.duration_s - end.silence_after_s, abs=1e-3)
    aishell = stored_end(CLIPS / "aishell-BAC009S0724W0121.wav", ends)
    assert aishell.silence_after_s > 0.6  # the largest gift the old clip-end clock gave


@have_clips
@pytest.mark.skipif(not VAD_MODEL.is_file(), reason="models/ not assembled")
def test_silero_finds_the_stored_end_again() -> None:
    stored = json.loads(ENDS.read_text(encoding="utf-8"))["clips"]["BAC009S0764W0121.wav"]
    found = find_end(CLIPS / "BAC009S0764W0121.wav", VAD_MODEL)
    assert found.last_voiced_frame == stored["last_voiced_frame"]
    assert abs(found.vad_energy_gap_ms) <= 200  # energy agrees on this quiet recording


@have_clips
def test_a_changed_clip_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "BAC009S0764W0121.wav"
    shutil.copy(CLIPS / copy.name, copy)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(StaleSpeechEnds):
        stored_end(copy)
    with pytest.raises(StaleSpeechEnds):
        stored_end(tmp_path / "unknown.wav")
