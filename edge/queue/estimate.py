"""Estimated waiting time from recent service times, counters and position in the queue."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from edge.queue.model import Ticket
from edge.queue.settings import CounterSpec, QueueSettings


class ServiceTimes:
    """Sliding window of recent service durations per service, fed by `completed` events."""

    def __init__(self, settings: QueueSettings) -> None:
        self._window = settings.estimator_window
        self._default = {s.id: s.default_service_s for s in settings.services}
        self._recent: dict[str, deque[float]] = {
            s.id: deque(maxlen=self._window) for s in settings.services
        }

    def add(self, service: str, duration_s: float) -> None:
        """Record one finished service; negative clock jumps are clamped to zero."""
        self._recent[service].append(max(0.0, duration_s))

    def mean(self, service: str) -> float:
        """Mean of the recent window, or the configured default before any service ended."""
        recent = self._recent[service]
        if not recent:
            return self._default[service]
        return sum(recent) / len(recent)

    def snapshot(self) -> dict[str, list[float]]:
        """Plain copy for snapshots and tests."""
        return {k: list(v) for k, v in self._recent.items()}


def counters_for(counters: Iterable[CounterSpec], service: str) -> list[CounterSpec]:
    """Counters that can serve this service."""
    return [c for c in counters if service in c.services]


def estimate_waits(
    ranked_waiting: list[Ticket],
    counters: list[CounterSpec],
    busy: Mapping[str, bool],
    times: ServiceTimes,
) -> dict[str, tuple[int, float]]:
    """People ahead and estimated seconds to be called for each waiting ticket, in one pass.

    A ticket competes with the tickets ranked above it that could take the same counters
    (their services share a counter with its service). Their work, at each one's recent mean
    service time, is shared by the counters serving its service; when all of those counters
    are busy, half a service (the expected remaining time) is added.
    """
    shares = _shares(counters)
    result: dict[str, tuple[int, float]] = {}
    for i, t in enumerate(ranked_waiting):
        result[t.id] = _estimate(t, ranked_waiting[:i], counters, shares, busy, times)
    return result


def estimate_one(
    ticket: Ticket,
    ranked_waiting: list[Ticket],
    counters: list[CounterSpec],
    busy: Mapping[str, bool],
    times: ServiceTimes,
) -> tuple[int, float]:
    """People ahead and estimated wait for one ticket (the ticket must be waiting)."""
    idx = next(i for i, t in enumerate(ranked_waiting) if t.id == ticket.id)
    return _estimate(ticket, ranked_waiting[:idx], counters, _shares(counters), busy, times)


def _shares(counters: list[CounterSpec]) -> dict[str, set[str]]:
    shares: dict[str, set[str]] = {}
    for c in counters:
        for s in c.services:
            shares.setdefault(s, set()).update(c.services)
    return shares


def _estimate(
    ticket: Ticket,
    above: list[Ticket],
    counters: list[CounterSpec],
    shares: dict[str, set[str]],
    busy: Mapping[str, bool],
    times: ServiceTimes,
) -> tuple[int, float]:
    mine = counters_for(counters, ticket.service)
    rivals = shares.get(ticket.service, {ticket.service})
    ahead = 0
    work = 0.0
    for u in above:
        if u.service in rivals:
            ahead += 1
            work += times.mean(u.service)
    wait = work / max(1, len(mine))
    if mine and all(busy.get(c.id, False) for c in mine):
        wait += times.mean(ticket.service) / 2.0
    return ahead, wait
