"""Voice turns at one kiosk: audio in -> VAD -> endpointing -> STT, and replies out as speech.

Models are shared resources loaded once (`SpeechResources`); this module keeps per-kiosk
stream state, runs every model call off the event loop, barges in when the customer speaks
over an interruptible reply, and records per-turn timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from devices.frames import KIND_AUDIO_OUT, AudioFrame
from devices.health_payloads import SpeechHealth
from devices.kiosk_messages import AudioEnd, AudioStart, SpeechOut, StopAudio, Transcript
from devices.protocol import ProtocolError
from devices.server import Peer
from devices.session_messages import Error
from edge.lanes import LaneBusy
from intents.guardrails.masking import mask_pii
from speech.audio import FrameSplitter, PcmStreamDecoder
from speech.endpoint import Endpointer, PossibleEnd, SpeechEnd, SpeechStart
from speech.settings import SttSettings, TtsSettings, VadSettings
from speech.stt import SttBusy, SttEngine
from speech.stt import Transcript as SttTranscript
from speech.stt_stream import StreamingTranscriber
from speech.textnorm import is_backchannel
from speech.tts import TextFeed, TtsService
from speech.turn_end import TurnHint, finished, opens_request, text_hint
from speech.vad import FRAME_MS, FRAME_SAMPLES, SileroVad, VadStream

log = logging.getLogger("branch_teller.voice")


@dataclass
class SpeechResources:
    """Models shared by every kiosk; any of them may be missing (then that half is off)."""

    vad: SileroVad | None
    stt: SttEngine | None
    tts: TtsService | None
    vad_settings: VadSettings
    stt_settings: SttSettings
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, models_root: Path, whisper: Path, vad_path: Path, vad_settings: VadSettings,
             stt_settings: SttSettings, tts_settings: TtsSettings) -> SpeechResources:
        """Load what is there (blocking, a few seconds): call once at start, off the loop."""
        problems: list[str] = []
        vad = stt = tts = None
        try:
            vad = SileroVad.load(vad_path)
        except (OSError, ValueError) as err:
            problems.append(f"VAD: {err}")
        try:
            stt = SttEngine.from_settings(whisper, stt_settings)
        except Exception as err:  # a missing or broken model folder: speech off, text on
            problems.append(f"STT: {err}")
        try:
            tts = TtsService.load(tts_settings, models_root)
        except Exception as err:
            problems.append(f"TTS: {err}")
        for problem in problems:
            log.warning("speech resource unavailable: %s", problem)
        return cls(vad, stt, tts, vad_settings, stt_settings, problems)

    def health(self) -> SpeechHealth:
        """What staff see: which models loaded, which voices, and why any is missing."""
        return SpeechHealth(enabled=True, vad=self.vad is not None, stt=self.stt is not None,
                            tts=sorted(self.tts.voices) if self.tts else [],
                            problems=list(self.problems))

    @property
    def listening(self) -> bool:
        """Audio turns need both VAD and STT."""
        return self.vad is not None and self.stt is not None

    def close(self) -> None:
        if self.stt is not None:
            self.stt.close()
        if self.tts is not None:
            self.tts.close()


@dataclass
class TurnTimer:
    """Wall-clock marks of one voice turn (seconds, time.perf_counter)."""

    speech_end: float  # when the endpointer declared the end of the turn
    audio_end_ms: int  # where the speech stopped in the stream (before the end silence)
    stream_lag_s: float  # wall time between that audio instant and `speech_end`
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter()

    def as_ms(self) -> dict[str, float]:
        """Milliseconds from the end of the customer's speech to each mark."""
        origin = self.speech_end - self.stream_lag_s
        return {k: round((v - origin) * 1000, 1) for k, v in self.marks.items()}


Reply = tuple[str, str, bool]  # text, language, interruptible
TurnHandler = Callable[[str, str | None, TurnTimer | None], Awaitable[Reply | None]]
Understood = Callable[[str], float]  # text -> the router's confidence, 0.0 when it is unsure


class VoiceChannel:
    """Audio in and speech out for one kiosk connection."""

    def __init__(self, peer: Peer, res: SpeechResources, executor: Executor,
                 on_turn: TurnHandler, max_audio_s: float,
                 on_barge_in: Callable[[], None] | None = None,
                 understood: Understood | None = None) -> None:
        self.peer = peer
        self.understood = understood
        """Semantic end of turn: how sure routing is of a pause's words (runs on `executor`);
        None leaves only the words' own rules (a trailing turn still waits longer)."""
        self.res = res
        self.executor = executor
        self.on_turn = on_turn
        self.max_audio_s = max_audio_s
        self.speaks = res.tts is not None and "tts" in peer.identity.capabilities
        self._stream: _InStream | None = None
        self._speaking: asyncio.Task[None] | None = None
        self._speaking_turn = 0
        self._interruptible = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_turn: asyncio.Task[None] | None = None
        self.expect_digits = False
        # (the reply it waits for, interruptible) while a reply queues behind a warning
        self._queued: tuple[asyncio.Task[None] | None, bool] | None = None
        self.on_barge_in = on_barge_in
        self.barge_ins = 0

    @property
    def busy(self) -> bool:
        """A customer is speaking (the endpointer is in a turn) or a reply is being decoded
        or spoken. An open microphone stream alone is not busy: kiosks keep it open."""
        s = self._stream
        return (s is not None and s.endpointer.in_turn) or bool(self._tasks)

    def use_resources(self, res: SpeechResources) -> None:
        """New speech models (a bundle switch, between turns): an open microphone stream
        goes on with fresh model state on the new models; the kiosk notices nothing."""
        self.res = res
        self.speaks = res.tts is not None and "tts" in self.peer.identity.capabilities
        s = self._stream
        if s is None:
            return
        if res.vad is None or res.stt is None:  # no listening on these models
            self._stream = None
            return
        s.vad = res.vad.new_stream()
        s.transcriber = StreamingTranscriber(res.stt, res.stt_settings, on_partial=self._partial,
                                             language=s.transcriber.language)
        s.endpointer = Endpointer(res.vad_settings)
        s.endpointer.expect_digits = self.expect_digits
        s.transcriber.expect_digits = self.expect_digits
        s.t_ms = 0  # the new transcriber counts the stream's samples from here

    # ------------------------------------------------------------ audio in

    async def start(self, msg: AudioStart) -> None:
        if not self.res.listening:
            raise ProtocolError("speech_unavailable", "Speech input is not available on this "
                                "service (" + "; ".join(self.res.problems) + ").", msg.id)
        self._stream = None  # a new stream replaces an unfinished one
        assert self.res.vad is not None and self.res.stt is not None
        transcriber = StreamingTranscriber(self.res.stt, self.res.stt_settings,
                                           on_partial=self._partial, language=msg.language)
        endpointer = Endpointer(self.res.vad_settings)
        endpointer.expect_digits = self.expect_digits
        transcriber.expect_digits = self.expect_digits
        self._stream = _InStream(msg.stream, PcmStreamDecoder(msg.sample_rate),
                                 FrameSplitter(FRAME_SAMPLES), self.res.vad.new_stream(),
                                 endpointer, transcriber)

    def set_expect_digits(self, expect: bool) -> None:
        """The dialogue waits for a number (an amount, later an ID or phone): allow pauses."""
        self.expect_digits = expect
        if self._stream is not None:
            self._stream.endpointer.expect_digits = expect
            self._stream.transcriber.expect_digits = expect

    async def frame(self, stream: int, pcm: bytes) -> None:
        s = self._stream
        if s is None or s.id != stream:
            raise ProtocolError("unknown_stream", f"Audio for stream {stream} arrived without "
                                "an audio_start for it.")
        s.received_s += len(pcm) / 2 / s.decoder.in_rate
        if s.received_s > self.max_audio_s:
            raise ProtocolError("audio_too_long", f"An audio stream is limited to "
                                f"{self.max_audio_s:.0f} s; send audio_end and start a new one.")
        samples = s.decoder.feed(pcm)
        await self._process(s, samples)

    async def end(self, msg: AudioEnd) -> None:
        s = self._stream
        if s is None or s.id != msg.stream:
            raise ProtocolError("unknown_stream", f"No audio stream {msg.stream} is open.", msg.id)
        await self._process(s, s.decoder.flush())
        # Close a turn still open: the kiosk's microphone stopped, so silence follows.
        silence = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        vs = self.res.vad_settings
        for _ in range(max(vs.digits_end_silence_ms, vs.trailing_end_silence_ms) // FRAME_MS + 2):
            if not s.endpointer.in_turn:
                break
            await self._process(s, silence, vad=False)
        # The turn's final decode goes on (its task holds it); only the stream is forgotten.
        self._stream = None

    async def end_stream(self) -> None:
        """Forget the input stream and cancel its pending decodes (the kiosk left)."""
        s, self._stream = self._stream, None
        if s is not None:
            await s.transcriber.aclose()

    async def _process(self, s: _InStream, samples: npt.NDArray[np.float32],
                       vad: bool = True) -> None:
        frames = s.splitter.push(samples)
        if not frames:
            return
        if vad:
            loop = asyncio.get_running_loop()
            probs = await loop.run_in_executor(self.executor, _run_vad, s.vad, frames)
        else:
            probs = [0.0] * len(frames)
        for frame, prob in zip(frames, probs, strict=True):
            s.transcriber.push(frame)
            for event in s.endpointer.feed(prob, s.t_ms):
                self._on_event(s, event)
            s.t_ms += FRAME_MS
        s.endpointer.system_speaking = self.speaking

    def _on_event(self, s: _InStream, event: Any) -> None:
        if isinstance(event, SpeechStart) and self.speaking:
            if self._interruptible:
                self.barge_in()
        final = s.transcriber.handle(event)
        if isinstance(event, PossibleEnd):
            self._judge_pause(s, event)
        if final is not None and isinstance(event, SpeechEnd):
            lag_s = max(0.0, (event.at_ms - event.end_ms) / 1000)
            timer = TurnTimer(time.perf_counter(), event.end_ms, lag_s)
            self._last_turn = self._spawn(self._finish_turn(s.id, final, timer, self._last_turn))

    def _judge_pause(self, s: _InStream, event: PossibleEnd) -> None:
        """Semantic end of turn: read the pause's speculative transcript when it arrives."""
        spec = s.transcriber.speculative
        if spec is None or not self.res.vad_settings.semantic_end or s.endpointer.expect_digits:
            return
        s.endpointer.expect_hint(event.end_ms)
        self._spawn(self._judge(s, event.end_ms, spec))

    def _hint(self, s: _InStream, end_ms: int, hint: TurnHint) -> None:
        if self._stream is s and s.endpointer.set_hint(hint, end_ms):
            log.debug("kiosk %s pause read as %s", self.peer.device_id, hint.value)
            for event in s.endpointer.settle():  # a pause already long enough ends now
                self._on_event(s, event)

    async def _judge(self, s: _InStream, end_ms: int, spec: asyncio.Task[SttTranscript]) -> None:
        hint = TurnHint.OPEN
        try:
            await asyncio.wait([spec])
            if spec.cancelled() or spec.exception() is not None:
                return  # speech resumed (or the decode failed): the normal pause decides
            result = spec.result()
            language = _lang(result.language)
            hint = text_hint(result.text, language)
            done = finished(result.text, language)
            opener = opens_request(result.text, language)
            if hint is not TurnHint.OPEN or not (done or opener):
                self._hint(s, end_ms, hint)  # known from the words alone: no routing to wait for
            if (hint is TurnHint.OPEN and self.understood is not None and result.text
                    and not is_backchannel(result.text, result.language)):
                # Routed now even when the words do not read finished: this transcript is
                # usually the final, whose routing the recent-turns memory then answers.
                loop = asyncio.get_running_loop()
                try:
                    confidence = await loop.run_in_executor(self.executor, self.understood,
                                                            result.text)
                except LaneBusy:
                    confidence = 0.0
                if done and confidence >= self.res.vad_settings.complete_min_confidence:
                    hint = TurnHint.COMPLETE
                elif opener and confidence < self.res.vad_settings.complete_min_confidence:
                    hint = TurnHint.TRAILING  # "我想" + words not understood: still looking
        finally:  # whatever happened, the endpointer is not left waiting for an answer
            self._hint(s, end_ms, hint)

    def _partial(self, result: SttTranscript) -> None:
        if result.text and self._stream is not None:
            # the lobby can see the kiosk's screen: what it shows of the words is masked
            self.peer.send(Transcript(stream=self._stream.id, text=mask_pii(result.text),
                                      final=False,
                                      language=_lang(result.language)))

    async def _finish_turn(self, stream: int, final: asyncio.Task[SttTranscript],
                           timer: TurnTimer, before: asyncio.Task[None] | None) -> None:
        if before is not None:  # turns are answered in the order they were spoken
            await asyncio.wait([before])
        try:
            result = await final
        except SttBusy:
            self.peer.send(Error(code="stt_busy", message="Too many customers are speaking at "
                                 "once; please say that again in a moment."))
            return
        except asyncio.CancelledError:
            return
        timer.mark("stt_final")
        if not result.text or (result.backchannel or is_backchannel(result.text, result.language)):
            log.debug("turn dropped: empty or backchannel")
            return
        language = _lang(result.language)
        self.peer.send(Transcript(stream=stream, text=mask_pii(result.text), final=True,
                                  language=language))
        await self.on_turn(result.text, language, timer)

    # ------------------------------------------------------------ speech out

    @property
    def speaking(self) -> bool:
        return self._speaking is not None and not self._speaking.done()

    def speak(self, turn: int, text: str | TextFeed, language: str, elderly: bool,
              interruptible: bool, timer: TurnTimer | None,
              on_done: Callable[[TurnTimer | None], None],
              expression: Literal["concerned"] | None = None) -> None:
        """Stream the reply sentence by sentence; replaces whatever was being said.

        `text` may be a TextFeed still being written (an answer from the model): its first
        sentence plays while the rest is generated."""
        if not self.speaks or not text:
            on_done(timer)
            return
        previous = self._speaking if self.speaking else None
        if previous is not None and self._queued is not None:
            # A reply still waiting behind a warning: a newer interruptible one replaces it.
            behind, queued_interruptible = self._queued
            if queued_interruptible:
                previous.cancel()
                previous = behind
        elif previous is not None and self._interruptible:
            self.barge_in()  # a newer answer replaces one still playing
            previous = None
        self._queued = (previous, interruptible) if previous is not None else None
        self._speaking = self._spawn(self._speak(turn, text, language, elderly, interruptible,
                                                 timer, on_done, previous, expression))

    async def _speak(self, turn: int, text: str | TextFeed, language: str, elderly: bool,
                     interruptible: bool, timer: TurnTimer | None,
                     on_done: Callable[[TurnTimer | None], None],
                     after: asyncio.Task[None] | None,
                     expression: Literal["concerned"] | None = None) -> None:
        assert self.res.tts is not None
        if after is not None:  # a warning that must play to the end goes first
            await asyncio.wait([after])
            self._queued = None
        self._speaking_turn = turn
        self._interruptible = interruptible
        played_ms = 0
        try:
            chunks = (self.res.tts.stream(text, language, elderly) if isinstance(text, str)
                      else self.res.tts.stream_feed(text, language, elderly))
            async for chunk in chunks:
                self.peer.send(SpeechOut(
                    turn=turn, seq=chunk.index, text=chunk.text, language=_lang(chunk.language),
                    sample_rate=chunk.sample_rate, duration_ms=chunk.duration_ms,
                    visemes=[(v.viseme, v.start_ms, v.duration_ms) for v in chunk.visemes],
                    words=[(w.text, w.start_ms, w.duration_ms) for w in chunk.words],
                    final=chunk.final, interruptible=interruptible, expression=expression))
                self.peer.send(AudioFrame(KIND_AUDIO_OUT, turn, chunk.index, chunk.pcm).encode())
                if timer is not None and "first_audio" not in timer.marks:
                    timer.mark("first_audio")
                played_ms += chunk.duration_ms
            on_done(timer)
            # Until the kiosk has played it all, speech over it is a barge-in.
            await asyncio.sleep(played_ms / 1000)
        except asyncio.CancelledError:
            pass
        except LaneBusy:  # every synthesis slot is taken: the reply's text is on screen
            self.peer.send(Error(code="busy", message="Too many replies are being spoken at "
                                 "once; the answer is shown on the screen."))
            on_done(timer)

    def stopped_by_page(self, turn: int) -> None:
        """The kiosk page's own detector heard the customer over this reply and stopped it."""
        if self.speaking and self._speaking_turn == turn and self._interruptible:
            self.barge_in()

    def barge_in(self, customer: bool = True) -> None:
        """Stop the reply being spoken: the customer spoke over it (counted and logged), or the
        kiosk was reset (`customer` False: the customer left, so the next one's first words are
        a new turn, not speech over a reply)."""
        if self._speaking is None or self._speaking.done():
            return
        self._speaking.cancel()
        if customer:
            self.barge_ins += 1
            if self.on_barge_in is not None:
                self.on_barge_in()
            log.info("kiosk %s barge-in on turn %d", self.peer.device_id, self._speaking_turn)
        self.peer.send(StopAudio(turn=self._speaking_turn))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """The kiosk left: cancel decodes and speech."""
        await self.end_stream()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class _InStream:
    id: int
    decoder: PcmStreamDecoder
    splitter: FrameSplitter
    vad: VadStream
    endpointer: Endpointer
    transcriber: StreamingTranscriber
    t_ms: int = 0
    received_s: float = 0.0


def _run_vad(vad: VadStream, frames: list[npt.NDArray[np.float32]]) -> list[float]:
    return [vad.process(frame) for frame in frames]


def _lang(language: str) -> Any:
    return "en" if language == "en" else "zh"
