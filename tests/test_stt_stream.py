"""StreamingTranscriber with a fake engine and a fake clock: partial throttle, speculative final."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from speech.endpoint import Endpointer, PossibleEnd, Resumed, SpeechEnd, SpeechStart
from speech.settings import SttSettings
from speech.stt import SttBusy, Transcript
from speech.stt_stream import PartialThrottle, StreamingTranscriber
from speech.vad import SileroVad

FRAME = 512  # 32 ms


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeEngine:
    """Records every decode; `hold` keeps decodes pending until released."""

    def __init__(self, language: str = "zh", prob: float = 0.95) -> None:
        self.calls: list[tuple[npt.NDArray[np.float32], str | None]] = []
        self.prompts: list[str | None] = []
        self.partial_flags: list[bool] = []  # beam search is for finals: partials say so
        self.hold = asyncio.Event()
        self.hold.set()
        self.language, self.prob = language, prob
        self.busy = False

    async def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        language: str | None = None,
        initial_prompt: str | None = None,
        *,
        partial: bool = False,
    ) -> Transcript:
        self.calls.append((audio.copy(), language))
        self.prompts.append(initial_prompt)
        self.partial_flags.append(partial)
        await self.hold.wait()
        lang = language or self.language
        return Transcript(f"n={len(audio)}", lang, self.prob, len(audio) / 16_000, 0.01)


def ramp(start: int, n: int) -> npt.NDArray[np.float32]:
    """Audio whose sample values are their stream index, so slices can be checked exactly."""
    return np.arange(start, start + n, dtype=np.float32)


class Rig:
    def __init__(self, engine: FakeEngine, **kw: Any) -> None:
        self.clock = FakeClock()
        self.partials: list[Transcript] = []
        self.engine = engine
        self.st = StreamingTranscriber(
            engine,
            SttSettings(**{"partial_min_audio_ms": 600, **kw}),
            clock=self.clock,
            on_partial=self.partials.append,
        )
        self.pushed = 0

    async def speak(self, ms: int) -> None:
        """Push `ms` of audio in 32 ms frames, the wall clock advancing in step."""
        for _ in range(ms // 32):
            self.st.push(ramp(self.pushed, FRAME))
            self.pushed += FRAME
            self.clock.t += 0.032
            await asyncio.sleep(0)

    @property
    def now_ms(self) -> int:
        return self.pushed // 16


def test_throttle_table() -> None:
    th = PartialThrottle(interval_ms=1000, min_new_audio_ms=300, min_audio_ms=600)
    assert not th.due(0, 500)  # too little audio
    assert th.due(0, 600)
    th.started(0, 600)
    assert not th.due(2000, 2000)  # one in flight
    th.finished()
    assert not th.due(900, 2000)  # too soon
    assert not th.due(5000, 800)  # not enough new audio
    assert th.due(1000, 900)
    th.reset()
    assert th.due(1001, 600)


async def test_partials_at_most_every_interval_and_only_with_new_audio() -> None:
    rig = Rig(FakeEngine(), partial_interval_ms=1000)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    await rig.speak(3200)
    await asyncio.sleep(0)
    # first at 600 ms of audio, then one per second of wall time
    sizes = [len(a) // 16 for a, _ in rig.engine.calls]
    assert len(sizes) == 3 and sizes[0] == 608
    assert all(1000 <= b - a <= 1000 + 2 * 32 for a, b in itertools.pairwise(sizes))
    assert len(rig.partials) == 3 and all(p.partial for p in rig.partials)
    rig.clock.t += 10.0  # the interval passed: the audio since the last partial gets decoded
    rig.st.push(np.zeros(0, np.float32))
    await asyncio.sleep(0)
    assert len(rig.engine.calls) == 4 and len(rig.engine.calls[-1][0]) == 3200 * 16
    rig.clock.t += 10.0  # time passes but no new audio: nothing to re-decode
    rig.st.push(np.zeros(0, np.float32))
    await asyncio.sleep(0)
    assert len(rig.engine.calls) == 4


async def test_no_partial_while_engine_busy_or_between_turns() -> None:
    rig = Rig(FakeEngine())
    await rig.speak(2000)  # no turn yet
    rig.engine.busy = True
    rig.st.handle(SpeechStart(start_ms=1700, at_ms=2000))
    await rig.speak(2000)
    assert rig.engine.calls == []


async def test_speculative_final_is_reused_at_speech_end() -> None:
    rig = Rig(FakeEngine())
    await rig.speak(1000)
    rig.st.handle(SpeechStart(start_ms=700, at_ms=1000))
    await rig.speak(2000)
    n_partials = len(rig.engine.calls)
    end = rig.now_ms - 100
    rig.st.handle(PossibleEnd(start_ms=700, end_ms=end, at_ms=rig.now_ms))
    await rig.speak(400)
    assert len(rig.engine.calls) == n_partials + 1  # the speculative decode, no partials now
    task = rig.st.handle(SpeechEnd(start_ms=700, end_ms=end, at_ms=rig.now_ms))
    assert task is not None
    final = await asyncio.wait_for(task, 1)
    assert len(rig.engine.calls) == n_partials + 1
    audio, _ = rig.engine.calls[-1]
    assert audio[0] == 700 * 16 and audio[-1] == end * 16 - 1  # the exact turn span
    assert final.text == f"n={(end - 700) * 16}" and not final.partial
    # the partials ask for a greedy decode; the speculative final gets the configured beam
    assert rig.engine.partial_flags == [True] * n_partials + [False]


async def test_resumed_discards_speculative_final() -> None:
    engine = FakeEngine()
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    await rig.speak(1000)
    engine.hold.clear()
    rig.st.handle(PossibleEnd(start_ms=0, end_ms=900, at_ms=1000))
    await asyncio.sleep(0)
    speculative = next(t for t in rig.st._tasks if not t.done())
    rig.st.handle(Resumed(at_ms=1100))
    await asyncio.sleep(0)
    assert speculative.cancelled()
    await rig.speak(1000)
    engine.hold.set()
    task = rig.st.handle(SpeechEnd(start_ms=0, end_ms=1900, at_ms=2500))
    assert task is not None and task is not speculative
    final = await asyncio.wait_for(task, 1)
    assert final.text == f"n={1900 * 16}"


async def test_stale_partial_is_not_delivered_after_turn_end() -> None:
    engine = FakeEngine()
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    engine.hold.clear()
    await rig.speak(700)
    assert len(engine.calls) == 1  # a partial is waiting on the engine
    task = rig.st.handle(SpeechEnd(start_ms=0, end_ms=700, at_ms=1300))
    engine.hold.set()
    assert task is not None
    await asyncio.wait_for(task, 1)
    await asyncio.sleep(0)
    assert rig.partials == []


async def test_confident_partial_fixes_turn_language() -> None:
    engine = FakeEngine(language="en", prob=0.97)
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    await rig.speak(2000)
    task = rig.st.handle(SpeechEnd(start_ms=0, end_ms=2000, at_ms=2600))
    assert task is not None
    await task
    languages = [lang for _, lang in engine.calls]
    assert languages[0] is None and set(languages[1:]) == {"en"}
    n = len(engine.calls)
    rig.st.handle(SpeechStart(start_ms=rig.now_ms, at_ms=rig.now_ms))  # new turn: detect afresh
    await rig.speak(1500)
    assert len(engine.calls) > n and engine.calls[n][1] is None


@pytest.mark.parametrize("prob", [0.5])
async def test_unsure_partial_does_not_fix_language(prob: float) -> None:
    engine = FakeEngine(language="en", prob=prob)
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    await rig.speak(2000)
    assert [lang for _, lang in engine.calls] == [None, None]


async def test_buffer_between_turns_stays_bounded() -> None:
    rig = Rig(FakeEngine())
    await rig.speak(10_000)
    assert sum(len(c) for c in rig.st._chunks) <= 2000 * 16 + FRAME


async def test_aclose_cancels_pending_decodes() -> None:
    engine = FakeEngine()
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    engine.hold.clear()
    await rig.speak(1000)
    pending = list(rig.st._tasks)
    assert pending
    await asyncio.wait_for(rig.st.aclose(), 1)
    assert all(t.cancelled() for t in pending)


async def test_final_waits_for_running_partial_and_reuses_its_language() -> None:
    engine = FakeEngine(language="en", prob=0.97)
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    engine.hold.clear()
    await rig.speak(700)  # a partial is running; the turn's language is still unknown
    task = rig.st.handle(SpeechEnd(start_ms=0, end_ms=700, at_ms=1300))
    assert task is not None
    await asyncio.sleep(0.01)
    assert len(engine.calls) == 1  # the final queues behind the partial, not beside it
    engine.hold.set()
    final = await asyncio.wait_for(task, 1)
    assert engine.calls[1][1] == "en" and final.language == "en"


VAD_MODEL = Path(__file__).resolve().parents[1] / "models" / "silero-vad" / "silero_vad_v6.onnx"
CLIPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "speech"


@pytest.mark.skipif(not VAD_MODEL.is_file(), reason="models/ not assembled")
async def test_real_clip_through_vad_endpointer_and_transcriber() -> None:
    """Stage test: real speech -> Silero -> Endpointer -> StreamingTranscriber (fake decoder)."""
    speech, _ = sf.read(CLIPS / "BAC009S0764W0121.wav", dtype="float32")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16_000, np.float32)])
    engine = FakeEngine()
    rig = Rig(engine)
    vad, ep = SileroVad.load(VAD_MODEL).new_stream(), Endpointer()
    finals, ends = [], []
    for i in range(0, len(audio) - 511, 512):
        frame = audio[i : i + 512]
        rig.st.push(frame)
        rig.clock.t += 0.032
        for event in ep.feed(vad.process(frame), i // 16):
            task = rig.st.handle(event)
            if task is not None:
                ends.append(event)
                finals.append(await asyncio.wait_for(task, 1))
        await asyncio.sleep(0)
    assert len(finals) == 1 and rig.partials
    end = ends[0]
    assert isinstance(end, SpeechEnd), end
    # the clip sits at 500-4700 ms of the stream, with ~0.5 s of silence inside its edges
    assert 500 <= end.start_ms <= 1300 and 3900 <= end.end_ms <= 4800
    assert np.array_equal(engine.calls[-1][0], audio[end.start_ms * 16 : end.end_ms * 16])


async def test_busy_engine_skips_a_partial_without_breaking_the_turn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Saturated(FakeEngine):
        async def transcribe(
            self,
            audio: npt.NDArray[np.float32],
            language: str | None = None,
            initial_prompt: str | None = None,
            *,
            partial: bool = False,
        ) -> Transcript:
            if len(self.calls) == 0:
                self.calls.append((audio.copy(), language))
                raise SttBusy("full")
            return await super().transcribe(audio, language, initial_prompt)

    engine = Saturated()
    rig = Rig(engine)
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    await rig.speak(2000)
    task = rig.st.handle(SpeechEnd(start_ms=0, end_ms=rig.now_ms, at_ms=rig.now_ms))
    assert task is not None
    final = await asyncio.wait_for(task, 1)
    assert final.text == f"n={rig.pushed}" and len(engine.calls) >= 3
    assert all(p.text for p in rig.partials)  # the refused partial was not shown as empty text
    assert "decode failed" not in caplog.text  # a refusal is routine, not a failure


async def test_a_number_awaited_decodes_a_known_language_turn_with_the_digits_prompt() -> None:
    engine = FakeEngine(language="zh", prob=0.97)
    rig = Rig(engine)
    rig.st.expect_digits = True
    rig.st.handle(SpeechStart(start_ms=0, at_ms=256))
    await rig.speak(2000)
    task = rig.st.handle(SpeechEnd(start_ms=0, end_ms=2000, at_ms=2600))
    assert task is not None
    await task
    digits = SttSettings().digits_prompt_zh
    assert digits and "金额" in digits
    # the first partial detects the language (no prompt yet), then the turn is zh: digits prompt
    assert engine.prompts[0] is None and set(engine.prompts[1:]) == {digits}
    rig.st.expect_digits = False
    n = len(engine.prompts)
    rig.st.handle(SpeechStart(start_ms=rig.now_ms, at_ms=rig.now_ms))
    await rig.speak(1500)
    assert len(engine.prompts) > n and set(engine.prompts[n:]) == {None}
