"""Staff console messages: commands and their results, alerts, snapshots, queue updates and
the masked kiosk turns.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from devices.health_payloads import Health
from devices.message_base import Message
from devices.queue_payloads import Board, CounterRow, TicketInfo
from devices.result_payloads import ResultData

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
