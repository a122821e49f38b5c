"""TtsService streaming with stand-in voices: order, worker thread, look-ahead, barge-in, settings."""

from __future__ import annotations

import asyncio
import threading
import time

import msgspec
import pytest

from speech.settings import TtsSettings
from speech.tts import SpeechChunk, TextFeed, TtsService

REPLY = "Hello. Your ticket is A023. Please wait. Counter 3 will call you."


class FakeVoice:
    """Records what it was asked to say, on which thread, and takes `delay` seconds per sentence."""

    def __init__(self, language: str = "en", delay: float = 0.0) -> None:
        self.language = language
        self.sample_rate = 1000
        self.delay = delay
        self.started: list[str] = []
        self.rates: list[float] = []
        self.threads: set[str] = set()

    def synthesize(self, text: str, rate: float = 1.0) -> SpeechChunk:
        self.started.append(text)
        self.rates.append(rate)
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return SpeechChunk(text=text, language=self.language, pcm=b"\0\0" * 100, sample_rate=1000)


async def collect(
    service: TtsService, text: str, language: str, elderly: bool = False
) -> list[SpeechChunk]:
    return [chunk async for chunk in service.stream(text, language, elderly=elderly)]


async def test_streams_normalised_sentences_in_order_on_worker_thread() -> None:
    voice = FakeVoice()
    service = TtsService({"en": voice})
    chunks = await asyncio.wait_for(collect(service, REPLY, "en"), 5)
    assert [c.text for c in chunks] == [
        "Hello.",
        "Your ticket is A zero two three.",
        "Please wait.",
        "Counter three will call you.",
    ]
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert [c.final for c in chunks] == [False, False, False, True]
    assert voice.rates == [1.0] * 4
    assert threading.current_thread().name not in voice.threads
    assert all(name.startswith("tts") for name in voice.threads)
    assert chunks[0].duration_ms == 100
    service.close()


async def test_elderly_mode_is_slower_with_shorter_sentences() -> None:
    voice = FakeVoice("zh")
    service = TtsService(
        {"zh": voice}, TtsSettings(elderly_rate=0.75, elderly_sentence_max_width=20)
    )
    text = "请您携带身份证和银行卡到三号窗口办理挂失手续，谢谢您的耐心等待。"
    normal = await collect(service, text, "zh")
    elderly = await collect(service, text, "zh", elderly=True)
    assert len(normal) == 1 and len(elderly) >= 3
    assert voice.rates == [1.0] + [0.75] * len(elderly)
    assert "".join(c.text for c in elderly) == normal[0].text
    service.close()


async def test_next_sentence_is_synthesised_while_current_one_plays() -> None:
    voice = FakeVoice(delay=0.05)
    service = TtsService({"en": voice})
    stream = service.stream(REPLY, "en")
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.index == 0
    await asyncio.sleep(0.2)  # the client plays sentence 1; sentence 2 must already be made
    assert len(voice.started) == 2
    await stream.aclose()
    service.close()


async def test_barge_in_by_closing_the_stream_stops_synthesis() -> None:
    voice = FakeVoice(delay=0.1)
    service = TtsService({"en": voice})
    stream = service.stream(REPLY, "en")
    await asyncio.wait_for(anext(stream), 5)
    await stream.aclose()
    await asyncio.sleep(0.5)
    assert (
        len(voice.started) <= 2
    )  # the spoken one and at most the look-ahead already on the thread
    service.close()


async def test_barge_in_by_cancelling_the_consumer_is_prompt() -> None:
    voice = FakeVoice(delay=0.3)
    service = TtsService({"en": voice})
    got: list[SpeechChunk] = []
    first_seen = asyncio.Event()

    async def speak() -> None:
        async for chunk in service.stream(REPLY, "en"):
            got.append(chunk)
            first_seen.set()

    task = asyncio.create_task(speak())
    await asyncio.wait_for(first_seen.wait(), 5)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.1  # does not wait for the sentence on the thread
    await asyncio.sleep(0.8)
    assert len(got) == 1
    assert len(voice.started) <= 2
    service.close()


async def test_event_loop_keeps_running_during_synthesis() -> None:
    voice = FakeVoice(delay=0.2)
    service = TtsService({"en": voice})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    await asyncio.wait_for(collect(service, "One. Two.", "en"), 5)
    tick_task.cancel()
    assert ticks >= 20  # 0.4 s of synthesis, the loop ticked throughout
    service.close()


def test_voice_for_language_tags() -> None:
    en, zh = FakeVoice("en"), FakeVoice("zh")
    service = TtsService({"en": en, "zh": zh})
    assert service.voice_for("zh-CN") is zh
    assert service.voice_for("en_US") is en
    assert service.voice_for("fr") is en  # any voice beats silence
    service.close()
    with pytest.raises(LookupError):
        TtsService({}).voice_for("en")


def test_settings_decode_with_documented_defaults() -> None:
    settings = msgspec.convert({"rate": 0.9, "voices": {"en": "bundle/voice-en"}}, TtsSettings)
    assert settings.rate == 0.9
    assert settings.voices == {"en": "bundle/voice-en"}
    assert settings.elderly_rate == 0.8
    assert TtsSettings().voices == {"en": "models/piper-en-joe", "zh": "models/zh-databaker"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"rate": "fast"}, TtsSettings)
    with pytest.raises(TypeError):
        TtsSettings(0.9)  # type: ignore[misc]


def test_word_timings_follow_spoken_groups_or_letter_counts() -> None:
    from speech.tts import WordTiming, spread_words

    groups = [(10.0, 100.0), (150.0, 50.0)]
    assert spread_words(["Hello", "there."], groups, 300) == [
        WordTiming("Hello", 10, 100),
        WordTiming("there.", 150, 50),
    ]
    spread = spread_words(["ab", "abcd", "ab"], groups, 300)  # espeak split words differently
    assert [w.start_ms for w in spread] == [10, 58, 152]
    assert spread[-1].start_ms + spread[-1].duration_ms == 200


def test_piper_timings_fall_back_to_phoneme_count_without_alignments() -> None:
    from types import SimpleNamespace

    from speech.tts import PiperVoiceEngine

    engine = PiperVoiceEngine.__new__(PiperVoiceEngine)
    engine.sample_rate = 1000
    chunk = SimpleNamespace(
        phoneme_alignments=None, phonemes=["h", "ˈ", "a", "ɪ"], audio_float_array=[0.0] * 300
    )
    assert engine._phoneme_times(chunk) == [("h", 100.0), ("a", 100.0), ("ɪ", 100.0)]


def test_first_sentence_is_cut_short_for_fast_first_audio() -> None:
    service = TtsService({"en": FakeVoice()}, TtsSettings(first_sentence_max_width=30))
    reply = "Hello, welcome to the branch, your ticket is A023. Please wait."
    assert service.plan(reply, "en") == [
        "Hello, welcome to the branch,",
        "your ticket is A zero two three.",
        "Please wait.",
    ]
    service.close()


def test_only_ticket_letters_are_respelled_for_espeak() -> None:
    from speech.tts import espeak_words

    assert espeak_words("Ticket A zero two three.".split()) == "Ticket eh zero two three.".split()
    assert espeak_words("A new card is free.".split()) == "A new card is free.".split()
    assert espeak_words(["A"]) == ["A"]


class FakePiper:
    """Stands in for piper.PiperVoice: fixed phonemes with 100-sample alignments at 1 kHz."""

    def __init__(self, phonemes: list[str]) -> None:
        from types import SimpleNamespace

        self.config = SimpleNamespace(sample_rate=1000, length_scale=1.0)
        self.phonemes = phonemes
        self.asked: list[tuple[str, float]] = []

    def synthesize(
        self, text: str, config: object, include_alignments: bool = False
    ) -> list[object]:
        from types import SimpleNamespace

        import numpy as np

        self.asked.append((text, config.length_scale))  # type: ignore[attr-defined]
        aligned = [SimpleNamespace(phoneme=p, num_samples=100) for p in self.phonemes]
        audio = np.full(100 * len(self.phonemes), 0.5, np.float32)
        return [SimpleNamespace(audio_float_array=audio, phoneme_alignments=aligned, phonemes=[])]


def test_piper_engine_word_timings_from_alignments() -> None:
    from speech.tts import PiperVoiceEngine, WordTiming
    from speech.visemes import AA, KK, SIL

    fake = FakePiper(["^", "h", "ˈ", "a", " ", "k", "a", ".", "$"])
    engine = PiperVoiceEngine(fake, "en", 0.0, 0.0)
    chunk = engine.synthesize("Ticket A zero", rate=0.5)
    assert fake.asked == [("Ticket eh zero", 2.0)]
    # groups: "h ˈ a" 100-400 ms (stress mark inside), "k a" 500-700 ms; three words -> by letters
    assert [w.text for w in chunk.words] == ["Ticket", "A", "zero"]
    assert (
        chunk.words[0].start_ms == 100
        and chunk.words[-1].start_ms + chunk.words[-1].duration_ms == 700
    )
    assert chunk.visemes[0].viseme == SIL and chunk.visemes[-1].viseme == SIL
    assert [v.viseme for v in chunk.visemes][1:4] == [KK, AA, KK]
    assert chunk.duration_ms == 900
    assert chunk.words[0] == WordTiming("Ticket", 100, 327)  # 6 of 11 letters of 600 ms


def test_piper_engine_mandarin_voice_captions_by_character() -> None:
    from speech.tts import PiperVoiceEngine

    fake = FakePiper(["^", "n", "i", " ", "x", "a", "$"])
    engine = PiperVoiceEngine(fake, "zh", None, None)
    chunk = engine.synthesize("您好。")
    assert fake.asked[0][0] == "您好。"
    assert [w.text for w in chunk.words] == ["您", "好"]
    assert [w.start_ms for w in chunk.words] == [100, 400]


def test_stress_mark_time_goes_to_the_following_vowel() -> None:
    from speech.tts import stress_forward

    segments = [("t", 50.0), ("ˈ", 80.0), ("ɪ", 40.0), ("k", 30.0), ("ˌ", 10.0)]
    assert stress_forward(segments) == [("t", 50.0), ("ɪ", 120.0), ("k", 40.0)]


async def test_feed_speaks_each_part_as_it_arrives_and_closes_with_final() -> None:
    service = TtsService({"en": FakeVoice()}, TtsSettings(first_sentence_max_width=30))
    feed = TextFeed().bind()
    stream = service.stream_feed(feed, "en")
    feed.put("Hello, welcome to the branch, your ticket is A023.")
    first = await asyncio.wait_for(anext(stream), 5)
    assert (first.text, first.final) == ("Hello, welcome to the branch,", False)  # cut short
    second = await asyncio.wait_for(anext(stream), 5)
    assert second.text == "your ticket is A zero two three." and not second.final
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing to say until the writer adds more
    await asyncio.to_thread(feed.put_threadsafe, "Counter 3 will call you, please wait there.")
    third = await asyncio.wait_for(waiting, 5)
    assert third.text == "Counter three will call you, please wait there."  # not cut: not first
    feed.close()
    closing = await asyncio.wait_for(anext(stream), 5)
    assert (closing.text, closing.pcm, closing.final, closing.index) == ("", b"", True, 3)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    service.close()


async def test_feed_closed_before_the_last_sentence_needs_no_closing_chunk() -> None:
    service = TtsService({"en": FakeVoice()})
    feed = TextFeed().bind()
    feed.put("Hello.")
    feed.put("Please wait.")
    feed.close()
    chunks = [c async for c in service.stream_feed(feed, "en")]
    assert [(c.text, c.final) for c in chunks] == [("Hello.", False), ("Please wait.", True)]
    empty = TextFeed()
    empty.close()
    assert [c async for c in service.stream_feed(empty, "en")] == []
    with pytest.raises(RuntimeError):
        empty.put("late")
    service.close()
