"""Audio-in helpers and Silero VAD on real clips: speech found in speech, none in silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech.audio import (
    FrameSplitter,
    PcmStreamDecoder,
    StreamResampler,
    float32_to_pcm16,
    pcm16_to_float32,
)
from speech.endpoint import Endpointer, SpeechEnd, SpeechStart
from speech.vad import FRAME_MS, FRAME_SAMPLES, SileroVad

ROOT = Path(__file__).resolve().parents[1]
VAD_MODEL = ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx"
CLIPS = ROOT.parent / "shared" / "datasets" / "speech"

needs_vad = pytest.mark.skipif(not VAD_MODEL.is_file(), reason="models/ not assembled")


def clip(name: str) -> np.ndarray:
    audio, rate = sf.read(CLIPS / name, dtype="float32")
    assert rate == 16_000
    return np.asarray(audio, dtype=np.float32)


# --- PCM16 and resampling -----------------------------------------------------------------


def test_pcm16_round_trip_and_clipping() -> None:
    x = np.array([0.0, 0.5, -0.5, -1.0, 0.999], dtype=np.float32)
    assert np.allclose(pcm16_to_float32(float32_to_pcm16(x)), x, atol=1 / 32768)
    assert pcm16_to_float32(float32_to_pcm16(np.array([2.0, -2.0]))).tolist() == [
        32767 / 32768,
        -1.0,
    ]
    with pytest.raises(ValueError):
        pcm16_to_float32(b"\x00\x01\x02")


def test_decoder_carries_odd_bytes_across_frames() -> None:
    x = (np.sin(np.arange(1000) / 7) * 0.3).astype(np.float32)
    data = float32_to_pcm16(x)
    dec = PcmStreamDecoder()
    pieces = [dec.feed(data[i : i + 333]) for i in range(0, len(data), 333)]  # odd sizes
    out = np.concatenate(pieces)
    assert len(out) == 1000
    assert np.allclose(out, pcm16_to_float32(data))


def test_resample_48k_to_16k_keeps_length_and_energy() -> None:
    rate = 48_000
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    res = StreamResampler(rate, 16_000)
    chunks = [res.process(tone[i : i + 4801]) for i in range(0, len(tone), 4801)]
    out = np.concatenate([*chunks, res.flush()])
    assert abs(len(out) - 32_000) <= 2
    rms_in = float(np.sqrt(np.mean(tone**2)))
    rms_out = float(np.sqrt(np.mean(out[1000:-1000] ** 2)))
    assert rms_out == pytest.approx(rms_in, rel=0.02)
    # the tone survives at 440 Hz
    spectrum = np.abs(np.fft.rfft(out[:16_000]))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1


def test_resampler_removes_content_above_new_nyquist() -> None:
    rate = 48_000
    t = np.arange(rate) / rate
    high = (0.5 * np.sin(2 * np.pi * 12_000 * t)).astype(np.float32)  # above 8 kHz
    res = StreamResampler(rate, 16_000)
    out = np.concatenate([res.process(high), res.flush()])
    assert float(np.sqrt(np.mean(out[500:-500] ** 2))) < 0.01


def test_16k_passes_through_untouched() -> None:
    x = np.linspace(-1, 1, 100, dtype=np.float32)
    assert np.array_equal(StreamResampler(16_000).process(x), x)


def test_frame_splitter_keeps_remainder() -> None:
    fs = FrameSplitter(512)
    assert fs.push(np.zeros(500, np.float32)) == []
    frames = fs.push(np.ones(600, np.float32))
    assert len(frames) == 2 and all(len(f) == 512 for f in frames)
    assert fs.pending == 1100 - 1024
    assert frames[0][499] == 0.0 and frames[0][500] == 1.0


# --- Silero VAD --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    if not VAD_MODEL.is_file():
        pytest.skip("models/ not assembled")
    return SileroVad.load(VAD_MODEL)


def probs_of(vad: SileroVad, audio: np.ndarray) -> list[float]:
    stream = vad.new_stream()
    frames = FrameSplitter(FRAME_SAMPLES).push(audio)
    return [stream.process(f) for f in frames]


@needs_vad
def test_vad_finds_speech_in_real_clip(vad: SileroVad) -> None:
    probs = probs_of(vad, clip("BAC009S0764W0121.wav"))
    voiced = sum(p > 0.5 for p in probs) * FRAME_MS
    assert 2500 <= voiced <= 4200  # 4.2 s clip, about 3.2 s of speech


@needs_vad
def test_vad_finds_nothing_in_silence_or_noise(vad: SileroVad) -> None:
    assert max(probs_of(vad, np.zeros(16_000 * 3, np.float32))) < 0.2
    noise = (np.random.default_rng(7).standard_normal(16_000 * 3) * 0.05).astype(np.float32)
    assert max(probs_of(vad, noise)) < 0.3


@needs_vad
def test_streams_keep_separate_state(vad: SileroVad) -> None:
    speech = clip("BAC009S0764W0121.wav")[: 512 * 60]
    silent = np.zeros(512 * 60, np.float32)
    a, b = vad.new_stream(), vad.new_stream()
    pa, pb = [], []
    for i in range(60):
        pa.append(a.process(speech[i * 512 : (i + 1) * 512]))
        pb.append(b.process(silent[i * 512 : (i + 1) * 512]))
    assert pa == probs_of(vad, speech)  # interleaving did not disturb stream a
    assert max(pb) < 0.2


@needs_vad
def test_vad_rejects_wrong_frame_size(vad: SileroVad) -> None:
    with pytest.raises(ValueError):
        vad.new_stream().process(np.zeros(480, np.float32))


@needs_vad
def test_real_clip_at_48k_gives_one_turn_through_the_whole_input_chain(vad: SileroVad) -> None:
    """Kiosk at 48 kHz: bytes -> decoder/resampler -> frames -> VAD -> endpointer -> one turn."""
    audio16 = np.concatenate([clip("jfk_16k_mono.flac")[: 16_000 * 3], np.zeros(16_000)])
    res = StreamResampler(16_000, 48_000)
    audio48 = np.concatenate([res.process(audio16), res.flush()])
    data = float32_to_pcm16(audio48)
    dec, splitter, stream, ep = (
        PcmStreamDecoder(48_000),
        FrameSplitter(),
        vad.new_stream(),
        Endpointer(),
    )
    events, t = [], 0
    for i in range(0, len(data), 3841):  # odd chunk size splits samples
        for frame in splitter.push(dec.feed(data[i : i + 3841])):
            events += ep.feed(stream.process(frame), t)
            t += FRAME_MS
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert len(starts) == 1 and len(ends) == 1
    assert ends[0].end_ms - starts[0].start_ms > 2000
