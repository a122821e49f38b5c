"""What callers see of tickets: number, counter, time waited, people ahead, estimated wait."""

from __future__ import annotations

from edge.queue.estimate import Estimate, estimate_one, estimate_waits
from edge.queue.model import State, Ticket, TicketView
from edge.queue.priority import Policy, ranked
from edge.queue.settings import CounterSpec
from edge.queue.state import QueueState


def staffed(state: QueueState) -> list[CounterSpec]:
    """Open counters, which are the ones that will call; all of them if every one is closed."""
    open_ = [c for c in state.counters.values() if state.open[c.id]]
    return open_ or list(state.counters.values())


def busy(state: QueueState) -> dict[str, bool]:
    """Which counters hold a called or serving ticket."""
    return {cid: tid is not None for cid, tid in state.at_counter.items()}


def waiting_views(
    state: QueueState, policy: Policy, now: float, per_service: int = 0
) -> list[TicketView]:
    """Waiting tickets in branch-wide call order, each with people ahead and estimate; with
    `per_service` > 0 only the first that many of each service (a long queue's head)."""
    order = ranked(policy, list(state.waiting.values()), now)
    shown = order if per_service <= 0 else head_per_service(order, per_service)
    only = None if per_service <= 0 else {t.id for t in shown}
    est = estimate_waits(order, staffed(state), busy(state), state.times, only)
    return [ticket_view(state, t, now, est[t.id]) for t in shown]


def head_per_service(order: list[Ticket], per_service: int) -> list[Ticket]:
    """The first `per_service` tickets of each service, keeping the order given."""
    taken: dict[str, int] = {}
    head = []
    for t in order:
        n = taken.get(t.service, 0)
        if n < per_service:
            head.append(t)
            taken[t.service] = n + 1
    return head


def view_of(state: QueueState, policy: Policy, t: Ticket, now: float) -> TicketView:
    """One ticket's view; a waiting ticket gets its estimate computed on the spot."""
    est = None
    if t.state is State.WAITING:
        order = ranked(policy, list(state.waiting.values()), now)
        est = estimate_one(t, order, staffed(state), busy(state), state.times)
    return ticket_view(state, t, now, est)


def ticket_view(
    state: QueueState, t: Ticket, now: float, est: Estimate | None
) -> TicketView:
    """Plain view of a ticket; waited is until the first call (or now, while waiting)."""
    end = t.first_called_at if t.first_called_at is not None else (t.finished_at or now)
    waited = (now if t.state is State.WAITING else end) - t.arrival_at
    counter = state.counters.get(t.counter or "")
    band = None if est is None else est.band()
    return TicketView(
        id=t.id,
        number=t.number,
        service=t.service,
        cls=t.cls,
        state=t.state.value,
        language=t.language,
        counter=t.counter,
        counter_number=None if counter is None else counter.number,
        waited_s=max(0.0, waited),
        people_ahead=None if est is None else est.ahead,
        estimated_wait_s=None if est is None else est.wait_s,
        wait_p10_s=None if band is None else band[0],
        wait_p50_s=None if band is None else band[1],
        wait_p90_s=None if band is None else band[2],
    )
