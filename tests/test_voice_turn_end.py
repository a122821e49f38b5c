"""The voice turn's semantic end: real VAD on a real clip, the real router, scripted words.

The STT engine is scripted (its words are the variable under test); the VAD, the endpointer,
the streaming transcriber, the voice channel and the router are the service's own. The pause
each turn waited is read in stream time (the turn timer's lag), so the checks are exact.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from devices.kiosk_messages import AudioStart
from edge.sessions import pause_confidence
from edge.understanding import load_understanding
from edge.voice import SpeechResources, TurnTimer, VoiceChannel
from speech.settings import SttSettings, VadSettings
from speech.stt import Transcript
from speech.vad import SileroVad

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "datasets" / "speech" / "BAC009S0764W0121.wav"
VAD = ROOT / "models" / "silero-vad" / "silero_vad_v6.onnx"
ROUTER = ROOT / "models" / "router" / "router.npz"

pytestmark = pytest.mark.skipif(not (CLIP.exists() and VAD.exists() and ROUTER.exists()),
                                reason="needs the shared clip, the VAD and the router")


class ScriptedStt:
    """Every decode hears `text` (the words are what these tests vary)."""

    busy = False

    def __init__(self, text: str, language: str, delay_s: float = 0.0) -> None:
        self.text, self.language, self.delay_s = text, language, delay_s

    async def transcribe(self, audio: npt.NDArray[np.float32], language: str | None = None,
                         initial_prompt: str | None = None, *,
                         partial: bool = False) -> Transcript:
        await asyncio.sleep(self.delay_s)
        return Transcript(self.text, self.language, 0.99, len(audio) / 16_000, 0.0)


class Peer:
    device_id = "kiosk-1"

    class identity:
        capabilities = ("tts",)

    def send(self, msg: Any) -> bool:
        return True


@pytest.fixture(scope="module")
def understood() -> Any:
    understand = load_understanding(ROUTER, use_encoder=False)

    def confidence(text: str) -> float:  # what KioskSession.pause_confidence answers
        return pause_confidence(understand, text)

    return confidence


async def pause_waited(text: str, language: str, understood: Any,
                       expect_digits: bool = False, decode_s: float = 0.0,
                       silence_s: float = 2.0) -> int:
    """Ms of stream silence after the speech before the (last) turn ended; the stream sends
    `silence_s` of silence after the speech, then nothing."""
    pcm, rate = sf.read(CLIP, dtype="int16")
    assert rate == 16_000
    audio = np.concatenate([pcm, np.zeros(int(16_000 * silence_s), dtype=np.int16)])
    res = SpeechResources(SileroVad.load(VAD), ScriptedStt(text, language, decode_s), None,  # type: ignore[arg-type]
                          VadSettings(), SttSettings())
    timers: list[TurnTimer] = []

    async def on_turn(_text: str, _lang: str | None, timer: TurnTimer | None) -> None:
        assert timer is not None
        timers.append(timer)

    with ThreadPoolExecutor(1) as pool:
        voice = VoiceChannel(Peer(), res, pool, on_turn, 60.0,  # type: ignore[arg-type]
                             understood=understood)
        voice.set_expect_digits(expect_digits)
        await voice.start(AudioStart(stream=1))
        for i in range(0, len(audio), 512):
            await voice.frame(1, audio[i : i + 512].tobytes())
            await asyncio.sleep(0.003)  # real time is 32 ms a frame: the check has time too
        for _ in range(100):
            if timers:
                break
            await asyncio.sleep(0.01)
        await voice.close()
    assert timers, "the turn never ended"
    t = timers[-1]
    return round(t.stream_lag_s * 1000) + VadSettings().tail_ms


@pytest.mark.parametrize(("complete", "language"),
                         [("我想查一下余额。", "zh"), ("I lost my bank card.", "en"),
                          ("帮我去个号吧。", "zh"), ("Can I get a number, please?", "en")])
async def test_a_complete_request_ends_sooner(complete: str, language: str,
                                              understood: Any) -> None:
    s = VadSettings()
    pause = await pause_waited(complete, language, understood)
    assert s.complete_end_silence_ms <= pause < s.end_silence_ms


@pytest.mark.parametrize(("words", "shortest"),
                         [("我想查一下余额。", "complete_end_silence_ms"),
                          ("我要存五千", "end_silence_ms")])
async def test_a_pause_ends_when_its_words_are_read_even_if_no_frame_follows(
        words: str, shortest: str, understood: Any) -> None:
    """The stream stops 0.4 s after the clip (whose own tail is quiet too, some 0.7 s in all)
    and the words are read 0.3 s later: the turn ends then, not on a frame that never comes,
    and not after the long pause a check still under way holds the turn for. Complete words
    end it on the short pause, plain unfinished ones on the normal one."""
    s = VadSettings()
    pause = await pause_waited(words, "zh", understood, decode_s=0.3, silence_s=0.4)
    assert getattr(s, shortest) <= pause < s.trailing_end_silence_ms


@pytest.mark.parametrize(("vague", "language"),
                         [("我账户有点问题。", "zh"), ("I have a question.", "en"),
                          ("今天天气怎么样？", "zh"), ("And so my fellow Americans.", "en")])
async def test_a_finished_but_unsure_or_out_of_scope_turn_keeps_the_normal_pause(vague: str, language: str,
                                                                  understood: Any) -> None:
    assert understood(vague) < VadSettings().complete_min_confidence
    s = VadSettings()
    pause = await pause_waited(vague, language, understood)
    assert s.end_silence_ms <= pause < s.trailing_end_silence_ms


@pytest.mark.parametrize(("trailing", "language"),
                         [("我想……那个……", "zh"), ("I want to, um,", "en")])
async def test_trailing_off_waits_longer(trailing: str, language: str, understood: Any) -> None:
    pause = await pause_waited(trailing, language, understood)
    assert pause >= VadSettings().trailing_end_silence_ms


@pytest.mark.parametrize(("opened", "language"),
                         [("我想纳克恩", "zh"), ("我想", "zh"), ("Can you help?", "en")])
async def test_an_opener_with_nothing_understood_after_it_waits_longer(
        opened: str, language: str, understood: Any) -> None:
    """"我想，那个，" came back from Whisper as "我想纳克恩" (no filler left to see): the words
    open a request and the router understands nothing after the opener, so the customer is
    still finding words."""
    assert understood(opened) < VadSettings().complete_min_confidence
    pause = await pause_waited(opened, language, understood)
    assert pause >= VadSettings().trailing_end_silence_ms


@pytest.mark.parametrize(("digits", "language"),
                         [("我的手机号是13812345678。", "zh"), ("My number is 5 5 5 1 2 3 4.", "en")])
async def test_dictated_digits_keep_the_long_pause(digits: str, language: str,
                                                   understood: Any) -> None:
    pause = await pause_waited(digits, language, understood, expect_digits=True)
    assert pause >= VadSettings().digits_end_silence_ms


async def test_unfinished_words_are_routed_in_the_pause_but_wait_the_normal_pause(
        understood: Any) -> None:
    """The pause's transcript is routed even when it does not read finished: it is usually
    the turn's final, so the turn's own routing then finds the encoder's vector in memory."""
    asked: list[str] = []

    def recording(text: str) -> float:
        asked.append(text)
        return float(understood(text))

    s = VadSettings()
    pause = await pause_waited("我要存五千", "zh", recording)
    assert asked and set(asked) == {"我要存五千"}
    assert s.end_silence_ms <= pause < s.trailing_end_silence_ms
    asked.clear()
    await pause_waited("我想……那个……", "zh", recording)
    assert asked == []  # trailing words: nothing to route yet


@pytest.mark.parametrize(("trailing", "language"),
                         [("我想，那个，", "zh"), ("I want to, um,", "en")])
async def test_a_slow_decode_does_not_let_the_normal_pause_cut_a_trailing_turn(
        trailing: str, language: str, understood: Any) -> None:
    """The frames here run ~10x faster than real time, so a 0.12 s decode answers after more
    than `end_silence_ms` of stream silence: the turn must wait for the words all the same."""
    pause = await pause_waited(trailing, language, understood, decode_s=0.12)
    assert pause >= VadSettings().trailing_end_silence_ms


async def test_a_slow_decode_of_plain_words_ends_when_they_are_read(understood: Any) -> None:
    # 0.07 s at ~10x: the words come back after about 700 ms of stream silence, later than
    # the normal pause and well before the trailing one (0.12 s reached it in a loaded run)
    s = VadSettings()
    pause = await pause_waited("我要存五千", "zh", understood, decode_s=0.07)
    assert s.end_silence_ms <= pause < s.trailing_end_silence_ms
