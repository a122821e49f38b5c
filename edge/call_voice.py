"""The number-caller's spoken announcement: each call synthesised once by the service's own
voices (Mandarin, then English for a customer who used English) and sent to the displays
as `call_audio` messages with binary frames, like the kiosk's reply audio.

The call itself goes out first and at once (the display chimes while this synthesises);
the audio follows on the TTS lane. The latest calls' audio is kept, so a re-sent call and a
display that reconnects while a call is pending get it without synthesising again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

import msgspec

from devices.caller_messages import Call, CallAudio
from devices.frames import KIND_AUDIO_OUT, AudioFrame
from devices.message_base import Message
from edge.config import PageSettings
from edge.lanes import LaneBusy
from speech.tts import TtsService

log = logging.getLogger("branch_teller.call_voice")

Part = tuple[CallAudio, bytes]  # the message and its encoded frame


def call_stream(seq: int) -> int:
    """The frame stream id for a call: its board sequence's low 32 bits."""
    return seq & 0xFFFF_FFFF


def announcement(call: Call) -> list[tuple[str, str]]:
    """What is said, in order, as (language, text): always Mandarin; English after it for a
    customer who used English."""
    said = [("zh", call.text_zh)]
    if call.language == "en" and call.text and call.text != call.text_zh:
        said.append(("en", call.text))
    return said


class CallAnnouncer:
    """Synthesises calls for the displays, once each, keeping the latest ones."""

    def __init__(
        self,
        tts: TtsService | None,
        settings: PageSettings,
        send: Callable[[Message | bytes], None],
    ) -> None:
        self.tts = tts
        self.settings = settings
        self.send = send  # to every connected display
        self._audio: OrderedDict[str, list[Part]] = OrderedDict()
        self._making: dict[str, asyncio.Task[None]] = {}
        self.counts = {"synthesised": 0, "resent": 0, "failed": 0}

    @property
    def enabled(self) -> bool:
        return self.settings.call_audio and self.tts is not None

    def announce(self, call: Call) -> None:
        """After a call went out: its audio, from the cache or synthesised now."""
        if not self.enabled:
            return
        parts = self._audio.get(call.call)
        if parts is not None:
            self.counts["resent"] += 1
            for msg, frame in parts:
                self.send(msg)
                self.send(frame)
        elif call.call not in self._making:
            task = asyncio.create_task(self._make(call), name=f"call-audio-{call.call}")
            self._making[call.call] = task
            task.add_done_callback(self._made)

    def _made(self, task: asyncio.Task[None]) -> None:
        for key, made in list(self._making.items()):
            if made is task:
                del self._making[key]

    def cached(self, call_id: str) -> list[Part]:
        """The audio already made for a call (for a display that just connected)."""
        return list(self._audio.get(call_id, []))

    async def _make(self, call: Call) -> None:
        assert self.tts is not None
        parts: list[Part] = []
        said = announcement(call)
        try:
            for i, (language, text) in enumerate(said):
                last_language = i == len(said) - 1
                async for chunk in self.tts.stream(text, language):
                    if not chunk.pcm:
                        continue
                    msg = CallAudio(
                        call=call.call,
                        seq=call.seq,
                        stream=call_stream(call.seq),
                        part=len(parts),
                        text=chunk.text,
                        language="en" if language == "en" else "zh",
                        sample_rate=chunk.sample_rate,
                        duration_ms=chunk.duration_ms,
                        final=last_language and chunk.final,
                    )
                    frame = AudioFrame(KIND_AUDIO_OUT, msg.stream, msg.part, chunk.pcm).encode()
                    parts.append((msg, frame))
                    self.send(msg)  # each sentence as soon as it is ready
                    self.send(frame)
        except (LaneBusy, LookupError) as err:
            self.counts["failed"] += 1
            log.warning(
                "call %s: announcement not synthesised (%s); the display chimes only",
                call.number,
                type(err).__name__,
            )
            return
        if parts and not parts[-1][0].final:  # the last sentence was empty text: mark the end
            msg, frame = parts[-1]
            parts[-1] = (msgspec.structs.replace(msg, final=True), frame)
        self.counts["synthesised"] += 1
        self._audio[call.call] = parts
        while len(self._audio) > max(1, self.settings.call_audio_cache):
            self._audio.popitem(last=False)

    async def close(self) -> None:
        for task in list(self._making.values()):
            task.cancel()
        await asyncio.gather(*self._making.values(), return_exceptions=True)
