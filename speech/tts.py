"""Text-to-speech resource: voices loaded once, replies streamed sentence by sentence with visemes.

A reply is normalised for speech (speech/spoken.py), split into short sentences
(speech/sentences.py) and synthesised one sentence at a time on a single worker thread, one
sentence ahead of the consumer, so the first sentence plays while the rest is made and a barge-in
(cancelling the consumer, or closing the stream) stops further synthesis at once. Every chunk
carries PCM16 audio, a viseme track and per-word (en) or per-character (zh) caption timings.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np

from speech.sentences import split_first_clause, split_sentences
from speech.settings import TtsSettings
from speech.spoken import EN_DIGITS, speakable
from speech.tts_cache import SentenceCache
from speech.visemes import VisemeEvent, build_track, ipa_viseme

_LOGGER = logging.getLogger(__name__)
_WORD_GAP = " "
_SILENT_MARKS = frozenset("^$_")
_STRESS = frozenset("ˈˌ")
# espeak reads a lone capital A as the article "a" (ɐ); a ticket letter must sound like its name.
_ESPEAK_RESPELL = {"A": "eh"}
_DIGIT_WORDS = frozenset(EN_DIGITS)
_HANZI_OR_WORD = re.compile(r"[\u3400-\u9fff]|[A-Za-z0-9']+")


class WordTiming(msgspec.Struct, frozen=True, array_like=True):
    """A caption unit (English word or Chinese character) and when it is spoken, in ms."""

    text: str
    start_ms: int
    duration_ms: int


class SpeechChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One synthesised sentence: PCM16 mono audio plus timings relative to its first sample."""

    text: str
    language: str
    pcm: bytes
    sample_rate: int
    visemes: list[VisemeEvent] = msgspec.field(default_factory=list)
    words: list[WordTiming] = msgspec.field(default_factory=list)
    index: int = 0
    final: bool = True

    @property
    def duration_ms(self) -> int:
        """Audio length in ms (PCM16: two bytes per sample)."""
        return len(self.pcm) * 500 // self.sample_rate if self.sample_rate else 0


class Voice(Protocol):
    """A loaded voice that turns one sentence into a SpeechChunk (blocking; call off the loop)."""

    language: str
    sample_rate: int

    def synthesize(self, text: str, rate: float = 1.0) -> SpeechChunk: ...




def pcm16(audio: Any) -> bytes:
    """Float audio in [-1, 1] to little-endian PCM16 bytes (clipped)."""
    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (samples * 32767.0).astype("<i2").tobytes()


def spread_words(
    words: list[str], groups: list[tuple[float, float]], total_ms: float
) -> list[WordTiming]:
    """Word timings: one-to-one with spoken word groups when counts agree, else by letter count."""
    if len(groups) == len(words):
        return [
            WordTiming(w, round(s), round(s + d) - round(s))
            for w, (s, d) in zip(words, groups, strict=True)
        ]
    start = groups[0][0] if groups else 0.0
    end = groups[-1][0] + groups[-1][1] if groups else total_ms
    weights = [max(len(w), 1) for w in words]
    scale = (end - start) / max(sum(weights), 1)
    out: list[WordTiming] = []
    clock = start
    for word, weight in zip(words, weights, strict=True):
        nxt = clock + weight * scale
        out.append(WordTiming(word, round(clock), round(nxt) - round(clock)))
        clock = nxt
    return out


def espeak_words(words: list[str]) -> list[str]:
    """Respell ticket letters before digit words ("A zero two three") so espeak says the letter."""
    return [
        _ESPEAK_RESPELL.get(w, w) if i + 1 < len(words) and words[i + 1] in _DIGIT_WORDS else w
        for i, w in enumerate(words)
    ]


class PiperVoiceEngine:
    """A piper voice; phoneme timings come from the model's own durations (alignment output)."""

    def __init__(self, voice: Any, language: str, noise_scale: float | None, noise_w: float | None):
        from piper.config import SynthesisConfig

        self._voice = voice
        self.language = language
        self.sample_rate = int(voice.config.sample_rate)
        self._config = SynthesisConfig
        self._noise = (noise_scale, noise_w)
        self._base_length = float(voice.config.length_scale or 1.0)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, folder: Path, noise_scale: float | None = None, noise_w: float | None = None
    ) -> PiperVoiceEngine:
        """Load the voice (*.onnx + *.onnx.json) in folder, patched in memory to report durations."""
        from piper import PiperVoice

        from speech.espeak import install

        install()  # piper 1.8's espeak bridge leaks on every sentence: see speech/espeak.py
        # piper logs every sentence it speaks at DEBUG: what the kiosk says stays out of logs
        piper_log = logging.getLogger("piper")
        piper_log.setLevel(max(piper_log.getEffectiveLevel(), logging.INFO))
        model = next(iter(sorted(folder.glob("*.onnx"))), None)
        if model is None:
            raise FileNotFoundError(f"no piper .onnx voice in {folder}")
        config = model.with_name(model.name + ".json")
        voice = PiperVoice.load(model, config_path=config, include_alignments=True)
        language = str(voice.config.espeak_voice or "en").split("-")[0].split("_")[0]
        return cls(voice, "zh" if language in ("cmn", "zh") else language, noise_scale, noise_w)

    def synthesize(self, text: str, rate: float = 1.0) -> SpeechChunk:
        """Speak one sentence; rate < 1 is slower."""
        if self.language == "zh":  # a piper Mandarin voice (e.g. huayan): caption by character
            words, spoken = _HANZI_OR_WORD.findall(text), text
        else:
            words = text.split()
            spoken = " ".join(espeak_words(words))
        config = self._config(
            length_scale=self._base_length / rate,
            noise_scale=self._noise[0],
            noise_w_scale=self._noise[1],
        )
        audio: list[Any] = []
        segments: list[tuple[str, float]] = []
        with self._lock:
            for chunk in self._voice.synthesize(spoken, config, include_alignments=True):
                audio.append(chunk.audio_float_array)
                segments.extend(self._phoneme_times(chunk))
        samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
        total_ms = 1000.0 * len(samples) / self.sample_rate
        visemes = build_track(
            (() if (v := ipa_viseme(p)) is None else (v,), d) for p, d in stress_forward(segments)
        )
        return SpeechChunk(
            text=text,
            language=self.language,
            pcm=pcm16(samples),
            sample_rate=self.sample_rate,
            visemes=visemes,
            words=spread_words(words, _word_groups(segments), total_ms),
        )

    def _phoneme_times(self, chunk: Any) -> list[tuple[str, float]]:
        """(phoneme, ms) for one piper sentence; by phoneme count when alignments are missing."""
        ms_per_sample = 1000.0 / self.sample_rate
        if chunk.phoneme_alignments:
            return [
                (a.phoneme, int(a.num_samples) * ms_per_sample) for a in chunk.phoneme_alignments
            ]
        phonemes = [p for p in chunk.phonemes if ipa_viseme(p) is not None] or [" "]
        each = len(chunk.audio_float_array) * ms_per_sample / len(phonemes)
        return [(p, each) for p in phonemes]


def stress_forward(segments: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Give a stress mark's time to the vowel it precedes (piper times marks like phonemes)."""
    out: list[tuple[str, float]] = []
    carry = 0.0
    for phoneme, duration in segments:
        if phoneme in _STRESS:
            carry += duration
            continue
        out.append((phoneme, duration + carry))
        carry = 0.0
    if carry and out:
        out[-1] = (out[-1][0], out[-1][1] + carry)
    return out


def _word_groups(segments: list[tuple[str, float]]) -> list[tuple[float, float]]:
    """(start, duration) ms of each spoken word: phoneme runs between word gaps, silence excluded."""
    groups: list[tuple[float, float]] = []
    clock = 0.0
    first: float | None = None
    last = 0.0
    for phoneme, duration in segments:
        voiced = phoneme not in _SILENT_MARKS and ipa_viseme(phoneme) not in (None, 0)
        if phoneme == _WORD_GAP and first is not None:
            groups.append((first, last - first))
            first = None
        elif voiced:
            first = clock if first is None else first
            last = clock + duration
        clock += duration
    if first is not None:
        groups.append((first, last - first))
    return groups


def load_voice(folder: Path, settings: TtsSettings) -> Voice:
    """Open the voice in folder with the engine its files call for (zh voice.json, else piper)."""
    if (folder / "voice.json").is_file():
        from speech.zh_voice import ZhVoiceEngine

        return ZhVoiceEngine.load(folder, threads=settings.threads)
    return PiperVoiceEngine.load(folder, settings.noise_scale, settings.noise_w)


class TtsService:
    """Voices per language, loaded once; streams replies on one synthesis thread."""

    def __init__(self, voices: Mapping[str, Voice], settings: TtsSettings | None = None) -> None:
        self.voices = dict(voices)
        self.settings = settings or TtsSettings()
        # One synthesis thread of its own; the edge service swaps in its bounded tts lane.
        self.executor: Executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        self.cache = SentenceCache(int(self.settings.cache_mb * 1024 * 1024))

    @classmethod
    def load(cls, settings: TtsSettings, root: Path = Path(".")) -> TtsService:
        """Load every configured voice (blocking, seconds): call once at start-up, off the loop."""
        voices: dict[str, Voice] = {}
        for language, folder in settings.voices.items():
            started = time.perf_counter()
            voices[language] = load_voice(root / folder, settings)
            _LOGGER.info("tts voice %s loaded from %s in %.2f s", language, folder,
                         time.perf_counter() - started)  # fmt: skip
        return cls(voices, settings)

    def close(self) -> None:
        """Stop the synthesis thread (pending sentences are dropped)."""
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _keep(self, key: tuple[int, float, str], made: asyncio.Future[SpeechChunk]) -> None:
        """Cache a finished synthesis (runs on the loop; a cancelled or failed one is not kept)."""
        if not made.cancelled() and made.exception() is None:
            self.cache.put(key, made.result())

    def voice_for(self, language: str) -> Voice:
        """The voice for a language tag ("zh", "zh-CN", "en-US"...), falling back to any voice."""
        base = language.split("-")[0].split("_")[0].lower()
        if base in self.voices:
            return self.voices[base]
        if not self.voices:
            raise LookupError("no TTS voice loaded")
        return next(iter(self.voices.values()))

    def plan(
        self, text: str, language: str, elderly: bool = False, first: bool = True
    ) -> list[str]:
        """The sentences that stream() will speak, in order (pure; for captions and tests).
        `first`: this text opens the reply, so a wide first sentence is cut short."""
        width = (
            self.settings.elderly_sentence_max_width
            if elderly
            else self.settings.sentence_max_width
        )
        sentences = split_sentences(speakable(text, language), language, width)
        if not first:
            return sentences
        return split_first_clause(sentences, min(width, self.settings.first_sentence_max_width))

    async def stream(
        self, text: str, language: str, elderly: bool = False
    ) -> AsyncIterator[SpeechChunk]:
        """Yield one SpeechChunk per sentence, synthesising the next while the current is consumed.

        Cancelling the consuming task or closing the generator (barge-in) cancels the queued
        sentence; at most the one sentence already on the thread finishes and is discarded.
        """
        feed = TextFeed()
        feed.put(text)
        feed.close()
        async for chunk in self.stream_feed(feed, language, elderly):
            yield chunk

    async def stream_feed(
        self, feed: TextFeed, language: str, elderly: bool = False
    ) -> AsyncIterator[SpeechChunk]:
        """Speak text while it is still being written (an LLM answer, sentence by sentence).

        Each part is planned like a reply; the next sentence is synthesised while the consumer
        handles the current one. `final` marks the last chunk when the feed is already closed
        then; when it closes later, a closing chunk with no text and no audio carries `final`.
        """
        voice = self.voice_for(language)
        rate = self.settings.elderly_rate if elderly else self.settings.rate
        loop = asyncio.get_running_loop()
        sentences: list[str] = []
        planned_any = False

        def take(parts: list[str]) -> None:
            nonlocal planned_any
            for part in parts:
                sentences.extend(self.plan(part, voice.language, elderly, not planned_any))
                planned_any = planned_any or bool(sentences)

        def submit() -> asyncio.Future[SpeechChunk]:
            text = sentences.pop(0)
            key = (id(voice), rate, text)
            cached = self.cache.get(key)
            if cached is not None:
                done: asyncio.Future[SpeechChunk] = loop.create_future()
                done.set_result(cached)
                return done
            job: Callable[[], SpeechChunk] = lambda: voice.synthesize(text, rate)  # noqa: E731
            made = loop.run_in_executor(self.executor, job)
            made.add_done_callback(lambda f: self._keep(key, f))
            return made

        pending: asyncio.Future[SpeechChunk] | None = None
        index = 0
        final = False
        try:
            while True:
                if pending is None:
                    take(feed.ready())
                    if not sentences:
                        part = await feed.get()
                        if part is None:
                            break
                        take([part])
                        continue
                    pending = submit()
                chunk = await pending
                take(feed.ready())
                pending = submit() if sentences else None
                final = pending is None and feed.done
                yield msgspec.structs.replace(chunk, index=index, final=final)
                index += 1
                if final:
                    return
            if index and not final:
                yield SpeechChunk(text="", language=voice.language, pcm=b"",
                                  sample_rate=voice.sample_rate, index=index, final=True)  # fmt: skip
        finally:
            if pending is not None:
                pending.cancel()


class TextFeed:
    """Text for one reply, handed over part by part (from any thread, via `put_threadsafe`)."""

    def __init__(self) -> None:
        self._parts: asyncio.Queue[str | None] = asyncio.Queue()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.done = False
        """True once every part has been taken and the feed is closed."""

    def put(self, text: str) -> None:
        """Add a part (on the event loop's thread)."""
        if self._closed:
            raise RuntimeError("the feed is closed")
        self._parts.put_nowait(text)

    def close(self) -> None:
        """No more parts."""
        if not self._closed:
            self._closed = True
            self._parts.put_nowait(None)

    def bind(self) -> TextFeed:
        """Remember the running loop so worker threads can call `put_threadsafe`."""
        self._loop = asyncio.get_running_loop()
        return self

    def put_threadsafe(self, text: str) -> None:
        """Add a part from a worker thread (an LLM answer's sentence callback)."""
        assert self._loop is not None, "bind() the feed on its loop first"
        self._loop.call_soon_threadsafe(self._put_unless_closed, text)

    def _put_unless_closed(self, text: str) -> None:
        if not self._closed:
            self._parts.put_nowait(text)

    def ready(self) -> list[str]:
        """The parts already there, without waiting."""
        out: list[str] = []
        while not self._parts.empty():
            part = self._parts.get_nowait()
            if part is None:
                self.done = True
                break
            out.append(part)
        return out

    async def get(self) -> str | None:
        """The next part; None once the feed is closed and empty."""
        if self.done:
            return None
        part = await self._parts.get()
        if part is None:
            self.done = True
        return part
