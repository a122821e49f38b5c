"""Audio in: PCM16 bytes <-> float32, per-stream resampling to 16 kHz, fixed-size VAD frames."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

SAMPLE_RATE = 16_000
"""Rate every speech model in this package expects."""

FloatAudio = npt.NDArray[np.float32]

_PCM16_SCALE = 32768.0


def pcm16_to_float32(data: bytes) -> FloatAudio:
    """Decode little-endian PCM16 to float32 in [-1, 1) for the models; odd byte counts fail."""
    if len(data) % 2:
        raise ValueError(f"PCM16 needs an even byte count, got {len(data)}")
    samples = np.frombuffer(data, dtype="<i2")
    return (samples.astype(np.float32) / _PCM16_SCALE).astype(np.float32, copy=False)


def float32_to_pcm16(samples: npt.ArrayLike) -> bytes:
    """Encode float audio as PCM16 for the wire, clipping instead of wrapping around."""
    arr = np.asarray(samples, dtype=np.float32)
    scaled = np.clip(np.rint(arr * _PCM16_SCALE), -32768, 32767).astype("<i2")
    return bytes(scaled.tobytes())


class StreamResampler:
    """Resample one live stream with soxr so chunk boundaries leave no clicks or drift."""

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=quality
            )

    def process(self, samples: FloatAudio) -> FloatAudio:
        """Resample one chunk; soxr keeps its filter history between calls."""
        chunk = np.ascontiguousarray(samples, dtype=np.float32)
        if self._stream is None:
            return chunk
        out = self._stream.resample_chunk(chunk, last=False)
        return np.asarray(out, dtype=np.float32)

    def flush(self) -> FloatAudio:
        """Return the samples still inside the filter at the end of a stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        return np.asarray(out, dtype=np.float32)


class PcmStreamDecoder:
    """Turn a kiosk's binary PCM16 frames at any rate into 16 kHz float32, carrying odd bytes."""

    def __init__(self, in_rate: int = SAMPLE_RATE, out_rate: int = SAMPLE_RATE) -> None:
        self._carry = b""
        self._resampler = StreamResampler(in_rate, out_rate)

    @property
    def in_rate(self) -> int:
        """Rate the kiosk declared in its hello."""
        return self._resampler.in_rate

    def feed(self, data: bytes) -> FloatAudio:
        """Decode one websocket frame; a split sample waits for the next frame."""
        buf = self._carry + data
        cut = len(buf) - (len(buf) % 2)
        self._carry = buf[cut:]
        return self._resampler.process(pcm16_to_float32(buf[:cut]))

    def flush(self) -> FloatAudio:
        """End of stream: drop a dangling half sample and drain the resampler."""
        self._carry = b""
        return self._resampler.flush()


class FrameSplitter:
    """Cut arbitrary chunks into the fixed frames a VAD needs, keeping the remainder."""

    def __init__(self, frame_size: int = 512) -> None:
        if frame_size <= 0:
            raise ValueError("frame_size must be positive")
        self.frame_size = frame_size
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: FloatAudio) -> list[FloatAudio]:
        """Return every complete frame now available, oldest first."""
        buf = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        n = len(buf) // self.frame_size
        frames = [buf[i * self.frame_size : (i + 1) * self.frame_size] for i in range(n)]
        self._pending = buf[n * self.frame_size :].copy()
        return frames

    @property
    def pending(self) -> int:
        """Samples waiting for a full frame."""
        return len(self._pending)
