"""The queue's async shell: run an engine operation, commit its events, then tell everyone.

Operations are serialised by one lock, so two counters calling at the same instant can never
get the same ticket, and nobody hears of a change before it is on disk. If the commit fails
the engine is rebuilt from the database, so memory never runs ahead of what was stored.
Staff alerts and number-caller calls are desk events under the same rule (committed, then
applied, then sent), so open alerts and unacknowledged calls survive a restart.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from devices.caller_messages import BoardSnapshot, Call
from devices.console_messages import Alert, QueueUpdate
from devices.queue_payloads import RecentCall, ServingRow, TicketInfo
from edge.queue.day import day_start, next_day_start
from edge.queue.engine import QueueEngine
from edge.queue.events import (
    ALERT_KINDS,
    CALL_KINDS,
    AlertAcked,
    AlertRaised,
    CallAcked,
    CallExpired,
    CallResent,
    CallSent,
    DeskEvent,
)
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


def alert_raised(alert: Alert, now: float) -> AlertRaised:
    """The desk event that records an alert (its text is already masked)."""
    return AlertRaised(at=alert.at or now, alert=alert.alert, alert_kind=alert.kind,
                       severity=alert.severity, text=alert.text, ticket=alert.ticket,
                       device=alert.device, requires_ack=alert.requires_ack,
                       verify=alert.verify)


def call_sent(call: Call, now: float) -> CallSent:
    """The desk event that records a new call."""
    return CallSent(at=now, call=call.call, number=call.number, counter=call.counter,
                    text_zh=call.text_zh, text=call.text, language=call.language,
                    recall=call.recall)


def alert_of(event: AlertRaised) -> Alert:
    """The console message for a stored alert."""
    return Alert(alert=event.alert, kind=event.alert_kind, severity=event.severity,
                 text=event.text, ticket=event.ticket, device=event.device,
                 requires_ack=event.requires_ack, at=event.at, verify=event.verify)


def call_of(event: CallSent, seq: int = 0) -> Call:
    """The number-caller message for a stored call, at its first attempt."""
    return Call(call=event.call, number=event.number, counter=event.counter,
                text_zh=event.text_zh, text=event.text, language=event.language,
                recall=event.recall, seq=seq)


BOARD_DAY_CALLS = 100_000  # board sequence numbers per business day


def board_base(day: str) -> int:
    """The board sequence before a day's first call: YYYYMMDD x 100,000, so the sequence only
    grows, across restarts (calls are replayed) and day rollovers, and stays exact in JS."""
    return int(day.replace("-", "")) * BOARD_DAY_CALLS


class DeskState:
    """Open alerts and pending calls, changed only by `apply`: replaying gives the same."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.pending_calls: dict[str, PendingCall] = {}
        self.board_base = 0  # set to the held day's base before its calls are replayed
        self.calls = 0  # calls made on the held day

    @property
    def board_seq(self) -> int:
        """The latest call's board sequence (a display announces only calls above the last
        one it announced)."""
        return self.board_base + self.calls

    def new_day(self, day: str) -> None:
        self.board_base, self.calls = board_base(day), 0

    def apply(self, event: DeskEvent) -> None:
        """Fold one desk event in; events about alerts or calls no longer open change nothing."""
        match event:
            case AlertRaised() if event.requires_ack:
                self.alerts[event.alert] = alert_of(event)
            case AlertAcked():
                self.alerts.pop(event.alert, None)
            case CallSent():
                self.calls += 1
                self.pending_calls[event.call] = PendingCall(call_of(event, self.board_seq),
                                                             event.at, event.at)
            case CallResent():
                pending = self.pending_calls.get(event.call)
                if pending is not None:
                    pending.sent_at = event.at
                    pending.message = msgspec.structs.replace(pending.message,
                                                              attempt=event.attempt)
            case CallAcked() | CallExpired():
                self.pending_calls.pop(event.call, None)

    def apply_all(self, events: Iterable[DeskEvent]) -> None:
        """Replay a stored history."""
        for event in events:
            self.apply(event)


class Broadcaster(Protocol):
    """Where the desk sends what happened (implemented by the service)."""

    def to_callers(self, msg: Call | BoardSnapshot) -> None: ...
    def to_consoles(self, msg: QueueUpdate | Alert) -> None: ...
    def to_kiosks(self, msg: QueueUpdate) -> None: ...


class QueueDesk:
    """Owns the engine and the desk state; every state change goes through the store first."""

    def __init__(self, engine: QueueEngine, store: Store, out: Broadcaster,
                 clock: Callable[[], float] = time.time, resend_s: float = 5.0,
                 call_expiry_s: float = 900.0,
                 on_committed: Callable[[str], None] | None = None,
                 desk: DeskState | None = None) -> None:
        self.engine = engine
        self.store = store
        self.out = out
        self.clock = clock
        self.resend_s = resend_s
        self.call_expiry_s = call_expiry_s
        if desk is None:
            desk = DeskState()
            desk.new_day(engine.day_of(clock()))
        self.desk = desk
        self._lock = asyncio.Lock()
        self.ops = 0
        self.on_committed = on_committed
        self.day = engine.day_of(clock())  # the business day the engine holds

    @property
    def alerts(self) -> dict[str, Alert]:
        """Alerts raised and not yet acknowledged (read only: change them through the desk)."""
        return self.desk.alerts

    @property
    def pending_calls(self) -> dict[str, PendingCall]:
        """Calls no number-caller has acknowledged (read only: change them through the desk)."""
        return self.desk.pending_calls

    @classmethod
    async def open(cls, settings: QueueSettings, store: Store, out: Broadcaster,
                   clock: Callable[[], float] = time.time, **kw: Any) -> QueueDesk:
        """Rebuild today's queue and pending calls, and every open alert, from the database."""
        probe = QueueEngine(settings, clock)
        day = probe.day_of(clock())
        events = await store.load_events(day)
        engine = QueueEngine.restore(settings, clock, events)
        desk = DeskState()
        desk.new_day(day)
        desk.apply_all(await store.load_desk_events(None, ALERT_KINDS))  # open ones outlive the day
        desk.apply_all(await store.load_desk_events(day, CALL_KINDS))
        log.info("queue restored from %d events; %d open alerts, %d pending calls",
                 len(events), len(desk.alerts), len(desk.pending_calls))
        return cls(engine, store, out, clock, desk=desk, **kw)

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
            now = self.clock()
            day = self.engine.day_of(now)
            booking = None
            if check_in is not None and outcome.tickets:
                booking = (check_in, outcome.ticket.number, now)
            told = self._desk_events(outcome, origin, now)
            try:
                await self.store.append_events(day, [*outcome.events, *told], booking)
            except (StoreError, BookingTaken) as err:
                if isinstance(err, StoreError):
                    log.exception("commit failed; rebuilding the queue from the database")
                events = await self.store.load_events(day)
                self.engine = QueueEngine.restore(self.engine.settings, self.clock, events)
                raise
            self.desk.apply_all(told)
            self.ops += 1
        if self.on_committed is not None:
            self.on_committed(op)
        self._publish(op, outcome, told)
        return outcome

    def _desk_events(self, outcome: Outcome, origin: str | None, now: float) -> list[DeskEvent]:
        """The alerts and the call an operation raises, as events to commit with it."""
        told: list[DeskEvent] = []
        for raw in outcome.alerts:
            alert = Alert(alert=secrets.token_hex(4), kind=str(raw.get("kind", "queue")),
                          severity=raw.get("severity", "urgent"),
                          text=str(raw.get("zh") or raw.get("text", "")),
                          ticket=raw.get("number"), device=origin, at=now)
            told.append(alert_raised(alert, now))
        if outcome.announcement is not None:
            ann = outcome.announcement
            call = Call(call=secrets.token_hex(6), number=ann.number,
                        counter=str(ann.counter_number), text_zh=ann.zh, text=ann.text,
                        language="en" if ann.language == "en" else "zh", recall=ann.recall)
            # A newer call at the same counter replaces one never acknowledged: the display
            # shows the newest, and a box back from a crash re-sends one call per counter,
            # not every call it ever made (which overflowed a caller's send queue).
            told.extend(CallExpired(at=now, call=p.message.call)
                        for p in self.pending_calls.values() if p.message.counter == call.counter)
            told.append(call_sent(call, now))
        return told

    def _publish(self, op: str, outcome: Outcome, told: Sequence[DeskEvent]) -> None:
        # via plain values, so a field the engine adds but the protocol lacks fails loudly
        ticket = (msgspec.convert(msgspec.to_builtins(outcome.ticket), TicketInfo)
                  if outcome.tickets else None)
        update = QueueUpdate(event=op, ticket=ticket, waiting=self.engine.waiting_counts())
        self.out.to_consoles(update)
        self.out.to_kiosks(update)
        for event in told:
            if isinstance(event, AlertRaised):
                self.out.to_consoles(alert_of(event))
            elif isinstance(event, CallSent):
                pending = self.desk.pending_calls.get(event.call)
                self.out.to_callers(pending.message if pending is not None
                                    else call_of(event, self.desk.board_seq))
                self.out.to_callers(self.board_snapshot())

    async def _commit(self, events: list[DeskEvent]) -> None:
        """Store desk events, then apply them; the caller holds the lock."""
        if events:
            await self.store.append_events(self.engine.day_of(self.clock()), events)
            self.desk.apply_all(events)

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
        self.desk.new_day(today)
        self.ops += 1
        if self.on_committed is not None:
            self.on_committed("close_day")
        update = QueueUpdate(event="close_day", ticket=None,
                             waiting=self.engine.waiting_counts())
        self.out.to_consoles(update)
        self.out.to_kiosks(update)
        self.out.to_callers(self.board_snapshot())
        return outcome

    async def raise_alert(self, alert: Alert) -> None:
        """Keep an alert until acknowledged (stored first) and push it to every console."""
        async with self._lock:
            await self._commit([alert_raised(alert, self.clock())])
        self.out.to_consoles(alert)

    async def ack_alert(self, alert_id: str, by: str | None = None) -> Alert:
        """Staff acknowledged an alert (second verification done); stored before it closes."""
        async with self._lock:
            alert = self.desk.alerts.get(alert_id)
            if alert is None:
                raise QueueError("unknown_alert", f"There is no open alert {alert_id!r}.")
            await self._commit([AlertAcked(at=self.clock(), alert=alert_id, by=by)])
        return alert

    def awaiting_verification(self, number: str) -> Alert | None:
        """An open second-verification alert on this ticket number, if any."""
        return next((a for a in self.desk.alerts.values() if a.verify and a.ticket == number),
                    None)

    async def ack_call(self, call_id: str) -> bool:
        """A number-caller announced a call; stop re-sending it (once that is stored)."""
        async with self._lock:
            if call_id not in self.desk.pending_calls:
                return False
            await self._commit([CallAcked(at=self.clock(), call=call_id)])
        return True

    async def due_resends(self) -> list[Call]:
        """Unacknowledged calls to send again (and expire very old ones), stored first; none
        when the store fails (they stay due and are tried on the next round)."""
        async with self._lock:
            now = self.clock()
            events: list[DeskEvent] = []
            for key, pending in self.desk.pending_calls.items():
                if now - pending.created_at > self.call_expiry_s:
                    events.append(CallExpired(at=now, call=key))
                elif now - pending.sent_at >= self.resend_s:
                    events.append(CallResent(at=now, call=key,
                                             attempt=pending.message.attempt + 1))
            try:
                await self._commit(events)
            except StoreError:
                log.exception("could not store call re-sends; trying again next round")
                return []
        return [self.desk.pending_calls[e.call].message for e in events
                if isinstance(e, CallResent)]

    def board_snapshot(self) -> BoardSnapshot:
        """What a number-caller display shows."""
        engine = self.engine
        serving = [ServingRow(counter=str(c["number"]), number=c["ticket"], state=c["state"])
                   for c in engine.counters() if c["ticket"]]
        recent = msgspec.convert(engine.recent_calls(), list[RecentCall])
        return BoardSnapshot(serving=serving, recent=recent, waiting=engine.waiting_counts(),
                             seq=self.desk.board_seq)


async def close_day(store: Store, settings: QueueSettings, day: str) -> Outcome:
    """Close one business day in its own history, as of its rollover: tickets served are
    completed, those still waiting or called cancelled with reason "day_closed"."""
    tz, rollover = settings.timezone, settings.day_rollover
    ended = next_day_start(day_start(day, tz, rollover), tz, rollover)
    engine = QueueEngine.restore(settings, lambda: ended, await store.load_events(day))
    outcome = engine.close_day()
    await store.append_events(day, outcome.events)
    return outcome
