"""Replies queued behind an uninterruptible warning: only the newest one plays after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from devices.kiosk_messages import SpeechOut
from edge.voice import SpeechResources, VoiceChannel
from speech.settings import SttSettings, VadSettings
from speech.tts import SpeechChunk


class FakeTts:
    """One 300 ms sentence per reply."""

    async def stream(self, text: str, language: str, elderly: bool) -> AsyncIterator[SpeechChunk]:
        await asyncio.sleep(0.01)
        yield SpeechChunk(text=text, language=language, pcm=b"\x00\x00" * 4800,
                          sample_rate=16000, visemes=[], words=[], index=0, final=True)

    def close(self) -> None: ...


class FakePeer:
    device_id = "kiosk-1"

    class identity:
        capabilities = ("tts",)

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, msg: Any) -> bool:
        self.sent.append(msg)
        return True


async def test_stale_replies_behind_a_warning_are_replaced_by_the_newest() -> None:
    res = SpeechResources(None, None, FakeTts(), VadSettings(), SttSettings())  # type: ignore[arg-type]
    peer = FakePeer()
    voice = VoiceChannel(peer, res, None, None, 60.0)  # type: ignore[arg-type]
    done: list[int] = []
    voice.speak(1, "warning", "zh", False, False, None, lambda _t: done.append(1))
    await asyncio.sleep(0.05)
    voice.speak(2, "stale", "zh", False, True, None, lambda _t: done.append(2))
    voice.speak(3, "newest", "zh", False, True, None, lambda _t: done.append(3))
    await asyncio.sleep(1.0)
    spoken = [m.text for m in peer.sent if isinstance(m, SpeechOut)]
    assert spoken == ["warning", "newest"]
    assert voice.barge_ins == 0
    await voice.close()
