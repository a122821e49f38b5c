"""Queue state and its event application: replaying the same events gives the same state."""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec

from edge.queue.estimate import ServiceTimes
from edge.queue.events import (
    Called,
    Cancelled,
    ClassChanged,
    Completed,
    CounterClosed,
    CounterOpened,
    EventKind,
    Issued,
    NoShow,
    Recalled,
    Started,
    TicketEvent,
    Transferred,
    kind_of,
)
from edge.queue.model import Event, QueueError, State, Ticket
from edge.queue.settings import QueueSettings

# Which states each event may leave from; anything else is a bad event.
_FROM: dict[str, frozenset[State]] = {
    EventKind.CALLED: frozenset({State.WAITING}),
    EventKind.RECALLED: frozenset({State.CALLED}),
    EventKind.STARTED: frozenset({State.CALLED}),
    EventKind.COMPLETED: frozenset({State.CALLED, State.SERVING}),
    EventKind.NO_SHOW: frozenset({State.CALLED}),
    EventKind.TRANSFERRED: frozenset({State.WAITING, State.CALLED, State.SERVING}),
    EventKind.CANCELLED: frozenset({State.WAITING, State.CALLED}),
    EventKind.CLASS_CHANGED: frozenset({State.WAITING}),
}


TRANSFERABLE = _FROM[EventKind.TRANSFERRED]
CANCELLABLE = _FROM[EventKind.CANCELLED]


class QueueState:
    """Everything the engine knows, changed only by `apply` (one event at a time)."""

    def __init__(self, settings: QueueSettings) -> None:
        self.services = {s.id: s for s in settings.services}
        self.counters = {c.id: c for c in settings.counters}
        self.classes = {c.id: c for c in settings.classes}
        self.tickets: dict[str, Ticket] = {}
        self.waiting: dict[str, Ticket] = {}  # the waiting tickets, by id
        self.at_counter: dict[str, str | None] = {c.id: None for c in settings.counters}
        self.last_number: dict[tuple[str, str], int] = {}  # (day, prefix) -> last number
        self.by_number: dict[tuple[str, str], str] = {}  # (day, number) -> ticket id
        self.times = ServiceTimes(settings)
        self.recent: deque[dict[str, Any]] = deque(maxlen=settings.recent_called)
        self.seq = 0
        self.open: dict[str, bool] = {c.id: c.open_at_start for c in settings.counters}

    def issued_event(self, now: float, day: str, prefix: str, digits: int, **fields: Any) -> Issued:
        """The `issued` event for the next number of this prefix today (A001, A002...)."""
        n = self.last_number.get((day, prefix), 0) + 1
        number = f"{prefix}{n:0{digits}d}"
        return Issued(
            at=now, ticket=f"{day.replace('-', '')}-{number}", day=day, number=number, **fields
        )

    def closing_events(self, now: float) -> list[Event]:
        """End of day: complete what is being served, cancel what is waiting or called."""
        events: list[Event] = []
        for t in self.tickets.values():
            if t.state is State.SERVING:
                events.append(Completed(at=now, ticket=t.id))
            elif t.state in CANCELLABLE:
                events.append(Cancelled(at=now, ticket=t.id, reason="day_closed"))
        return events

    def counter_rows(self) -> list[dict[str, Any]]:
        """Each counter and the ticket it is calling or serving, for boards."""
        rows = []
        for c in self.counters.values():
            tid = self.at_counter[c.id]
            t = None if tid is None else self.tickets[tid]
            rows.append(
                {
                    "id": c.id,
                    "number": c.number,
                    "services": list(c.services),
                    "ticket": None if t is None else t.number,
                    "ticket_id": None if t is None else t.id,
                    "state": None if t is None else t.state.value,
                    "open": self.open[c.id],
                }
            )
        return rows

    def apply(self, event: Event) -> None:
        """The only way state changes; refuses an event that does not fit, changing nothing."""
        if isinstance(event, Issued):
            self._apply_issued(event)
            return
        if isinstance(event, CounterOpened | CounterClosed):
            cid = event.counter
            if cid not in self.counters or self.at_counter[cid] is not None:
                raise QueueError("bad_event", f"Counter {cid!r} cannot open or close now.")
            self.open[cid] = isinstance(event, CounterOpened)
            return
        kind = kind_of(event) if isinstance(event, msgspec.Struct) else repr(event)
        if kind not in _FROM:
            raise QueueError("bad_event", f"Unknown event kind {kind!r}.")
        assert isinstance(event, TicketEvent)
        t = self.tickets.get(event.ticket)
        if t is None or t.state not in _FROM[kind]:
            raise QueueError("bad_event", f"Event {kind} does not fit ticket {event.ticket}.")
        self._apply_to(t, event)

    def _apply_to(self, t: Ticket, event: TicketEvent) -> None:
        at = event.at
        match event:
            case Called(counter=cid):
                if (
                    cid not in self.counters
                    or self.at_counter[cid] is not None
                    or not self.open[cid]
                ):
                    raise QueueError("bad_event", f"Counter {cid!r} cannot call now.")
                self.waiting.pop(t.id)
                self.at_counter[cid] = t.id
                t.state, t.counter, t.called_at, t.recalls = State.CALLED, cid, at, 0
                t.first_called_at = at if t.first_called_at is None else t.first_called_at
                self.recent.appendleft(
                    {"number": t.number, "counter_number": self.counters[cid].number, "at": at}
                )
            case Recalled():
                t.recalls += 1
            case Started():
                t.state, t.started_at = State.SERVING, at
            case Completed():
                began = t.started_at if t.started_at is not None else (t.called_at or at)
                self.times.add(t.service, at - began)
                self._finish(t, State.DONE, at)
            case NoShow(action="requeue", penalty_s=penalty):
                self._release(t)
                t.rank_at += penalty
                t.requeues += 1
                self._requeue(t)
            case NoShow():
                self._finish(t, State.NO_SHOW, at)
            case Transferred(service=service):
                if service not in self.services:
                    raise QueueError("bad_event", f"Transfer to unknown service {service!r}.")
                self._release(t)
                self.waiting.pop(t.id, None)
                t.service = service
                t.transfers += 1
                self._requeue(t)
            case Cancelled():
                self._finish(t, State.CANCELLED, at)
            case ClassChanged(cls=cls):
                if cls not in self.classes:
                    raise QueueError("bad_event", f"Unknown class in {event!r}.")
                t.cls = cls

    def _apply_issued(self, e: Issued) -> None:
        tid, day, number, service = e.ticket, e.day, e.number, e.service
        if (
            tid in self.tickets
            or (day, number) in self.by_number
            or service not in self.services
            or e.cls not in self.classes
        ):
            raise QueueError("bad_event", f"Issued event for {tid} does not fit.")
        prefix = self.services[service].prefix
        n = int(number[len(prefix) :]) if number[len(prefix) :].isdigit() else 0
        key = (day, prefix)
        self.last_number[key] = max(self.last_number.get(key, 0), n)
        self.seq += 1
        t = Ticket(
            id=tid,
            number=number,
            day=day,
            seq=self.seq,
            service=service,
            cls=e.cls,
            language=e.language,
            flags=list(e.flags),
            intent=e.intent,
            appointment_at=e.appointment_at,
            walk_in=e.walk_in,
            arrival_at=e.at,
            rank_at=e.at,
        )
        self.tickets[tid] = t
        self.by_number[(day, number)] = tid
        self.waiting[tid] = t

    def _release(self, t: Ticket) -> None:
        if t.counter is not None and self.at_counter.get(t.counter) == t.id:
            self.at_counter[t.counter] = None
        t.counter = None

    def _requeue(self, t: Ticket) -> None:
        t.state, t.called_at, t.started_at, t.recalls = State.WAITING, None, None, 0
        self.waiting[t.id] = t

    def _finish(self, t: Ticket, state: State, at: float) -> None:
        self.waiting.pop(t.id, None)
        self._release(t)
        t.state, t.finished_at = state, at

    def snapshot(self) -> dict[str, Any]:
        """Complete internal state as plain values: equal snapshots mean equal queues."""
        return {
            "tickets": [msgspec.to_builtins(t) for t in self.tickets.values()],
            "waiting": list(self.waiting),
            "at_counter": dict(self.at_counter),
            "last_number": sorted([*k, v] for k, v in self.last_number.items()),
            "times": self.times.snapshot(),
            "recent": list(self.recent),
            "seq": self.seq,
            "open": dict(self.open),
        }
