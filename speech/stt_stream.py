"""Streaming transcription for one kiosk: partials while the customer speaks, the final at
the end of the turn (started speculatively during the endpoint silence)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from speech.endpoint import Event, PossibleEnd, Resumed, SpeechStart
from speech.settings import SttSettings
from speech.stt import SttBusy, Transcriber, Transcript

_log = logging.getLogger(__name__)


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
        self.expect_digits = False
        """The dialogue awaits a number: a known-language turn is decoded with the digits prompt."""
        self._digits_prompts = {"zh": settings.digits_prompt_zh, "en": settings.digits_prompt_en}

    @property
    def speculative(self) -> asyncio.Task[Transcript] | None:
        """The decode started at the current pause (None when speech goes on): the semantic
        end-of-turn check reads its words; at SpeechEnd over the same span it is the final."""
        return self._speculative[1] if self._speculative is not None else None

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
            result = await self._engine.transcribe(
                audio,
                language=self._turn_language,
                initial_prompt=self._prompt(self._turn_language),
                partial=True,
            )
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
        return await self._engine.transcribe(
            audio, language=language, initial_prompt=self._prompt(language)
        )

    def _prompt(self, language: str | None) -> str | None:
        """The digits prompt while a number is awaited and the language is known, else None
        (the engine's usual prompt)."""
        if not self.expect_digits or language is None:
            return None
        return self._digits_prompts.get(language)
