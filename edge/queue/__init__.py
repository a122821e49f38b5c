"""Branch queue: pure, event-sourced ticket engine with aging priority, estimates and reports."""

from __future__ import annotations

from edge.queue.announce import announce
from edge.queue.engine import QueueEngine
from edge.queue.events import EventKind
from edge.queue.model import (
    Announcement,
    Event,
    Outcome,
    QueueError,
    State,
    Ticket,
    TicketView,
)
from edge.queue.priority import PRIORITY_HELP, AgingPolicy, FifoPolicy, StrictPolicy, make_policy
from edge.queue.settings import (
    AppointmentPolicy,
    ClassSpec,
    CounterSpec,
    NoShowPolicy,
    QueueSettings,
    ServiceSpec,
    validate_settings,
)

__all__ = [
    "PRIORITY_HELP",
    "AgingPolicy",
    "Announcement",
    "AppointmentPolicy",
    "ClassSpec",
    "CounterSpec",
    "Event",
    "EventKind",
    "FifoPolicy",
    "NoShowPolicy",
    "Outcome",
    "QueueEngine",
    "QueueError",
    "QueueSettings",
    "ServiceSpec",
    "State",
    "StrictPolicy",
    "Ticket",
    "TicketView",
    "announce",
    "make_policy",
    "validate_settings",
]
