"""Number-caller messages: calls, their acknowledgement and spoken announcement, the board.
"""

from __future__ import annotations

from devices.message_base import Message
from devices.payloads import Language
from devices.queue_payloads import RecentCall, ServingRow


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
