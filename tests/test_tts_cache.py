"""The sentence cache: a repeated reply plays without synthesis; bounded by bytes; LRU."""

from __future__ import annotations

import asyncio
import threading

import pytest

from speech.settings import TtsSettings
from speech.tts import SpeechChunk, TtsService
from speech.tts_cache import SentenceCache, chunk_bytes

REPLY = "这项业务可以自助办理：请到大厅左侧的1号智能柜员机，带好银行卡。"


class CountingVoice:
    """Counts what it is asked to synthesise; `gate` holds a synthesis until set."""

    def __init__(self, language: str = "zh") -> None:
        self.language = language
        self.sample_rate = 1000
        self.said: list[tuple[str, float]] = []
        self.gate = threading.Event()
        self.gate.set()

    def synthesize(self, text: str, rate: float = 1.0) -> SpeechChunk:
        self.gate.wait(5)
        self.said.append((text, rate))
        return SpeechChunk(text=text, language=self.language, pcm=b"\1\0" * 200, sample_rate=1000)


async def say(service: TtsService, text: str, elderly: bool = False) -> list[SpeechChunk]:
    return [c async for c in service.stream(text, "zh", elderly=elderly)]


async def test_a_repeated_reply_is_not_synthesised_again() -> None:
    voice = CountingVoice()
    service = TtsService({"zh": voice})
    first = await asyncio.wait_for(say(service, REPLY), 5)
    assert len(voice.said) == len(first) >= 2
    second = await asyncio.wait_for(say(service, REPLY), 5)
    assert len(voice.said) == len(first)  # nothing new synthesised
    assert [c.pcm for c in second] == [c.pcm for c in first]
    assert [(c.index, c.final) for c in second] == [(c.index, c.final) for c in first]
    assert service.cache.hits == len(first)
    service.close()


async def test_rate_is_part_of_the_key() -> None:
    voice = CountingVoice()
    service = TtsService({"zh": voice}, TtsSettings(elderly_sentence_max_width=80))
    await say(service, "请稍等。")
    await say(service, "请稍等。", elderly=True)
    assert [r for _, r in voice.said] == [1.0, 0.8]
    service.close()


async def test_cache_off_synthesises_every_time() -> None:
    voice = CountingVoice()
    service = TtsService({"zh": voice}, TtsSettings(cache_mb=0))
    await say(service, "请稍等。")
    await say(service, "请稍等。")
    assert len(voice.said) == 2
    assert len(service.cache) == 0
    service.close()


async def test_a_synthesis_cut_off_by_barge_in_is_not_kept() -> None:
    voice = CountingVoice()
    voice.gate.clear()
    service = TtsService({"zh": voice})
    consumer = asyncio.create_task(say(service, "请稍等。"))
    await asyncio.sleep(0.05)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    voice.gate.set()
    # the one synthesis thread runs jobs in order: this returns once the cut-off one finished
    await asyncio.get_running_loop().run_in_executor(service.executor, lambda: None)
    await asyncio.sleep(0.05)  # its done-callback, had it been kept, would have run by now
    assert voice.said == [("请稍等。", 1.0)]
    assert len(service.cache) == 0
    service.close()


def chunk(text: str, samples: int) -> SpeechChunk:
    return SpeechChunk(text=text, language="zh", pcm=b"\0\0" * samples, sample_rate=16000)


def test_least_recently_used_goes_first_within_the_byte_budget() -> None:
    a, b, c = chunk("a", 100), chunk("b", 100), chunk("c", 100)
    cache = SentenceCache(chunk_bytes(a) * 2)
    cache.put((1, 1.0, "a"), a)
    cache.put((1, 1.0, "b"), b)
    assert cache.get((1, 1.0, "a")) is a  # a is now the most recent
    cache.put((1, 1.0, "c"), c)
    assert cache.get((1, 1.0, "b")) is None
    assert cache.get((1, 1.0, "a")) is a and cache.get((1, 1.0, "c")) is c
    assert cache.size_bytes <= cache.max_bytes
    assert (cache.hits, cache.misses) == (3, 1)


def test_a_sentence_bigger_than_the_cache_is_not_kept() -> None:
    cache = SentenceCache(100)
    cache.put((1, 1.0, "long"), chunk("long", 1000))
    assert len(cache) == 0 and cache.size_bytes == 0


def test_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_mb"):
        TtsSettings(cache_mb=-1)
    with pytest.raises(ValueError):
        SentenceCache(-1)
