"""Event-sourced queue engine: operations validate, emit events, and only `apply` changes state."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from edge.queue.announce import announce, urgent_alert
from edge.queue.day import business_day
from edge.queue.events import (
    Called,
    Cancelled,
    ClassChanged,
    Completed,
    CounterClosed,
    CounterOpened,
    Issued,
    NoShow,
    Recalled,
    Started,
    TicketEvent,
    Transferred,
)
from edge.queue.model import (
    Announcement,
    Event,
    Outcome,
    QueueError,
    State,
    Ticket,
    TicketView,
)
from edge.queue.priority import Policy, make_policy, pick, resolve_class
from edge.queue.settings import CounterSpec, QueueSettings, ServiceSpec, validate_settings
from edge.queue.state import CANCELLABLE, TRANSFERABLE, QueueState
from edge.queue.views import view_of, waiting_views


class QueueEngine:
    """The branch queue: one instance per branch box, fed by one thread, restored from events."""

    def __init__(
        self,
        settings: QueueSettings,
        clock: Callable[[], float],
        *,
        policy: str | Policy = "aging",
    ) -> None:
        validate_settings(settings)
        self.settings = settings
        self._clock = clock
        self.policy: Policy = make_policy(policy, settings) if isinstance(policy, str) else policy
        self._s_timezone = settings.timezone
        self._rollover = settings.day_rollover
        self._services = {s.id: s for s in settings.services}
        self._counters: dict[str, CounterSpec] = {c.id: c for c in settings.counters}
        self._classes = {c.id: c for c in settings.classes}
        self._s = QueueState(settings)

    @classmethod
    def restore(
        cls,
        settings: QueueSettings,
        clock: Callable[[], float],
        events: Iterable[Event],
        *,
        policy: str | Policy = "aging",
    ) -> QueueEngine:
        """Rebuild the exact queue from its recorded events (after a restart or power cut)."""
        engine = cls(settings, clock, policy=policy)
        for event in events:
            engine.apply(event)
        return engine

    # ---- operations -------------------------------------------------------------------

    def issue(
        self,
        service: str,
        *,
        language: str = "zh",
        flags: Sequence[str] = (),
        vip_tier: str | None = None,
        appointment_at: float | None = None,
        intent: str | None = None,
    ) -> Outcome:
        """Give a customer a ticket for a service; urgent tickets come with a staff alert."""
        now = self._clock()
        event = self._issued_event(now, service, language, flags, vip_tier, appointment_at, intent)
        self.apply(event)
        ticket = self._s.tickets[event.ticket]
        alerts = [urgent_alert(ticket, now)] if self._classes[ticket.cls].alert else []
        return Outcome(tickets=[self._view(ticket, now)], events=[event], alerts=alerts)

    def call_next(self, counter_id: str) -> Outcome:
        """Call the best waiting ticket this counter serves (never one another counter holds)."""
        now = self._clock()
        counter = self._free_counter(counter_id)
        ticket = pick(self.policy, self._s.waiting.values(), now, counter)
        if ticket is None:
            raise QueueError(
                "nothing_waiting", f"No ticket is waiting for counter {counter.number}."
            )
        event = Called(at=now, ticket=ticket.id, counter=counter.id)
        self.apply(event)
        return self._outcome(ticket, now, [event], self._announce(ticket, counter, recall=False))

    def recall(self, ticket_id: str) -> Outcome:
        """Call the same customer again; the recall after the allowed ones records a no-show."""
        now = self._clock()
        ticket = self._ticket_in(ticket_id, {State.CALLED}, "recall")
        if ticket.recalls >= self.settings.no_show.recalls_before_no_show:
            return self._no_show(ticket, now)
        event = Recalled(at=now, ticket=ticket.id)
        self.apply(event)
        counter = self._counters[ticket.counter or ""]
        return self._outcome(ticket, now, [event], self._announce(ticket, counter, recall=True))

    def no_show(self, ticket_id: str) -> Outcome:
        """The called customer did not come: requeue with a penalty or cancel, per settings."""
        now = self._clock()
        return self._no_show(self._ticket_in(ticket_id, {State.CALLED}, "mark as no-show"), now)

    def start(self, ticket_id: str) -> Outcome:
        """The customer reached the counter: service time counts from here."""
        now = self._clock()
        ticket = self._ticket_in(ticket_id, {State.CALLED}, "start serving")
        event = Started(at=now, ticket=ticket.id)
        self.apply(event)
        return self._outcome(ticket, now, [event])

    def complete(self, ticket_id: str) -> Outcome:
        """Service finished; its duration feeds the waiting-time estimates."""
        now = self._clock()
        ticket = self._ticket_in(ticket_id, {State.CALLED, State.SERVING}, "complete")
        event = Completed(at=now, ticket=ticket.id)
        self.apply(event)
        return self._outcome(ticket, now, [event])

    def transfer(self, ticket_id: str, service: str) -> Outcome:
        """Send a ticket to another service; it keeps its number and its arrival time."""
        now = self._clock()
        ticket = self._ticket_in(ticket_id, TRANSFERABLE, "transfer")
        self._service(service)
        if service == ticket.service and ticket.state is State.WAITING:
            raise QueueError(
                "same_service", f"Ticket {ticket.number} is already waiting for {service}."
            )
        event = Transferred(at=now, ticket=ticket.id, service=service, from_service=ticket.service)
        self.apply(event)
        return self._outcome(ticket, now, [event])

    def cancel(self, ticket_id: str, reason: str | None = None) -> Outcome:
        """The customer left or staff withdrew the ticket before service; `reason` is kept
        in the event ("corrected": the customer told the kiosk it was the wrong service)."""
        now = self._clock()
        ticket = self._ticket_in(ticket_id, CANCELLABLE, "cancel")
        event = Cancelled(at=now, ticket=ticket.id, reason=reason)
        self.apply(event)
        return self._outcome(ticket, now, [event])

    def set_class(self, ticket_id: str, cls: str) -> Outcome:
        """Staff correct a waiting ticket's priority class (a VIP card shown, a wheelchair
        seen); its place follows from the new class and its original arrival."""
        now = self._clock()
        ticket = self._ticket_in(ticket_id, {State.WAITING}, "change the class of")
        if cls not in self._classes:
            raise QueueError("unknown_class", f"There is no priority class {cls!r}.")
        if cls == ticket.cls:
            raise QueueError("same_class", f"Ticket {ticket.number} is already {cls}.")
        event = ClassChanged(at=now, ticket=ticket.id, cls=cls, from_cls=ticket.cls)
        self.apply(event)
        alerts = [urgent_alert(ticket, now)] if self._classes[cls].alert else []
        return Outcome(tickets=[self._view(ticket, now)], events=[event], alerts=alerts)

    def open_counter(self, counter_id: str) -> Outcome:
        """A teller sits down: the counter can call, and estimates count it."""
        return self._staffing(counter_id, opened=True)

    def close_counter(self, counter_id: str) -> Outcome:
        """A teller leaves (lunch, end of shift): only a free counter can close."""
        return self._staffing(counter_id, opened=False)

    def close_day(self) -> Outcome:
        """End of business: serving tickets complete, everyone still waiting or called is
        cancelled, so tomorrow's board starts empty (numbers restart by date anyway)."""
        now = self._clock()
        events = self._s.closing_events(now)
        for event in events:
            self.apply(event)
        touched = [self._s.tickets[e.ticket] for e in events if isinstance(e, TicketEvent)]
        return Outcome(tickets=[self._view(t, now) for t in touched], events=events)

    def walk_in(
        self,
        counter_id: str,
        service: str,
        *,
        language: str = "zh",
        flags: Sequence[str] = (),
        vip_tier: str | None = None,
        intent: str | None = None,
    ) -> Outcome:
        """A customer served straight at a free counter still gets a numbered, reported ticket."""
        now = self._clock()
        counter = self._free_counter(counter_id)
        issued = self._issued_event(now, service, language, flags, vip_tier, None, intent)
        if service not in counter.services:
            raise QueueError(
                "not_served_here", f"Counter {counter.number} does not serve {service}."
            )
        tid = issued.ticket
        events: list[Event] = [
            msgspec.structs.replace(issued, walk_in=True),
            Called(at=now, ticket=tid, counter=counter.id),
            Started(at=now, ticket=tid),
        ]
        for event in events:
            self.apply(event)
        return self._outcome(self._s.tickets[tid], now, events)

    # ---- state changes ----------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """The only way state changes; refuses an event that does not fit, changing nothing."""
        self._s.apply(event)

    def snapshot(self) -> dict[str, Any]:
        """Complete internal state as plain values: equal snapshots mean equal queues."""
        return self._s.snapshot()

    # ---- reading ----------------------------------------------------------------------

    def ticket(self, ticket_id: str) -> TicketView:
        """Current view of one ticket, with people ahead and estimated wait when waiting."""
        return self._view(self._ticket(ticket_id), self._clock())

    def find(self, number: str, day: str | None = None) -> TicketView:
        """Look a ticket up by the number the customer holds (today by default)."""
        now = self._clock()
        tid = self._s.by_number.get((day or self.day_of(now), number.upper()))
        if tid is None:
            raise QueueError("unknown_ticket", f"There is no ticket {number} today.")
        return self._view(self._s.tickets[tid], now)

    def waiting(self) -> list[TicketView]:
        """Waiting tickets in branch-wide call order, each with its estimate."""
        return self._waiting_views(self._clock())

    def tickets(self) -> list[Ticket]:
        """Every ticket the engine knows (copies), for reports."""
        return [msgspec.structs.replace(t, flags=list(t.flags)) for t in self._s.tickets.values()]

    def counter_ticket(self, counter_id: str) -> TicketView | None:
        """What a counter is calling or serving now."""
        counter = self._counter(counter_id)
        tid = self._s.at_counter[counter.id]
        return None if tid is None else self._view(self._s.tickets[tid], self._clock())

    def waiting_counts(self) -> dict[str, int]:
        """Waiting tickets per service, cheaply (no estimates): for every-event updates."""
        counts = dict.fromkeys(self._services, 0)
        for t in self._s.waiting.values():
            counts[t.service] += 1
        return counts

    def counters(self) -> list[dict[str, Any]]:
        """Each counter and the ticket it is calling or serving (no estimates)."""
        return self._s.counter_rows()

    def recent_calls(self) -> list[dict[str, Any]]:
        """The last calls, newest last, as the board shows them."""
        return list(self._s.recent)

    def board(self, per_service: int = 0) -> dict[str, Any]:
        """Snapshot for the number-caller and console boards, as plain JSON-ready values.

        `per_service` > 0 lists only the first that many waiting tickets of each service (in
        call order, estimates still counting everyone ahead); counts and each service's
        longest wait (`longest_wait_s`) always cover every waiting ticket."""
        now = self._clock()
        views = waiting_views(self._s, self.policy, now, per_service)
        longest: dict[str, float] = {}
        for t in self._s.waiting.values():
            longest[t.service] = max(longest.get(t.service, 0.0), now - t.arrival_at)
        return {
            "at": now,
            "day": self.day_of(now),
            "counters": self._s.counter_rows(),
            "recent": list(self._s.recent),
            "waiting_counts": self.waiting_counts(),
            "waiting_per_service": per_service if per_service > 0 else None,
            "longest_wait_s": {s: max(0.0, w) for s, w in longest.items()},
            "waiting": [msgspec.to_builtins(v) for v in views],
        }

    def day_of(self, at: float) -> str:
        """Business day of an instant in the branch's time zone (numbers restart each day)."""
        return business_day(at, self._s_timezone, self._rollover).isoformat()

    # ---- helpers ----------------------------------------------------------------------

    def _issued_event(
        self,
        now: float,
        service: str,
        language: str,
        flags: Sequence[str],
        vip_tier: str | None,
        appointment_at: float | None,
        intent: str | None,
    ) -> Issued:
        spec = self._service(service)
        if vip_tier is not None and vip_tier not in self._classes:
            raise QueueError("unknown_class", f"There is no priority class {vip_tier!r}.")
        if language not in ("zh", "en"):
            raise QueueError("bad_language", f"Language must be zh or en, not {language!r}.")
        cls = resolve_class(
            self.settings,
            service,
            flags=flags,
            vip_tier=vip_tier,
            appointment_at=appointment_at,
            arrival_at=now,
        )
        return self._s.issued_event(
            now,
            self.day_of(now),
            spec.prefix,
            self.settings.number_digits,
            service=service,
            cls=cls,
            language=language,
            flags=list(flags),
            intent=intent,
            appointment_at=appointment_at,
        )

    def _no_show(self, ticket: Ticket, now: float) -> Outcome:
        policy = self.settings.no_show
        requeue = policy.action == "requeue" and ticket.requeues < policy.max_requeues
        event = NoShow(
            at=now,
            ticket=ticket.id,
            action="requeue" if requeue else "cancel",
            penalty_s=policy.penalty_s if requeue else 0.0,
        )
        self.apply(event)
        return self._outcome(ticket, now, [event])

    def _announce(self, t: Ticket, counter: CounterSpec, *, recall: bool) -> Announcement:
        return announce(t.number, counter.number, t.language, recall=recall)

    def _outcome(
        self, t: Ticket, now: float, events: list[Event], note: Announcement | None = None
    ) -> Outcome:
        return Outcome(tickets=[self._view(t, now)], events=events, announcement=note)

    def _waiting_views(self, now: float) -> list[TicketView]:
        return waiting_views(self._s, self.policy, now)

    def _view(self, t: Ticket, now: float) -> TicketView:
        return view_of(self._s, self.policy, t, now)

    def _service(self, service: str) -> ServiceSpec:
        spec = self._services.get(service)
        if service == "self":
            raise QueueError(
                "self_service",
                "Service 'self' issues no ticket: guide the customer to a self-service terminal.",
            )
        if spec is None:
            raise QueueError("unknown_service", f"There is no queue service {service!r}.")
        return spec

    def _staffing(self, counter_id: str, *, opened: bool) -> Outcome:
        now = self._clock()
        counter = self._free_counter(counter_id, must_be_open=False)
        if self._s.open[counter.id] == opened:
            word = "open" if opened else "closed"
            raise QueueError("bad_state", f"Counter {counter.number} is already {word}.")
        event: Event = (CounterOpened if opened else CounterClosed)(at=now, counter=counter.id)
        self.apply(event)
        return Outcome(tickets=[], events=[event])

    def _counter(self, counter_id: str) -> CounterSpec:
        counter = self._counters.get(counter_id)
        if counter is None:
            raise QueueError("unknown_counter", f"There is no counter {counter_id!r}.")
        return counter

    def _free_counter(self, counter_id: str, *, must_be_open: bool = True) -> CounterSpec:
        counter = self._counter(counter_id)
        if must_be_open and not self._s.open[counter.id]:
            raise QueueError("counter_closed", f"Counter {counter.number} is closed.")
        held = self._s.at_counter[counter.id]
        if held is not None:
            number = self._s.tickets[held].number
            raise QueueError("counter_busy", f"Counter {counter.number} still has ticket {number}.")
        return counter

    def _ticket(self, ticket_id: str) -> Ticket:
        t = self._s.tickets.get(ticket_id)
        if t is None:
            raise QueueError("unknown_ticket", f"There is no ticket {ticket_id!r}.")
        return t

    def _ticket_in(self, ticket_id: str, states: Iterable[State], action: str) -> Ticket:
        t = self._ticket(ticket_id)
        if t.state not in set(states):
            raise QueueError(
                "bad_state", f"Cannot {action} ticket {t.number}: it is {t.state.value}."
            )
        return t
