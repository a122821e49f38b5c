"""What the next hour will bring, for what-if staffing: today's arrival rates blended with the
same weekday's history, and service times measured today with the configured ones as prior."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from edge.queue.engine import QueueEngine
from edge.queue.events import Issued
from edge.queue.model import Event, State, Ticket
from edge.queue.reports import service_s
from edge.queue.settings import QueueSettings
from edge.queue.whatif import Situation


def same_weekday_days(days: Iterable[str], today: str, weeks: int) -> list[str]:
    """The last `weeks` days before `today` that fall on its weekday (the history to load)."""
    weekday = date.fromisoformat(today).weekday()
    past = sorted((d for d in days if d < today and date.fromisoformat(d).weekday() == weekday),
                  reverse=True)
    return past[:weeks]


def service_times(tickets: Iterable[Ticket], settings: QueueSettings
                  ) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and coefficient of variation per service: today's measured services, with the
    configured duration counting as `prior_services` services of spread `prior_cv`."""
    w = settings.what_if
    measured: dict[str, list[float]] = {s.id: [] for s in settings.services}
    for t in tickets:
        d = service_s(t)
        if d is not None and t.service in measured:
            measured[t.service].append(d)
    means: dict[str, float] = {}
    cvs: dict[str, float] = {}
    k = w.prior_services
    for spec in settings.services:
        xs, prior = measured[spec.id], spec.default_service_s
        mean = (sum(xs) + k * prior) / (len(xs) + k)
        spread = sum((x - mean) ** 2 for x in xs) + k * (w.prior_cv * prior) ** 2
        means[spec.id] = max(1.0, mean)
        cvs[spec.id] = math.sqrt(spread / (len(xs) + k)) / means[spec.id]
    return means, cvs


def arrival_rates(today: Sequence[Ticket], history: Sequence[Sequence[Event]], now: float,
                  horizon_s: float, settings: QueueSettings) -> dict[str, dict[str, float]]:
    """Expected arrivals per hour per service and class over the horizon.

    Today's rate so far (never over less than `min_rate_window_s`) is blended with the
    history's rate for the same clock window on the same weekday, scaled by how busy today
    has been against those days so far; today's weight grows as t / (t + history_weight_s).
    """
    w = settings.what_if
    tz = ZoneInfo(settings.timezone)
    arrived = [t for t in today if not t.walk_in and t.arrival_at <= now]
    start = min((t.arrival_at for t in arrived), default=now)
    elapsed = now - start
    counts: dict[tuple[str, str], int] = {}
    for t in arrived:
        counts[(t.service, t.cls)] = counts.get((t.service, t.cls), 0) + 1
    window = max(elapsed, w.min_rate_window_s)
    own = {k: n * 3600.0 / window for k, n in counts.items()}
    if not history:
        return _nested(own)
    clock_now = _seconds_of_day(now, tz)
    ahead: dict[tuple[str, str], int] = {}
    before = 0
    for events in history:
        for e in events:
            if not isinstance(e, Issued) or e.walk_in:
                continue
            at = _seconds_of_day(e.at, tz)
            if clock_now <= at < clock_now + horizon_s:
                key = (e.service, e.cls)
                ahead[key] = ahead.get(key, 0) + 1
            elif _seconds_of_day(start, tz) <= at < clock_now:
                before += 1
    days = len(history)
    level = (len(arrived) + 10.0) / (before / days + 10.0)  # today against history, shrunk to 1
    weight = elapsed / (elapsed + w.history_weight_s)
    rates: dict[tuple[str, str], float] = {}
    for key in set(own) | set(ahead):
        past = ahead.get(key, 0) * 3600.0 / (days * horizon_s) * level
        rates[key] = weight * own.get(key, 0.0) + (1.0 - weight) * past
    return _nested(rates)


def situation(engine: QueueEngine, now: float, history: Sequence[Sequence[Event]],
              horizon_s: float) -> Situation:
    """The live queue of `engine` at `now` with its forecast (history: same-weekday events)."""
    settings = engine.settings
    tickets = engine.tickets()
    day = engine.day_of(now)
    today = [t for t in tickets if t.day == day]
    by_id = {t.id: t for t in tickets}
    in_service: dict[str, tuple[str, float]] = {}
    open_: dict[str, bool] = {}
    for row in engine.counters():
        open_[row["id"]] = bool(row["open"])
        t = by_id.get(row["ticket_id"] or "")
        if t is not None:
            began = t.started_at if t.state is State.SERVING and t.started_at else now
            in_service[row["id"]] = (t.service, max(0.0, now - began))
    means, cvs = service_times(today, settings)
    return Situation(
        now=now,
        waiting=sorted((t for t in tickets if t.state is State.WAITING), key=lambda t: t.seq),
        open=open_,
        in_service=in_service,
        arrivals_per_h=arrival_rates(today, history, now, horizon_s, settings),
        service_mean_s=means,
        service_cv=cvs,
    )


def _seconds_of_day(at: float, tz: ZoneInfo) -> float:
    local = datetime.fromtimestamp(at, tz)
    return local.hour * 3600.0 + local.minute * 60.0 + local.second + local.microsecond / 1e6


def _nested(rates: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for (service, cls), r in sorted(rates.items()):
        if r > 0:
            out.setdefault(service, {})[cls] = r
    return out
