"""Speech-to-text: one shared faster-whisper model behind a bounded thread pool, zh/en only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from speech.endpoint import Event, PossibleEnd, Resumed, SpeechStart
from speech.textnorm import clean_transcript, is_backchannel

_log = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
"""The only languages a branch customer is answered in; Whisper's guess is restricted to them."""


_MAX_NEW_TOKENS = 448 - 228
"""Whisper's 448-token window minus the longest prompt faster-whisper builds (223 + 5)."""


class SttSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Speech-to-text knobs (branch.toml `[speech.stt]`); the model folder comes from [models]."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto = CUDA when CTranslate2 sees a GPU, else CPU."""
    compute_type: str = "int8"
    """CTranslate2 quantisation; int8 on CPU, int8 also runs on CUDA (int8_float16 there)."""
    cpu_threads: int = 2
    """Threads per decode on CPU."""
    workers: int = 1
    """Concurrent decodes (all kiosks share these); more only helps with spare cores or a GPU."""
    max_queue: int = 8
    """Decodes allowed to wait for a worker before `transcribe` refuses with SttBusy."""
    beam_size: int = 1
    """Greedy decoding: beam 5 did not help base on Mandarin and costs latency."""
    max_tokens_per_s: float = 15.0
    """Token budget per second of audio (plus 20) so a decoder loop cannot run on for seconds."""
    partial_interval_ms: int = 1000
    """At most one partial decode per stream per this many ms of wall time."""
    partial_min_new_audio_ms: int = 300
    """A partial decode runs only if at least this much new audio arrived since the last."""
    partial_min_audio_ms: int = 1000
    """No partial before the turn holds this much audio (pre-roll included; shorter ones came
    back empty on the clips and cost a full encoder pass each)."""
    lock_language_prob: float = 0.8
    """A partial's zh/en guess this sure fixes the language for the rest of the turn."""
    initial_prompt_zh: str | None = "以下是普通话的句子。"
    """Prompt for Mandarin turns. Neutral on CER for base (13.2% on the AISHELL clips either
    way) but gives punctuation and Chinese numerals; a banking-words prompt helped synthetic
    banking phrases (25.6% -> 19.5%) and hurt the news clips (21.6%): see bench/stt_bench.py."""
    initial_prompt_en: str | None = None
    """Prompt for English turns."""


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
        self._shared = _SharedEncoder(model) if hasattr(model, "encode") else None
        self.settings = settings
        self.device = device
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="stt"
        )
        self._lock = threading.Lock()
        self._inflight = 0

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

    def _release(self, _: concurrent.futures.Future[Transcript]) -> None:
        with self._lock:
            self._inflight -= 1

    async def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        language: str | None = None,
        initial_prompt: str | None = None,
    ) -> Transcript:
        """Decode 16 kHz float32 audio off the event loop; cancelling leaves the pool healthy."""
        with self._lock:
            if self._inflight >= self.settings.workers + self.settings.max_queue:
                raise SttBusy("speech recognition is saturated")
            self._inflight += 1
        try:
            job = self._pool.submit(self.transcribe_sync, audio, language, initial_prompt)
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
    ) -> Transcript:
        """Blocking decode for worker threads and benchmarks; drains the lazy segment generator."""
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        duration = len(samples) / 16_000
        started = time.perf_counter()
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES} or None, got {language!r}")
        if len(samples) == 0:
            return Transcript("", language or "zh", 0.0, 0.0, 0.0)
        lang_prob = 1.0
        try:
            if language is None:
                language, lang_prob = self.detect_language(samples)
            segs = self._decode(samples, language, initial_prompt, duration)
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

    def _decode(
        self,
        samples: npt.NDArray[np.float32],
        language: str,
        initial_prompt: str | None,
        duration: float,
    ) -> tuple[SegmentInfo, ...]:
        segments, _info = self._model.transcribe(
            samples,
            language=language,
            task="transcribe",
            beam_size=self.settings.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=self._prompt(language, initial_prompt),
            without_timestamps=True,
            max_new_tokens=min(
                _MAX_NEW_TOKENS, int(20 + self.settings.max_tokens_per_s * duration)
            ),
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
            probs = dict(self._shared.detect(self._model, samples))
        else:
            probs = dict(self._model.detect_language(samples)[2])
        p_zh, p_en = float(probs.get("zh", 0.0)), float(probs.get("en", 0.0))
        if p_zh + p_en <= 0.0:
            return "zh", 0.5
        best = "zh" if p_zh >= p_en else "en"
        return best, max(p_zh, p_en) / (p_zh + p_en)

    def close(self) -> None:
        """Stop the worker threads at shutdown (running decodes finish first)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class _SharedEncoder:
    """Lets zh/en detection and the decode share one encoder pass (each costs a padded 30 s).

    faster-whisper's own detection encodes the window, then its decoder encodes it again. This
    wraps the model's `encode`: the window detection encoded is handed back once, in the same
    thread, when the decoder asks for an identical window. If faster-whisper changes how it
    cuts windows, the arrays differ and it simply encodes again.
    """

    def __init__(self, model: Any) -> None:
        self._encode = model.encode
        self._local = threading.local()
        self.hits = 0
        model.encode = self

    def detect(self, model: Any, samples: npt.NDArray[np.float32]) -> list[tuple[str, float]]:
        """Language probabilities of the first window; its encoding is kept for the decode."""
        from faster_whisper.audio import pad_or_trim

        features = model.feature_extractor(samples)
        frames = min(model.feature_extractor.nb_max_frames, features.shape[-1] - 1)
        window = pad_or_trim(features[:, :frames])
        output = self._encode(window)
        self._local.pending = (window, output)
        return [(token[2:-2], float(p)) for token, p in model.model.detect_language(output)[0]]

    def __call__(self, features: npt.NDArray[np.float32]) -> Any:
        pending = getattr(self._local, "pending", None)
        self._local.pending = None
        if pending is not None and pending[0].shape == features.shape:
            if np.array_equal(pending[0], features):
                self.hits += 1
                return pending[1]
        return self._encode(features)

    def clear(self) -> None:
        """Forget a kept encoding (the decode failed or did not ask for it)."""
        self._local.pending = None


class PartialThrottle:
    """Pure rule for partial decodes: not too often, not without new audio, one at a time."""

    def __init__(self, interval_ms: int, min_new_audio_ms: int, min_audio_ms: int) -> None:
        self.interval_ms = interval_ms
        self.min_new_audio_ms = min_new_audio_ms
        self.min_audio_ms = min_audio_ms
        self.reset()

    def reset(self) -> None:
        """Start of a turn: nothing decoded yet."""
        self._last_start_ms: float | None = None
        self._last_audio_ms = 0
        self.in_flight = False

    def due(self, now_ms: float, audio_ms: int) -> bool:
        """Should a partial decode of `audio_ms` of turn audio start at `now_ms`?"""
        if self.in_flight or audio_ms < self.min_audio_ms:
            return False
        if audio_ms - self._last_audio_ms < self.min_new_audio_ms:
            return False
        return self._last_start_ms is None or now_ms - self._last_start_ms >= self.interval_ms

    def started(self, now_ms: float, audio_ms: int) -> None:
        """Record that a partial decode began."""
        self._last_start_ms = now_ms
        self._last_audio_ms = audio_ms
        self.in_flight = True

    def finished(self) -> None:
        """Record that the partial decode ended (done, failed or cancelled)."""
        self.in_flight = False


class StreamingTranscriber:
    """One kiosk stream: partials while the customer speaks, a speculative final, the final.

    Feed it every 16 kHz frame (`push`) and every endpointer event (`handle`); `handle` returns
    the task that yields the final transcript at SpeechEnd. Tasks are owned here (strong refs)
    and cancelled by `aclose`.
    """

    def __init__(
        self,
        engine: Transcriber,
        settings: SttSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_partial: Callable[[Transcript], None] | None = None,
        language: str | None = None,
        keep_ms: int = 2000,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._on_partial = on_partial
        self.language = language
        """Language the kiosk fixed (customer's choice); None means detect per turn."""
        # keep_ms of audio is held between turns: it must cover the VAD pre-roll plus the
        # speech the endpointer needs before it confirms a turn (min_speech or min_turn).
        self._keep = keep_ms * 16
        self._throttle = PartialThrottle(
            settings.partial_interval_ms,
            settings.partial_min_new_audio_ms,
            settings.partial_min_audio_ms,
        )
        self._lock_prob = settings.lock_language_prob
        self._chunks: list[npt.NDArray[np.float32]] = []
        self._buf_start = 0  # stream sample index of the first buffered sample
        self._total = 0  # samples pushed so far
        self._turn_start: int | None = None  # stream sample index, None between turns
        self._turn_id = 0
        self._turn_language: str | None = None
        self._partial: asyncio.Task[Transcript] | None = None
        self._speculative: tuple[tuple[int, int], asyncio.Task[Transcript]] | None = None
        self._tasks: set[asyncio.Task[Transcript]] = set()

    def push(self, samples: npt.NDArray[np.float32]) -> None:
        """Append stream audio; may start a partial decode (needs a running event loop)."""
        self._chunks.append(np.asarray(samples, dtype=np.float32))
        self._total += len(samples)
        if self._turn_start is None:
            self._trim(self._total - self._keep)
            return
        audio_ms = (self._total - self._turn_start) // 16
        now_ms = self._clock() * 1000.0
        if (
            self._speculative is None
            and not self._engine.busy
            and self._throttle.due(now_ms, audio_ms)
        ):
            self._throttle.started(now_ms, audio_ms)
            audio = self._audio(self._turn_start)
            self._partial = self._spawn(self._decode_partial(audio, self._turn_id))

    def handle(self, event: Event) -> asyncio.Task[Transcript] | None:
        """React to an endpointer event; at SpeechEnd returns the final transcript's task."""
        if isinstance(event, SpeechStart):
            self._turn_id += 1
            self._turn_start = min(max(event.start_ms * 16, self._buf_start), self._total)
            self._turn_language = self.language
            self._throttle.reset()
            return None
        if self._turn_start is None:
            return None
        if isinstance(event, PossibleEnd):
            span = (event.start_ms, event.end_ms)
            self._speculative = (span, self._spawn(self._decode_final(span)))
            return None
        if isinstance(event, Resumed):
            if self._speculative is not None:
                self._speculative[1].cancel()
                self._speculative = None
            return None
        span = (event.start_ms, event.end_ms)
        final: asyncio.Task[Transcript] | None = None
        if self._speculative is not None:
            old_span, task = self._speculative
            if old_span == span and not task.cancelled():
                final = task
            else:
                task.cancel()
        if final is None:
            final = self._spawn(self._decode_final(span))
        self._speculative = None
        self._partial = None
        self._turn_start = None
        self._trim(self._total - self._keep)
        return final

    async def aclose(self) -> None:
        """Cancel this stream's decodes (the kiosk left); the shared pool is unaffected."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Transcript]) -> asyncio.Task[Transcript]:
        task: asyncio.Task[Transcript] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Transcript]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # finals are awaited by the session; a failed partial is only worth a log line
            _log.warning("speech decode failed: %r", task.exception())

    def _trim(self, keep_from: int) -> None:
        if keep_from <= self._buf_start or not self._chunks:
            return
        audio = np.concatenate(self._chunks)[keep_from - self._buf_start :]
        self._chunks = [audio]
        self._buf_start = keep_from

    def _audio(self, start: int, end: int | None = None) -> npt.NDArray[np.float32]:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        self._chunks = [audio]
        lo = max(start - self._buf_start, 0)
        hi = None if end is None else max(end - self._buf_start, lo)
        return audio[lo:hi]

    async def _decode_partial(self, audio: npt.NDArray[np.float32], turn_id: int) -> Transcript:
        try:
            result = await self._engine.transcribe(audio, language=self._turn_language)
        except SttBusy:
            return Transcript("", self._turn_language or "zh", 0.0, len(audio) / 16_000, 0.0)
        finally:
            if turn_id == self._turn_id:
                self._throttle.finished()
        if turn_id == self._turn_id and self._turn_start is not None:
            if self._turn_language is None and result.language_prob >= self._lock_prob:
                self._turn_language = result.language
            result = replace(result, partial=True)
            if self._on_partial is not None:
                self._on_partial(result)
        return result

    def _decode_final(self, span: tuple[int, int]) -> Coroutine[Any, Any, Transcript]:
        # the audio is sliced now: the buffer is trimmed before the task first runs
        audio = self._audio(span[0] * 16, span[1] * 16)
        partial = self._partial if self._partial is not None and not self._partial.done() else None
        return self._final_after(audio, self._turn_language, partial)

    async def _final_after(
        self,
        audio: npt.NDArray[np.float32],
        language: str | None,
        partial: asyncio.Task[Transcript] | None,
    ) -> Transcript:
        # A running partial cannot be stopped inside CTranslate2 and holds a worker anyway, so
        # the final waits for it and reuses the language it found instead of detecting again.
        if partial is not None:
            await asyncio.wait([partial])
            if not partial.cancelled() and partial.exception() is None:
                found = partial.result()
                if language is None and found.language_prob >= self._lock_prob:
                    language = found.language
        return await self._engine.transcribe(audio, language=language)
