"""Estimated waiting time from recent service times, counters and position in the queue."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Container, Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple

from edge.queue.model import Ticket
from edge.queue.settings import CounterSpec, QueueSettings


class ServiceTimes:
    """Sliding window of recent service durations per service, fed by `completed` events."""

    def __init__(self, settings: QueueSettings) -> None:
        self._window = settings.estimator_window
        self._default = {s.id: s.default_service_s for s in settings.services}
        self._prior_n = settings.estimate_prior_services
        self._prior_cv = settings.estimate_prior_cv
        self.band_inflation = settings.estimate_band_inflation
        self.band_scale = settings.estimate_band_scale
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

    def variance(self, service: str) -> float:
        """Spread of one service's duration: the recent window's, with the configured
        duration at `estimate_prior_cv` counting as `estimate_prior_services` services."""
        recent, prior = self._recent[service], self._default[service]
        mean = self.mean(service)
        spread = sum((x - mean) ** 2 for x in recent) + self._prior_n * (self._prior_cv * prior) ** 2
        return spread / (len(recent) + self._prior_n)

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
    only: Container[str] | None = None,
) -> dict[str, Estimate]:
    """People ahead and estimated seconds to be called for each waiting ticket, in one pass.

    Each ticket ranked above competes for this ticket's counters in proportion to how many of
    its own counters they are (a cash ticket ahead of a corporate one loads the corporate
    counter by 1/6 of a cash service when six counters take cash). That work, at each
    service's recent mean time, is shared by this ticket's counters; when all n of them are
    busy, the first frees after about one service time divided by n + 1.
    `only`: estimate just these ticket ids (everyone ranked above still counts).
    """
    overlap = _overlap(counters)
    result: dict[str, Estimate] = {}
    above: dict[str, int] = {}  # tickets ranked above, per service
    for t in ranked_waiting:
        if only is None or t.id in only:
            result[t.id] = _estimate(t, above, counters, overlap, busy, times)
        above[t.service] = above.get(t.service, 0) + 1
    return result


def estimate_one(
    ticket: Ticket,
    ranked_waiting: list[Ticket],
    counters: list[CounterSpec],
    busy: Mapping[str, bool],
    times: ServiceTimes,
) -> Estimate:
    """People ahead and estimated wait for one ticket (the ticket must be waiting)."""
    above: dict[str, int] = {}
    for t in ranked_waiting:
        if t.id == ticket.id:
            break
        above[t.service] = above.get(t.service, 0) + 1
    return _estimate(ticket, above, counters, _overlap(counters), busy, times)


def _overlap(counters: list[CounterSpec]) -> dict[tuple[str, str], float]:
    """(mine, theirs) -> share of `theirs` counters that also serve `mine`."""
    return _overlap_of(tuple(tuple(c.services) for c in counters))


@lru_cache(maxsize=64)  # staffing changes a few times a day; estimates run on every event
def _overlap_of(counters: tuple[tuple[str, ...], ...]) -> dict[tuple[str, str], float]:
    services = {s for c in counters for s in c}
    out: dict[tuple[str, str], float] = {}
    for mine in services:
        for theirs in services:
            serving = [c for c in counters if theirs in c]
            both = sum(1 for c in serving if mine in c)
            if both:
                out[(mine, theirs)] = both / len(serving)
    return out


def _estimate(
    ticket: Ticket,
    above: Mapping[str, int],
    counters: list[CounterSpec],
    overlap: dict[tuple[str, str], float],
    busy: Mapping[str, bool],
    times: ServiceTimes,
) -> Estimate:
    mine = counters_for(counters, ticket.service)
    n = max(1, len(mine))
    ahead = 0
    work: dict[str, float] = {}  # per service ahead: work landing on my counters
    spread: dict[str, float] = {}  # ...and the variance of that work
    for service, count in above.items():
        share = overlap.get((ticket.service, service), 0.0)
        if share > 0.0 and count:
            ahead += count
            work[service] = share * count * times.mean(service)
            spread[service] = share * count * times.variance(service)
    # A service only reaches my counters through the ones that serve it, so within a wait
    # of W it takes at most k x W of their time (k = my counters serving it): a corporate
    # backlog occupies the one corporate counter, not all of the cash counters.
    k = {s: sum(1 for c in mine if s in c.services) for s in work}
    wait = sum(work.values()) / n
    for _ in range(50):  # decreasing to the largest fixed point; stop within a second
        nxt = sum(min(w, k[s] * wait) for s, w in work.items()) / n
        settled = wait - nxt < 0.5
        wait = nxt
        if settled:
            break
    # The variance of the work that reaches my counters in time, shared by n of them.
    var = sum(v * min(1.0, k[s] * wait / work[s]) for s, v in spread.items() if work[s] > 0)
    var /= n * n
    if mine and all(busy.get(c.id, False) for c in mine):
        first = times.mean(ticket.service) / (n + 1)  # first of n busy counters to free
        wait += first
        var += first * first  # about exponential: as spread as it is long
    return Estimate(ahead, wait, var * times.band_inflation**2, times.band_scale)


class Estimate(NamedTuple):
    """People ahead, expected seconds until called, the variance of that wait (times
    `estimate_band_inflation` squared) and `estimate_band_scale`, which moves the range for
    what the expected wait leaves out (priority customers who will arrive and pass)."""

    ahead: int
    wait_s: float
    variance: float
    scale: float = 1.0

    def band(self) -> tuple[float, float, float]:
        """p10, p50, p90 of the wait: a lognormal with this mean (times `scale`) and spread."""
        if self.wait_s <= 0.0:
            return 0.0, 0.0, 0.0
        cv = math.sqrt(max(0.0, self.variance)) / self.wait_s
        sigma2 = math.log(1.0 + cv * cv)
        mu, sigma = math.log(self.wait_s * self.scale) - sigma2 / 2.0, math.sqrt(sigma2)
        return (math.exp(mu - _Z90 * sigma), math.exp(mu), math.exp(mu + _Z90 * sigma))


_Z90 = 1.2815515655446004  # standard normal 90th percentile
