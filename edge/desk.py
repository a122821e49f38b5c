"""The queue's async shell: run an engine operation, commit its events, then tell everyone.

Operations are serialised by one lock, so two counters calling at the same instant can never
get the same ticket, and nobody hears of a change before it is on disk. If the commit fails
the engine is rebuilt from the database, so memory never runs ahead of what was stored.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from devices.payloads import RecentCall, ServingRow, TicketInfo
from devices.protocol import Alert, BoardSnapshot, Call, QueueUpdate
from edge.jobs import day_start, next_day_start
from edge.queue.engine import QueueEngine
from edge.queue.model import Outcome, QueueError
from edge.queue.settings import QueueSettings
from edge.store import BookingTaken, Store, StoreError

log = logging.getLogger("branch_teller.queue")


@dataclass
class PendingCall:
    """A call the number-caller has not acknowledged yet."""

    message: Call
    sent_at: float
    created_at: float


class Broadcaster(Protocol):
    """Where the desk sends what happened (implemented by the service)."""

    def to_callers(self, msg: Call | BoardSnapshot) -> None: ...
    def to_consoles(self, msg: QueueUpdate | Alert) -> None: ...
    def to_kiosks(self, msg: QueueUpdate) -> None: ...


class QueueDesk:
    """Owns the engine; every state change goes through `run`."""

    def __init__(self, engine: QueueEngine, store: Store, out: Broadcaster,
                 clock: Callable[[], float] = time.time, resend_s: float = 5.0,
                 call_expiry_s: float = 900.0,
                 on_committed: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.store = store
        self.out = out
        self.clock = clock
        self.resend_s = resend_s
        self.call_expiry_s = call_expiry_s
        self.pending_calls: dict[str, PendingCall] = {}
        self._lock = asyncio.Lock()
        self.alerts: dict[str, Alert] = {}
        self.ops = 0
        self.on_committed = on_committed
        self.day = engine.day_of(clock())  # the business day the engine holds

    @classmethod
    async def open(cls, settings: QueueSettings, store: Store, out: Broadcaster,
                   clock: Callable[[], float] = time.time, **kw: Any) -> QueueDesk:
        """Rebuild today's queue from the database."""
        probe = QueueEngine(settings, clock)
        events = await store.load_events(probe.day_of(clock()))
        engine = QueueEngine.restore(settings, clock, events)
        log.info("queue restored from %d events", len(events))
        return cls(engine, store, out, clock, **kw)

    async def run(self, op: str, *args: Any, origin: str | None = None,
                  check_in: str | None = None, **kwargs: Any) -> Outcome:
        """Apply one engine operation durably; raises QueueError (nothing changed) on refusal.

        `origin` is the device that asked (a kiosk), named in any alert the operation raises.
        `check_in`: the booking an issued ticket is for, marked in the same transaction;
        BookingTaken (nothing changed) when it is no longer booked."""
        async with self._lock:
            await self._roll_over()  # nothing of today may land in yesterday's queue
            method = getattr(self.engine, op)
            outcome: Outcome = method(*args, **kwargs)
            day = self.engine.day_of(self.clock())
            booking = None
            if check_in is not None and outcome.tickets:
                booking = (check_in, outcome.ticket.number, self.clock())
            try:
                await self.store.append_events(day, outcome.events, booking)
            except (StoreError, BookingTaken) as err:
                if isinstance(err, StoreError):
                    log.exception("commit failed; rebuilding the queue from the database")
                events = await self.store.load_events(day)
                self.engine = QueueEngine.restore(self.engine.settings, self.clock, events)
                raise
            self.ops += 1
        if self.on_committed is not None:
            self.on_committed(op)
        self._publish(op, outcome, origin)
        return outcome

    def _publish(self, op: str, outcome: Outcome, origin: str | None) -> None:
        # via plain values, so a field the engine adds but the protocol lacks fails loudly
        ticket = (msgspec.convert(msgspec.to_builtins(outcome.ticket), TicketInfo)
                  if outcome.tickets else None)
        update = QueueUpdate(event=op, ticket=ticket, waiting=self.engine.waiting_counts())
        self.out.to_consoles(update)
        self.out.to_kiosks(update)
        for raw in outcome.alerts:
            alert = Alert(alert=secrets.token_hex(4), kind=str(raw.get("kind", "queue")),
                          severity=raw.get("severity", "urgent"),
                          text=str(raw.get("zh") or raw.get("text", "")),
                          ticket=raw.get("number"), device=origin,
                          at=self.clock())
            self.raise_alert(alert)
        if outcome.announcement is not None:
            ann = outcome.announcement
            now = self.clock()
            call = Call(call=secrets.token_hex(6), number=ann.number,
                        counter=str(ann.counter_number), text_zh=ann.zh, text=ann.text,
                        language="en" if ann.language == "en" else "zh", recall=ann.recall)
            self.pending_calls[call.call] = PendingCall(call, now, now)
            self.out.to_callers(call)
            self.out.to_callers(self.board_snapshot())

    async def close_past_days(self) -> Outcome | None:
        """At the day rollover (and once at start): close yesterday's queue, and the last
        earlier day with open tickets if the service was down at its rollover."""
        async with self._lock:
            closed = await self._roll_over()
            earlier = [d for d in await self.store.event_days() if d < self.day]
            if earlier:  # idempotent: a day already closed has nothing left to close
                await close_day(self.store, self.engine.settings, earlier[-1])
            return closed

    async def _roll_over(self) -> Outcome | None:
        """Past the rollover: close the held day in its own history and start today afresh
        (an empty board, numbers from 001, pending calls of closed tickets dropped)."""
        today = self.engine.day_of(self.clock())
        if today == self.day:
            return None
        outcome = await close_day(self.store, self.engine.settings, self.day)
        events = await self.store.load_events(today)
        self.engine = QueueEngine.restore(self.engine.settings, self.clock, events)
        log.info("day %s closed: %d tickets closed out", self.day, len(outcome.tickets))
        self.day = today
        self.pending_calls.clear()
        self.ops += 1
        if self.on_committed is not None:
            self.on_committed("close_day")
        update = QueueUpdate(event="close_day", ticket=None,
                             waiting=self.engine.waiting_counts())
        self.out.to_consoles(update)
        self.out.to_kiosks(update)
        self.out.to_callers(self.board_snapshot())
        return outcome

    def raise_alert(self, alert: Alert) -> None:
        """Keep an alert until acknowledged and push it to every console."""
        if alert.requires_ack:
            self.alerts[alert.alert] = alert
        self.out.to_consoles(alert)

    def ack_alert(self, alert_id: str) -> Alert:
        """Staff acknowledged an alert (second verification done)."""
        alert = self.alerts.pop(alert_id, None)
        if alert is None:
            raise QueueError("unknown_alert", f"There is no open alert {alert_id!r}.")
        return alert

    def ack_call(self, call_id: str) -> bool:
        """A number-caller announced a call; stop re-sending it."""
        return self.pending_calls.pop(call_id, None) is not None

    def due_resends(self) -> list[Call]:
        """Unacknowledged calls to send again (and expire very old ones)."""
        now = self.clock()
        due: list[Call] = []
        for key, pending in list(self.pending_calls.items()):
            if now - pending.created_at > self.call_expiry_s:
                del self.pending_calls[key]
            elif now - pending.sent_at >= self.resend_s:
                pending.sent_at = now
                pending.message = msgspec.structs.replace(
                    pending.message, attempt=pending.message.attempt + 1)
                due.append(pending.message)
        return due

    def board_snapshot(self) -> BoardSnapshot:
        """What a number-caller display shows."""
        engine = self.engine
        serving = [ServingRow(counter=str(c["number"]), number=c["ticket"], state=c["state"])
                   for c in engine.counters() if c["ticket"]]
        recent = msgspec.convert(engine.recent_calls(), list[RecentCall])
        return BoardSnapshot(serving=serving, recent=recent, waiting=engine.waiting_counts())


async def close_day(store: Store, settings: QueueSettings, day: str) -> Outcome:
    """Close one business day in its own history, as of its rollover: tickets served are
    completed, those still waiting or called cancelled with reason "day_closed"."""
    ended = next_day_start(day_start(day, settings.timezone), settings.timezone)
    engine = QueueEngine.restore(settings, lambda: ended, await store.load_events(day))
    outcome = engine.close_day()
    await store.append_events(day, outcome.events)
    return outcome
