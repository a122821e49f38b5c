"""Every websocket message between the edge service and its devices, as typed structs.

One vocabulary on the wire for kiosks / digital humans, number-callers and staff consoles.
JSON text frames carry these messages, tagged by their `type` field; audio travels in binary
frames (see `devices.frames`). Validation is msgspec's: a decode either yields one of these
classes or a `ProtocolError` with a machine code and a human sentence.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from devices.branch_payloads import (
    ClassInfo,
    CounterInfo,
    Features,
    FormField,
    Names,
    PageOptions,
    ServiceInfo,
    TerminalInfo,
)
from devices.errors import ERRORS, ErrorCode
from devices.health_payloads import Health
from devices.payloads import Language
from devices.queue_payloads import Board, CounterRow, RecentCall, ServingRow, TicketInfo
from devices.result_payloads import ResultData

# 2: typed payloads (board, results, health), `describe` after `welcome`, `describe_request`.
PROTOCOL_VERSION: Final = 2

Role = Literal["kiosk", "caller", "console"]
StreamId = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]


class Message(msgspec.Struct, kw_only=True, tag_field="type", forbid_unknown_fields=True):
    """Base of every message; `id` lets a client correlate replies (`ref`)."""

    id: str | None = None


# ---------------------------------------------------------------- session (all roles)


class Hello(Message, tag="hello"):
    """First message of every connection: who the device is and what it can do."""

    device_id: str
    role: Role
    credential: str
    protocol: int
    capabilities: list[str] = msgspec.field(default_factory=list)


class Welcome(Message, tag="welcome"):
    """Hello accepted."""

    session: str
    protocol: int
    role: Role
    branch: str
    server_time: float
    counter: str | None = None


class Error(Message, tag="error"):
    """Something the device sent could not be done; `code` is stable, `message` is for people."""

    code: ErrorCode
    message: str
    ref: str | None = None
    fatal: bool = False
    turn: int | None = None  # the customer turn this error closes (instead of its `reply`)


class Describe(Message, tag="describe"):
    """The branch as a page or console draws it; sent right after `welcome` and on request.

    `terminals` are listed for kiosks only; `features` say what works right now."""

    branch: str
    name: Names
    role: Role
    languages: list[Language]
    services: list[ServiceInfo]
    classes: list[ClassInfo]
    counters: list[CounterInfo]
    terminals: list[TerminalInfo] = msgspec.field(default_factory=list)
    features: Features = msgspec.field(default_factory=Features)
    page: PageOptions = msgspec.field(default_factory=PageOptions)


class DescribeRequest(Message, tag="describe_request"):
    """Ask for `describe` again (answered with the same `id`)."""


class Bye(Message, tag="bye"):
    """The service is closing this connection (shutdown, replaced by a newer login...)."""

    reason: str
    reconnect_after_s: float = 1.0


# ---------------------------------------------------------------- kiosk / digital human


class KioskText(Message, tag="text"):
    """A customer's typed (touch screen) turn."""

    text: str
    language: Language | None = None
    choice: str | None = None  # key of a button from a previous reply's `choices`


class KioskContext(Message, tag="context"):
    """Flags the kiosk knows: elderly mode switched on, VIP card read, preferred language."""

    elderly: bool = False
    vip: str | None = None  # VIP tier class id, e.g. "vip"
    disabled: bool = False
    pregnant: bool = False
    language: Language | None = None
    # The customer's assessed risk tolerance ("C1".."C5"), when the kiosk read it (card, app).
    risk_tolerance: Literal["C1", "C2", "C3", "C4", "C5"] | None = None


class EndSession(Message, tag="end_session"):
    """The kiosk was reset or the customer walked away: forget the conversation."""

    reason: str = "kiosk"


class AudioStart(Message, tag="audio_start"):
    """Announces a binary audio stream (one customer turn or a continuous microphone)."""

    stream: StreamId
    sample_rate: Annotated[int, msgspec.Meta(ge=8_000, le=96_000)] = 16_000
    channels: Literal[1] = 1
    encoding: Literal["pcm16le"] = "pcm16le"
    language: Language | None = None


class AudioEnd(Message, tag="audio_end"):
    """The kiosk stopped sending audio on this stream."""

    stream: StreamId


class Choice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One option the kiosk shows as a button (clarification, yes/no...)."""

    key: str
    label: str


class Reply(Message, tag="reply"):
    """The service's answer to a turn; `choices` become buttons, `sources` cite documents."""

    turn: int
    text: str
    language: Language
    intent: str | None = None
    confidence: float | None = None
    choices: list[Choice] = msgspec.field(default_factory=list)
    sources: list[str] = msgspec.field(default_factory=list)
    large_text: bool = False
    ends_session: bool = False
    # The digital human's face for this reply (None: the kiosk's own choice); "concerned" for
    # a customer who seems upset or confused.
    expression: Literal["neutral", "smile", "concerned"] | None = None
    # False: an anti-fraud or compliance warning, spoken to the end and shown large;
    # `warning` names its rule ("scam", "large_cash", "splitting"...).
    interruptible: bool = True
    warning: str | None = None


class Transcript(Message, tag="transcript"):
    """What the service heard on an audio stream so far (partial) or at end of turn (final)."""

    stream: int
    text: str
    final: bool
    language: Language | None = None


class SpeechOut(Message, tag="speech"):
    """One synthesised sentence; its PCM follows in the binary frame (kind 2) with the same
    `turn` as stream and `seq`. Visemes and word timings drive the digital human and captions."""

    turn: int
    seq: int
    text: str
    language: Language
    sample_rate: int
    duration_ms: int
    visemes: list[tuple[int, int, int]]  # (viseme id, start ms, duration ms)
    words: list[tuple[str, int, int]]  # (text, start ms, duration ms)
    final: bool
    interruptible: bool = True
    expression: Literal["neutral", "smile", "concerned"] | None = None  # as the reply's


class StopAudio(Message, tag="stop_audio"):
    """Stop playing and clear the audio buffer now (the customer spoke over the reply)."""

    turn: int
    reason: str = "barge_in"


class PlaybackStarted(Message, tag="playback_started"):
    """The kiosk's speaker started playing sentence `seq` of reply `turn` (audio clock)."""

    turn: int
    seq: int


class PlaybackFinished(Message, tag="playback_finished"):
    """Sentence `seq` of reply `turn` played to its end; `final` when it was the last one."""

    turn: int
    seq: int
    played_ms: int
    final: bool = False


class PlaybackStopped(Message, tag="playback_stopped"):
    """The kiosk cut reply `turn` short (`stop_audio` or its own barge-in detector) after
    `played_ms` of sentence `seq`: what the customer actually heard."""

    turn: int
    seq: int
    played_ms: int
    reason: str = "stop_audio"


class TicketIssued(Message, tag="ticket"):
    """A queue ticket for the customer at this kiosk."""

    turn: int
    number: str
    service: str
    priority_class: str
    counters: list[str]
    ahead: int
    estimated_wait_s: int  # the expected (mean) wait
    text: str
    language: Language
    # the range the customer is told: half of the waits end by p50, nine in ten by p90
    wait_p50_s: int | None = None
    wait_p90_s: int | None = None


class TicketCancelled(Message, tag="ticket_cancelled"):
    """A ticket this kiosk issued was withdrawn: the customer said it was the wrong one."""

    turn: int
    number: str
    reason: str = "corrected"


class GoToTerminal(Message, tag="go_terminal"):
    """Send the customer to a self-service terminal, naming what to bring."""

    turn: int
    terminal: str
    name: str
    location: str
    bring: list[str] = msgspec.field(default_factory=list)
    text: str = ""
    language: Language = "zh"


class FormCard(Message, tag="form"):
    """A form being filled at the kiosk (account opening): its fields with masked values, the
    one being asked (the page shows its touch input), what was wrong with the last answer.
    A touched value comes back as `text` with `choice` "field:<key>"; "edit:<key>" asks a
    field again, "form_confirm" / "form_cancel" end it."""

    turn: int
    form: str  # "account_opening"
    title: str
    fields: list[FormField]
    asking: str | None = None  # the field asked now; None while the read-back is confirmed
    state: Literal["filling", "confirming", "done", "cancelled"] = "filling"
    problem: str | None = None  # the sentence saying which part to repeat
    language: Language = "zh"


# ---------------------------------------------------------------- number-caller


class Call(Message, tag="call"):
    """Call (or recall) a ticket to a counter; acknowledged with `ack`."""

    call: str
    number: str
    counter: str
    text_zh: str
    text: str
    language: Language
    recall: bool = False
    attempt: int = 1
    seq: int = 0  # board sequence: grows with every call, never reused (0: not numbered)


class Ack(Message, tag="ack"):
    """A number-caller confirms it announced a call."""

    call: str


class BoardSnapshot(Message, tag="board"):
    """What a display shows: now serving per counter, recent calls, waiting counts."""

    serving: list[ServingRow]
    recent: list[RecentCall]
    waiting: dict[str, int]
    seq: int = 0  # the board sequence of the latest call (a display's "already announced")


class CallAudio(Message, tag="call_audio"):
    """One sentence of a call's spoken announcement, synthesised by the service; its PCM16
    follows in a binary frame (kind 2, `stream`, seq = `part`). Mandarin first; English
    after it when the ticket's customer used English."""

    call: str
    seq: int  # the call's board sequence
    stream: int  # the frame's stream id (the board sequence's low 32 bits)
    part: int
    text: str
    language: Language
    sample_rate: int
    duration_ms: int
    final: bool


# ---------------------------------------------------------------- staff console

Action = Literal[
    "call_next", "recall", "no_show", "transfer", "cancel", "start", "complete",
    "walk_in", "set_class", "ack_alert", "snapshot", "kb_search", "report", "appointments",
    "what_if", "audit_log", "verify_alert", "pair_device",
]


class Command(Message, tag="command"):
    """A staff action; answered with `result` or `error` carrying the same `ref`."""

    action: Action
    counter: str | None = None
    ticket: str | None = None  # ticket number, e.g. "A023"
    service: str | None = None
    priority_class: str | None = None
    alert: str | None = None
    note: str | None = None
    query: str | None = None  # kb_search
    date: str | None = None  # report, appointments: YYYY-MM-DD, default today
    change: str | None = None  # what_if: "serve c4 wealth; break c2 20" (none: as things are)
    horizon_min: int | None = None  # what_if: minutes simulated (default from the branch config)
    seed: int | None = None  # what_if: repeat an audited run (default: a fresh seed)
    device: str | None = None  # pair_device: the device id in branch.toml (kiosk-1)


class Result(Message, tag="result"):
    """A staff action was carried out (and committed)."""

    ref: str | None
    action: Action
    ok: bool = True
    ticket: TicketInfo | None = None
    text: str = ""
    data: ResultData | None = None  # tagged by `kind`: kb_search, report, appointments, what_if,
    # audit_log


class Alert(Message, tag="alert"):
    """Something staff must see; `requires_ack` alerts stay until acknowledged."""

    alert: str
    kind: str
    severity: Literal["info", "warning", "urgent"]
    text: str
    ticket: str | None = None
    device: str | None = None
    requires_ack: bool = True
    at: float = 0.0
    verify: bool = False  # a supervisor's second verification (`verify_alert`) before the counter goes on


class ConsoleSnapshot(Message, tag="snapshot"):
    """The whole picture for a console: queue board, counters, open alerts, health."""

    board: Board
    counters: list[CounterRow]
    alerts: list[Alert]
    health: Health
    recent_turns: list[TurnLog] = msgspec.field(default_factory=list)  # masked, oldest first


class QueueUpdate(Message, tag="queue_update"):
    """Something changed in the queue; consoles redraw, kiosks update wait estimates."""

    event: str
    ticket: TicketInfo | None = None
    waiting: dict[str, int] = msgspec.field(default_factory=dict)


class TurnLog(Message, tag="turn"):
    """A kiosk conversation turn for the console (already masked), with latencies."""

    device: str
    turn: int
    speaker: Literal["customer", "teller"]
    text: str
    intent: str | None = None
    timings_ms: dict[str, float] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- registries

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
