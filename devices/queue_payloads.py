"""Queue payloads: tickets, counters, recent calls and the board a console or display draws.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from devices.payloads import Payload


class TicketInfo(Payload):
    """A ticket as staff and devices see it: where to go and how long to wait."""

    id: str  # unique across days: "20261125-A023"
    number: str  # what the customer holds: "A023"
    service: str
    cls: str  # priority class id
    state: Literal["waiting", "called", "serving", "done", "no_show", "cancelled"]
    language: str
    counter: str | None = None
    counter_number: int | None = None
    waited_s: float = 0.0
    people_ahead: int | None = None
    estimated_wait_s: float | None = None  # the expected wait (mean)
    # The range to promise, from the spread of the branch's service times: p50 and p90
    # (p10 for calibration). The kiosk's `ticket` message still carries the single figure.
    wait_p10_s: float | None = None
    wait_p50_s: float | None = None
    wait_p90_s: float | None = None


class CounterRow(Payload):
    """A counter and the ticket it is calling or serving."""

    id: str
    number: int
    services: list[str]
    ticket: str | None = None  # number
    ticket_id: str | None = None
    state: Literal["called", "serving"] | None = None
    open: bool = True


class RecentCall(Payload):
    """One of the last calls, newest first."""

    number: str
    counter_number: int
    at: float


class ServingRow(Payload):
    """Now serving at a counter, as a number-caller display shows it."""

    counter: str  # the counter's number on the wall, e.g. "3"
    number: str
    state: Literal["called", "serving"] | None = None


class Board(Payload):
    """The queue for a console: counters, recent calls and the waiting tickets in call order.

    `waiting` holds only the first `waiting_per_service` tickets of each service (None: all);
    `waiting_counts` and `longest_wait_s` always cover every waiting ticket."""

    at: float
    day: str
    counters: list[CounterRow]
    recent: list[RecentCall]
    waiting_counts: dict[str, int]
    waiting_per_service: int | None = None
    longest_wait_s: dict[str, float] = msgspec.field(default_factory=dict)
    waiting: list[TicketInfo] = msgspec.field(default_factory=list)
