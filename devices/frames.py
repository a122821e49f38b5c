"""Binary audio frames: a 12-byte header then raw PCM16LE samples, never base64 in JSON.

Header (network byte order): magic b"BT" | version u8 | kind u8 | stream u32 | seq u32.
kind 1 = audio from a kiosk microphone, kind 2 = synthesised speech to a kiosk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

MAGIC: Final = b"BT"
FRAME_VERSION: Final = 1
HEADER: Final = struct.Struct("!2sBBII")
HEADER_BYTES: Final = HEADER.size
KIND_AUDIO_IN: Final = 1
KIND_AUDIO_OUT: Final = 2


class FrameError(ValueError):
    """A binary frame that cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One chunk of PCM16LE mono audio on a stream announced by `audio_start`."""

    kind: int
    stream: int
    seq: int
    pcm: bytes

    def encode(self) -> bytes:
        """Header plus payload, ready for a binary websocket frame."""
        return HEADER.pack(MAGIC, FRAME_VERSION, self.kind, self.stream, self.seq) + self.pcm


def decode_frame(data: bytes) -> AudioFrame:
    """Parse and check one binary frame."""
    if len(data) < HEADER_BYTES:
        raise FrameError(f"A binary frame needs a {HEADER_BYTES}-byte header; got {len(data)} bytes.")
    magic, version, kind, stream, seq = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError("A binary frame must start with the bytes 'BT'.")
    if version != FRAME_VERSION:
        raise FrameError(f"Binary frame version {version} is not supported (expected {FRAME_VERSION}).")
    if kind not in (KIND_AUDIO_IN, KIND_AUDIO_OUT):
        raise FrameError(f"Unknown binary frame kind {kind}.")
    pcm = data[HEADER_BYTES:]
    if len(pcm) % 2:
        raise FrameError("PCM16 audio needs an even number of bytes.")
    return AudioFrame(kind=kind, stream=stream, seq=seq, pcm=pcm)
