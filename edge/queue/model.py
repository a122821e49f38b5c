"""Tickets, their states, events and the values operations return: the queue's vocabulary."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from devices.errors import ErrorCode
from edge.queue.events import QueueEvent

Event = QueueEvent  # the engine's events; their vocabulary and storage: edge/queue/events.py


class State(StrEnum):
    """Where a ticket is; it is in exactly one of these at any time."""

    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


FINISHED = frozenset({State.DONE, State.NO_SHOW, State.CANCELLED})
AT_COUNTER = frozenset({State.CALLED, State.SERVING})


class QueueError(Exception):
    """An operation the queue refuses; nothing changed. `code` is for machines."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The `error` message a client gets back."""
        return {"code": self.code, "message": self.message}


class Ticket(msgspec.Struct, kw_only=True):
    """One customer's place in the queue, mutated only by `QueueEngine.apply`."""

    id: str  # unique across days: "20261125-A023"
    number: str  # what the customer holds and hears: "A023"
    day: str  # business day, "2026-11-25"
    seq: int  # issue order across the engine's life: the last tie-break
    service: str
    cls: str
    language: str = "zh"
    flags: list[str] = msgspec.field(default_factory=list)
    intent: str | None = None
    appointment_at: float | None = None
    walk_in: bool = False
    arrival_at: float
    rank_at: float  # arrival plus no-show penalties: aging counts from here
    state: State = State.WAITING
    counter: str | None = None
    first_called_at: float | None = None
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    recalls: int = 0
    requeues: int = 0
    transfers: int = 0


class TicketView(msgspec.Struct, kw_only=True):
    """What the service shows about a ticket: number, where to go, how long to wait."""

    id: str
    number: str
    service: str
    cls: str
    state: str
    language: str
    counter: str | None = None
    counter_number: int | None = None
    waited_s: float = 0.0
    people_ahead: int | None = None
    estimated_wait_s: float | None = None  # the expected wait (mean)
    # The range to promise: p50 and p90 (p10 for calibration), from the spread of the
    # branch's service times; see estimate.Estimate.band.
    wait_p10_s: float | None = None
    wait_p50_s: float | None = None
    wait_p90_s: float | None = None


class Announcement(msgspec.Struct, kw_only=True):
    """Text the number-caller speaks and shows: always Mandarin, plus the ticket's language."""

    number: str
    counter_number: int
    zh: str
    text: str  # in `language`; equals `zh` for Mandarin tickets
    language: str
    recall: bool = False


class Outcome(msgspec.Struct, kw_only=True):
    """Result of one operation: the tickets it touched, the events it recorded, what to say."""

    tickets: list[TicketView]
    events: list[Event]
    alerts: list[dict[str, Any]] = msgspec.field(default_factory=list)
    announcement: Announcement | None = None

    @property
    def ticket(self) -> TicketView:
        """The main ticket of the operation."""
        return self.tickets[0]
