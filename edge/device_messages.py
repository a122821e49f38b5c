"""What the service does with a device's messages and audio frames (`on_message` and
`on_audio` of `devices.server.Handler`): call acknowledgements, staff commands, `describe`
requests and playback reports, and a kiosk's turns, context and audio for its session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devices.caller_messages import Ack
from devices.console_messages import Command
from devices.kiosk_messages import (
    AudioEnd,
    AudioStart,
    EndSession,
    KioskContext,
    KioskText,
    PlaybackFinished,
    PlaybackStarted,
    PlaybackStopped,
)
from devices.message_base import Message
from devices.protocol import ProtocolError
from devices.server import Peer
from devices.session_messages import DescribeRequest
from edge.console_commands import run_command
from edge.lanes import LaneBusy
from edge.sessions import KioskSession
from edge.voice import VoiceChannel

if TYPE_CHECKING:
    from edge.service import Service


async def handle_message(service: Service, peer: Peer, msg: Message) -> None:
    """One validated message from a connected device (never a hello)."""
    assert service.desk is not None and service.store is not None
    if isinstance(msg, Ack):
        await service.desk.ack_call(msg.call)
        return
    if isinstance(msg, Command):
        peer.send(await run_command(service, peer, msg))
        return
    if isinstance(msg, DescribeRequest):
        peer.send(service.describe(peer, msg.id))
    if isinstance(msg, PlaybackStarted | PlaybackFinished | PlaybackStopped):
        kind = ("started" if isinstance(msg, PlaybackStarted) else
                "finished" if isinstance(msg, PlaybackFinished) else "stopped")
        service.playback[kind] += 1
        (service.speaking.add if kind == "started" else service.speaking.discard)(peer.device_id)
        session = service.sessions.get(peer.device_id)
        if (isinstance(msg, PlaybackStopped) and msg.reason == "barge_in_page"
                and session is not None and session.voice is not None):
            session.voice.stopped_by_page(msg.turn)  # synthesise no more of that reply
        return
    session = service.sessions.get(peer.device_id)
    if session is None:
        raise ProtocolError("no_session", "This kiosk has no conversation.", msg.id)
    if isinstance(msg, KioskText):
        await session.on_text(msg)
    elif isinstance(msg, KioskContext):
        await session.on_context(msg)
    elif isinstance(msg, EndSession):
        await session.on_end(msg)
    elif isinstance(msg, AudioStart | AudioEnd):
        voice = voice_channel(service, session, msg.id)
        await (voice.start(msg) if isinstance(msg, AudioStart) else voice.end(msg))
    else:
        raise ProtocolError("unsupported", f"{type(msg).__name__} is not handled yet.",
                            msg.id)


async def handle_audio(service: Service, peer: Peer, stream: int, seq: int, pcm: bytes) -> None:
    """One binary audio frame from a kiosk, for its session's voice channel."""
    session = service.sessions.get(peer.device_id)
    if session is None:
        raise ProtocolError("no_session", "This device has no conversation.")
    try:
        await voice_channel(service, session, None).frame(stream, pcm)
    except LaneBusy:  # speech detection is saturated: this frame is dropped, said once
        raise ProtocolError("busy", "The service is very busy right now; please say that "
                            "again in a moment.", refusal=True) from None


def voice_channel(service: Service, session: KioskSession, ref: str | None) -> VoiceChannel:
    """The session's voice channel, or why speech input is not available."""
    if session.voice is None or not session.voice.res.listening:
        why = "; ".join(service.speech.problems) if service.speech else "disabled in branch.toml"
        raise ProtocolError("speech_unavailable", "Speech input is not available on "
                            f"this service ({why}); please send text turns.", ref)
    return session.voice
