"""The branch's durable event log, typed: queue events rebuild the queue, desk events rebuild
the open staff alerts and the calls no number-caller has acknowledged.

Every row carries the schema version it was written with. Rows from before the log was typed
(schema 0: plain JSON dicts, no version) are upgraded as they are read, so a database written
by older code still replays; a row from newer code than this is refused, never guessed at.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import msgspec

SCHEMA_VERSION = 1  # what this code writes; 0 = untyped rows written before 2026-12


class EventLogError(ValueError):
    """A stored row that cannot be read: corrupt, or written by newer code than this."""


class EventKind(StrEnum):
    """Every fact the queue engine records; replaying them rebuilds the queue."""

    ISSUED = "issued"
    CALLED = "called"
    RECALLED = "recalled"
    STARTED = "started"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    TRANSFERRED = "transferred"
    CANCELLED = "cancelled"
    CLASS_CHANGED = "class_changed"
    COUNTER_OPENED = "counter_opened"
    COUNTER_CLOSED = "counter_closed"


class _Event(msgspec.Struct, tag_field="kind", kw_only=True, frozen=True, omit_defaults=True):
    at: float  # epoch seconds


# ---------------------------------------------------------------- queue events


class Issued(_Event, tag=EventKind.ISSUED.value, frozen=True):
    """A customer got a numbered ticket (walk_in: straight at a free counter)."""

    ticket: str  # "20261125-A023"
    day: str
    number: str
    service: str
    cls: str
    language: str = "zh"
    flags: list[str] = msgspec.field(default_factory=list)
    intent: str | None = None
    appointment_at: float | None = None
    walk_in: bool = False


class Called(_Event, tag=EventKind.CALLED.value, frozen=True):
    """A counter called the ticket."""

    ticket: str
    counter: str


class Recalled(_Event, tag=EventKind.RECALLED.value, frozen=True):
    """The same counter called the ticket again."""

    ticket: str


class Started(_Event, tag=EventKind.STARTED.value, frozen=True):
    """The customer reached the counter; service time counts from here."""

    ticket: str


class Completed(_Event, tag=EventKind.COMPLETED.value, frozen=True):
    """Service finished."""

    ticket: str


class NoShow(_Event, tag=EventKind.NO_SHOW.value, frozen=True):
    """The called customer did not come: back in the queue with a penalty, or cancelled."""

    ticket: str
    action: Literal["requeue", "cancel"] = "cancel"
    penalty_s: float = 0.0


class Transferred(_Event, tag=EventKind.TRANSFERRED.value, frozen=True):
    """The ticket moved to another service, keeping its number and arrival."""

    ticket: str
    service: str
    from_service: str | None = None


class Cancelled(_Event, tag=EventKind.CANCELLED.value, frozen=True):
    """The ticket was withdrawn before service ("day_closed", "corrected", or staff: None)."""

    ticket: str
    reason: str | None = None


class ClassChanged(_Event, tag=EventKind.CLASS_CHANGED.value, frozen=True):
    """Staff corrected a waiting ticket's priority class."""

    ticket: str
    cls: str
    from_cls: str | None = None


class CounterOpened(_Event, tag=EventKind.COUNTER_OPENED.value, frozen=True):
    """A teller sat down at the counter."""

    counter: str


class CounterClosed(_Event, tag=EventKind.COUNTER_CLOSED.value, frozen=True):
    """The counter closed (lunch, end of shift)."""

    counter: str


QueueEvent = (
    Issued
    | Called
    | Recalled
    | Started
    | Completed
    | NoShow
    | Transferred
    | Cancelled
    | ClassChanged
    | CounterOpened
    | CounterClosed
)
TicketEvent = (
    Called | Recalled | Started | Completed | NoShow | Transferred | Cancelled | ClassChanged
)

# ---------------------------------------------------------------- desk events


class AlertRaised(_Event, tag="alert_raised", frozen=True):
    """Staff were alerted; one that requires an acknowledgement stays open until it gets one.
    `text` is already masked (no customer-identifying detail reaches the log)."""

    alert: str
    alert_kind: str
    severity: Literal["info", "warning", "urgent"]
    text: str
    ticket: str | None = None
    device: str | None = None
    requires_ack: bool = True
    verify: bool = False  # a supervisor's second verification, not a plain acknowledgement


class AlertAcked(_Event, tag="alert_acked", frozen=True):
    """A member of staff acknowledged the alert (the second verification was done)."""

    alert: str
    by: str | None = None


class CallSent(_Event, tag="call_sent", frozen=True):
    """A call went to the number-callers; it is re-sent until one acknowledges it."""

    call: str
    number: str
    counter: str
    text_zh: str
    text: str
    language: Literal["zh", "en"]
    recall: bool = False


class CallResent(_Event, tag="call_resent", frozen=True):
    """No number-caller acknowledged the call in time; it was sent again."""

    call: str
    attempt: int


class CallAcked(_Event, tag="call_acked", frozen=True):
    """A number-caller announced the call."""

    call: str


class CallExpired(_Event, tag="call_expired", frozen=True):
    """Nobody acknowledged the call for too long; it is no longer re-sent."""

    call: str


DeskEvent = AlertRaised | AlertAcked | CallSent | CallResent | CallAcked | CallExpired
LogEvent = QueueEvent | DeskEvent

QUEUE_KINDS = frozenset(k.value for k in EventKind)
ALERT_KINDS = frozenset(str(t.__struct_config__.tag) for t in (AlertRaised, AlertAcked))
CALL_KINDS = frozenset(
    str(t.__struct_config__.tag) for t in (CallSent, CallResent, CallAcked, CallExpired)
)
DESK_KINDS = ALERT_KINDS | CALL_KINDS


def kind_of(event: LogEvent) -> str:
    """The event's tag, as stored in the `kind` column."""
    return str(event.__struct_config__.tag)


def encode_event(event: LogEvent) -> str:
    """The row body for the current schema."""
    return msgspec.json.encode(event).decode()


_DECODER = msgspec.json.Decoder(LogEvent)


def decode_event(body: str | bytes, schema: int) -> LogEvent:
    """A stored row as a typed event, upgrading rows of older schemas; EventLogError if the
    row cannot be read (a corrupt row or a newer schema than this code knows)."""
    try:
        if schema == SCHEMA_VERSION:
            return _DECODER.decode(body)
        if schema == 0:
            return upgrade_v0(msgspec.json.decode(body))
    except (msgspec.ValidationError, msgspec.DecodeError) as err:
        raise EventLogError(f"unreadable event row (schema {schema}): {err}") from err
    raise EventLogError(f"event row of schema {schema}; this code reads up to {SCHEMA_VERSION}")


def upgrade_v0(raw: Any) -> LogEvent:
    """A schema-0 row (a plain dict the engine wrote before events were typed) as a typed one.

    Schema 0 held queue events only, with the same field names; what it left out meant the
    same as the typed defaults (no `action` on a no-show: cancel; no `penalty_s`: 0). Numbers
    may have been written as ints, and unknown extra keys are dropped."""
    if not isinstance(raw, dict) or raw.get("kind") not in QUEUE_KINDS:
        kind = raw.get("kind") if isinstance(raw, dict) else type(raw).__name__
        raise EventLogError(f"schema-0 row of unknown kind {kind!r}")
    event: QueueEvent = msgspec.convert(raw, QueueEvent, strict=False)
    return event
