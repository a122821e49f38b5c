"""Kiosk / digital human messages: turns typed or spoken, replies, speech out and playback
reports, tickets, terminals and form cards.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from devices.branch_payloads import FormField
from devices.message_base import Message, StreamId
from devices.payloads import Language


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
