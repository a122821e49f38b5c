"""Every websocket message between the edge service and its devices: the protocol's version,
which messages each role may send, and the decoding and encoding of frames.

One vocabulary on the wire for kiosks / digital humans, number-callers and staff consoles,
defined one module a family (`devices.session_messages`, `kiosk_messages`, `caller_messages`,
`console_messages`, on `devices.message_base`). JSON text frames carry these messages, tagged
by their `type` field; audio travels in binary frames (see `devices.frames`). Validation is
msgspec's: a decode either yields one of these classes or a `ProtocolError` with a machine code
and a human sentence.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from devices.caller_messages import Ack, BoardSnapshot, Call, CallAudio
from devices.console_messages import (
    Alert,
    Command,
    ConsoleSnapshot,
    QueueUpdate,
    Result,
    TurnLog,
)
from devices.errors import ERRORS, ErrorCode
from devices.kiosk_messages import (
    AudioEnd,
    AudioStart,
    EndSession,
    FormCard,
    GoToTerminal,
    KioskContext,
    KioskText,
    PlaybackFinished,
    PlaybackStarted,
    PlaybackStopped,
    Reply,
    SpeechOut,
    StopAudio,
    TicketCancelled,
    TicketIssued,
    Transcript,
)
from devices.message_base import Message, Role
from devices.session_messages import Bye, Describe, DescribeRequest, Error, Hello, Welcome

# 2: typed payloads (board, results, health), `describe` after `welcome`, `describe_request`.
PROTOCOL_VERSION: Final = 2


CLIENT_MESSAGES: Final[dict[Role, tuple[type[Message], ...]]] = {
    "kiosk": (Hello, KioskText, KioskContext, EndSession, AudioStart, AudioEnd,
              DescribeRequest, PlaybackStarted, PlaybackFinished, PlaybackStopped),
    "caller": (Hello, Ack, DescribeRequest),
    "console": (Hello, Command, DescribeRequest),
}
SERVER_MESSAGES: Final[tuple[type[Message], ...]] = (
    Welcome, Describe, Error, Bye, Reply, Transcript, SpeechOut, StopAudio, TicketIssued, TicketCancelled,
    GoToTerminal, Call, BoardSnapshot, FormCard, CallAudio,
    Result, Alert, ConsoleSnapshot, QueueUpdate, TurnLog,
)
ALL_MESSAGES: Final[tuple[type[Message], ...]] = tuple(
    dict.fromkeys(m for ms in CLIENT_MESSAGES.values() for m in ms)
) + SERVER_MESSAGES


def type_name(cls: type[Message]) -> str:
    """The `type` tag a message class travels with."""
    return str(cls.__struct_config__.tag)


class ProtocolError(Exception):
    """A message that cannot be accepted, with the `error` code and sentence to send back."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None,
                 refusal: bool | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.ref = ref
        self.refusal = ERRORS[code].refusal if refusal is None else refusal
        """A valid request the branch refused ("nothing waiting"): routine, not a bad message;
        by default what the registry (`devices.errors`) says of the code."""


_ANY_DECODER: Final = msgspec.json.Decoder(dict[str, Any])
_ENCODER: Final = msgspec.json.Encoder()

def _decoder_for(types: tuple[type[Message], ...]) -> msgspec.json.Decoder[Any]:
    union: Any = types[0]
    for t in types[1:]:
        union = union | t
    return msgspec.json.Decoder(union)


_ROLE_DECODERS: Final = {role: _decoder_for(types) for role, types in CLIENT_MESSAGES.items()}
_ROLE_TAGS: Final = {role: {type_name(t) for t in types} for role, types in CLIENT_MESSAGES.items()}
_ALL_TAGS: Final = {type_name(t) for t in ALL_MESSAGES}
_SERVER_DECODER: Final = _decoder_for(SERVER_MESSAGES)


def decode_client(data: str | bytes, role: Role) -> Message:
    """Validate one JSON frame from a device of `role`; raise ProtocolError with the reason."""
    try:
        raw = _ANY_DECODER.decode(data)
    except msgspec.DecodeError as err:
        raise ProtocolError("malformed", f"The message is not a JSON object: {err}.") from None
    ref = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("malformed", "The message has no string `type` field.", ref)
    if kind not in _ALL_TAGS:
        raise ProtocolError("unknown_type", f"Unknown message type {kind[:40]!r}.", ref)
    if kind not in _ROLE_TAGS[role]:
        raise ProtocolError("not_allowed", f"A {role} may not send {kind!r} messages.", ref)
    try:
        msg: Message = _ROLE_DECODERS[role].decode(data)
    except msgspec.ValidationError as err:
        raise ProtocolError("invalid", f"The {kind!r} message is invalid: {err}.", ref) from None
    return msg


def decode_server(data: str | bytes) -> Message:
    """Decode a frame from the service (used by simulators, the console and tests)."""
    try:
        msg: Message = _SERVER_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise ProtocolError("invalid", f"Unexpected message from the service: {err}.") from None
    return msg


def encode(msg: Message) -> str:
    """Serialise a message to the JSON text frame that goes on the wire."""
    return _ENCODER.encode(msg).decode()
