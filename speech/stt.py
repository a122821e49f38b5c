"""Speech-to-text: one shared faster-whisper model behind a bounded thread pool, zh/en only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from speech.settings import SttSettings
from speech.textnorm import clean_transcript, is_backchannel
from speech.whisper_window import FitWindow, SharedEncoder

_log = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
"""The only languages a branch customer is answered in; Whisper's guess is restricted to them."""


_MAX_NEW_TOKENS = 448 - 228
"""Whisper's 448-token window minus the longest prompt faster-whisper builds (223 + 5)."""




@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """One decoded Whisper segment, kept for diagnostics (loops show a high compression ratio)."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """A decoded turn; `text` is cleaned (Simplified, no loops, no silence phrases)."""

    text: str
    language: str
    language_prob: float
    duration_s: float
    decode_s: float
    segments: tuple[SegmentInfo, ...] = ()
    raw_text: str = ""
    backchannel: bool = False
    partial: bool = False


class SttBusy(RuntimeError):
    """Too many decodes queued; the caller should retry or tell the customer to wait."""


class Transcriber(Protocol):
    """What a StreamingTranscriber needs from an engine (a fake in tests)."""

    @property
    def busy(self) -> bool: ...

    async def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        language: str | None = None,
        initial_prompt: str | None = None,
        *,
        partial: bool = False,
    ) -> Transcript: ...


def resolve_device(device: str) -> str:
    """Pick CUDA only when CTranslate2 can actually see a GPU."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class SttEngine:
    """The shared model: load once at start-up, `await transcribe()` from any kiosk session."""

    def __init__(self, model: Any, settings: SttSettings, device: str = "cpu") -> None:
        self._model = model
        self._shared = SharedEncoder(model) if hasattr(model, "encode") else None
        self._fit = FitWindow(model) if hasattr(model, "feature_extractor") else None
        self.settings = settings
        self.device = device
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="stt"
        )
        self._lock = threading.Lock()
        self._inflight = 0
        self.submitted = 0  # decodes accepted since start (health and metrics)
        self.refused = 0  # decodes refused with SttBusy

    @classmethod
    def load(
        cls,
        folder: str | Path,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        workers: int = 1,
    ) -> SttEngine:
        """Load a local CTranslate2 Whisper folder; never downloads (a typo fails loudly)."""
        settings = SttSettings(
            device=device, compute_type=compute_type, cpu_threads=cpu_threads, workers=workers
        )
        return cls.from_settings(folder, settings)

    @classmethod
    def from_settings(cls, folder: str | Path, settings: SttSettings) -> SttEngine:
        """Load any CTranslate2 Whisper folder (base here, small/large-v3-turbo from a bundle)."""
        folder = Path(folder)
        if not (folder / "model.bin").is_file() or not (folder / "config.json").is_file():
            raise FileNotFoundError(f"not a CTranslate2 Whisper folder: {folder}")
        from faster_whisper import WhisperModel

        device = resolve_device(settings.device)
        compute_type = settings.compute_type
        if device == "cuda" and compute_type == "int8":
            compute_type = "int8_float16"
        model = WhisperModel(
            str(folder),
            device=device,
            compute_type=compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.workers,
            local_files_only=True,
        )
        return cls(model, settings, device)

    @property
    def busy(self) -> bool:
        """All workers taken: a partial decode should be skipped rather than queued."""
        return self._inflight >= self.settings.workers

    @property
    def inflight(self) -> int:
        """Decodes running or waiting for a worker now."""
        return self._inflight

    def _release(self, _: concurrent.futures.Future[Transcript]) -> None:
        with self._lock:
            self._inflight -= 1

    async def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        language: str | None = None,
        initial_prompt: str | None = None,
        *,
        partial: bool = False,
    ) -> Transcript:
        """Decode 16 kHz float32 audio off the event loop; cancelling leaves the pool healthy.
        A `partial` (words shown while the customer speaks) is always greedy."""
        with self._lock:
            if self._inflight >= self.settings.workers + self.settings.max_queue:
                self.refused += 1
                raise SttBusy("speech recognition is saturated")
            self._inflight += 1
            self.submitted += 1
        try:
            beam = 1 if partial else None
            job = self._pool.submit(self.transcribe_sync, audio, language, initial_prompt, beam)
        except BaseException:
            with self._lock:
                self._inflight -= 1
            raise
        # The slot is freed when the thread finishes, not when the awaiting task is cancelled,
        # so a cancelled decode still counts against the bound until the worker is really free.
        job.add_done_callback(self._release)
        return await asyncio.wrap_future(job)

    def transcribe_sync(
        self,
        audio: npt.NDArray[np.float32],
        language: str | None = None,
        initial_prompt: str | None = None,
        beam_size: int | None = None,
    ) -> Transcript:
        """Blocking decode for worker threads and benchmarks; drains the lazy segment generator.
        `beam_size` None: the configured one."""
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        duration = len(samples) / 16_000
        started = time.perf_counter()
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES} or None, got {language!r}")
        if len(samples) == 0:
            return Transcript("", language or "zh", 0.0, 0.0, 0.0)
        lang_prob = 1.0
        beam = beam_size or self.settings.beam_size
        try:
            if self._fits(len(samples)):
                language, lang_prob, segs = self._decode_fit(samples, language, initial_prompt,
                                                             beam)
            else:
                if language is None:
                    language, lang_prob = self.detect_language(samples)
                segs = self._decode(samples, language, initial_prompt, duration, beam)
        finally:
            if self._shared is not None:
                self._shared.clear()
        raw = "".join(s.text for s in segs).strip()
        prompt = self._prompt(language, initial_prompt)
        text = clean_transcript(raw, language, prompt=prompt)
        return Transcript(
            text=text,
            language=language,
            language_prob=lang_prob,
            duration_s=duration,
            decode_s=time.perf_counter() - started,
            segments=segs,
            raw_text=raw,
            backchannel=is_backchannel(text, language),
        )

    def _prompt(self, language: str, initial_prompt: str | None) -> str | None:
        if initial_prompt is not None:
            return initial_prompt or None
        s = self.settings
        return s.initial_prompt_zh if language == "zh" else s.initial_prompt_en

    def _fits(self, n_samples: int) -> bool:
        s = self.settings
        if s.window != "fit" or self._fit is None:
            return False
        return n_samples + s.window_margin_ms * 16 < 30 * 16_000

    def _decode_fit(
        self,
        samples: npt.NDArray[np.float32],
        language: str | None,
        initial_prompt: str | None,
        beam_size: int,
    ) -> tuple[str, float, tuple[SegmentInfo, ...]]:
        """One encoder pass over the turn plus a margin, zh/en from it, then greedy decoding."""
        assert self._fit is not None
        s = self.settings
        duration = len(samples) / 16_000
        window = self._fit.window(samples, s.window_margin_ms)
        encoded = self._fit.encode(window)
        lang_prob = 1.0
        if language is None:
            language, lang_prob = self._pick(self._fit.detect(encoded))
        out = self._fit.generate(
            encoded,
            language,
            self._prompt(language, initial_prompt),
            beam_size=beam_size,
            max_new_tokens=self._token_budget(duration),
        )
        silent = out.no_speech_prob > s.no_speech_prob and out.avg_logprob < s.min_avg_logprob
        if silent or not out.text.strip():
            return language, lang_prob, ()
        seg = SegmentInfo(0.0, duration, out.text, out.avg_logprob, out.no_speech_prob,
                          out.compression_ratio)
        return language, lang_prob, (seg,)

    def _token_budget(self, duration_s: float) -> int:
        """New tokens allowed for this much audio, so a decoder loop cannot run on."""
        return min(_MAX_NEW_TOKENS, int(20 + self.settings.max_tokens_per_s * duration_s))

    def _decode(
        self,
        samples: npt.NDArray[np.float32],
        language: str,
        initial_prompt: str | None,
        duration: float,
        beam_size: int,
    ) -> tuple[SegmentInfo, ...]:
        segments, _info = self._model.transcribe(
            samples,
            language=language,
            task="transcribe",
            beam_size=beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=self._prompt(language, initial_prompt),
            without_timestamps=True,
            max_new_tokens=self._token_budget(duration),
        )
        return tuple(
            SegmentInfo(
                s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob, s.compression_ratio
            )
            for s in segments
        )

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """Whisper's guess restricted to zh/en; the probability is renormalised over the two."""
        if not getattr(self._model.model, "is_multilingual", True):
            return "en", 1.0
        if self._shared is not None:
            return self._pick(self._shared.detect(self._model, samples))
        return self._pick(self._model.detect_language(samples)[2])

    def _pick(self, probabilities: list[tuple[str, float]]) -> tuple[str, float]:
        if not getattr(self._model.model, "is_multilingual", True):
            return "en", 1.0
        probs = dict(probabilities)
        p_zh, p_en = float(probs.get("zh", 0.0)), float(probs.get("en", 0.0))
        if p_zh + p_en <= 0.0:
            return "zh", 0.5
        best = "zh" if p_zh >= p_en else "en"
        return best, max(p_zh, p_en) / (p_zh + p_en)

    def close(self) -> None:
        """Stop the worker threads at shutdown (running decodes finish first)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

