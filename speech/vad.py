"""Silero VAD v6 on onnxruntime: one shared session, a small recurrent state per audio stream."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

FRAME_SAMPLES = 512
"""Samples per VAD frame at 16 kHz (32 ms), the size Silero v6 was trained on."""

FRAME_MS = FRAME_SAMPLES * 1000 // 16_000

CONTEXT_SAMPLES = 64
"""Tail of the previous frame that Silero v6 expects in front of each new frame."""

_STATE_SHAPE = (1, 1, 128)


class SileroVad:
    """The loaded model; cheap per-stream state comes from `new_stream()`."""

    def __init__(self, session: ort.InferenceSession, path: Path) -> None:
        self._session = session
        self.path = path
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "h", "c"}:
            raise ValueError(f"{path} is not a Silero v6 VAD model (inputs {sorted(names)})")

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> SileroVad:
        """Load once at start-up; frame-sized runs gain nothing from more threads."""
        model_path = Path(path)
        if not model_path.is_file():
            raise FileNotFoundError(f"Silero VAD model not found: {model_path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(session, model_path)

    def new_stream(self) -> VadStream:
        """Give one kiosk stream its own recurrent state over the shared session."""
        return VadStream(self)

    def _run(
        self,
        window: npt.NDArray[np.float32],
        h: npt.NDArray[np.float32],
        c: npt.NDArray[np.float32],
    ) -> tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        prob, hn, cn = self._session.run(None, {"input": window, "h": h, "c": c})
        return float(np.asarray(prob).reshape(-1)[0]), hn, cn


class VadStream:
    """Per-stream Silero state: feed consecutive 512-sample frames, get speech probabilities."""

    def __init__(self, vad: SileroVad) -> None:
        self._vad = vad
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the past, e.g. when a kiosk reconnects."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def process(self, frame: npt.ArrayLike) -> float:
        """Speech probability of the next 32 ms frame of this stream."""
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.shape[0] != FRAME_SAMPLES:
            raise ValueError(f"VAD frames hold {FRAME_SAMPLES} samples, got {samples.shape[0]}")
        window = np.concatenate([self._context, samples])[np.newaxis, :]
        with self._lock:
            prob, self._h, self._c = self._vad._run(window, self._h, self._c)
            self._context = samples[-CONTEXT_SAMPLES:].copy()
        return prob
