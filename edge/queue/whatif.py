"""What-if staffing: the next hour of the live queue simulated under the counters as they are and
under a change the manager types, side by side; seeded, so every run can be reproduced."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from edge.queue.model import Ticket
from edge.queue.priority import Policy, pick
from edge.queue.reports import percentile
from edge.queue.settings import CounterSpec, QueueSettings
from edge.queue.staffing import Change, ChangeError


class Situation(msgspec.Struct, kw_only=True):
    """The live queue and the forecast a simulation starts from."""

    now: float
    waiting: list[Ticket]
    open: dict[str, bool]
    in_service: dict[str, tuple[str, float]]  # counter -> (service, seconds served so far)
    arrivals_per_h: dict[str, dict[str, float]]  # service -> class -> expected per hour
    service_mean_s: dict[str, float]
    service_cv: dict[str, float]


class GroupStats(msgspec.Struct, kw_only=True):
    """Waits of one service or one class over the simulated customers (all replications)."""

    key: str
    customers: float  # per replication, on average
    p50_s: float | None
    p90_s: float | None
    within_target: float | None  # share called within their class's target
    target_s: float | None = None  # classes only
    unserved: float = 0.0  # per replication: still waiting when the simulation stopped


class Scenario(msgspec.Struct, kw_only=True):
    """One staffing plan's simulated next hour."""

    label: str
    changes: list[str]
    services: list[GroupStats]
    classes: list[GroupStats]
    empty_at_s: float | None  # median seconds until nobody waits (None: not within horizon)
    empty_share: float  # replications in which the queue emptied within the horizon


class Suggestion(msgspec.Struct, kw_only=True):
    """One change that brings late classes back within their targets."""

    change: str
    fixes: list[str]
    p90_s: dict[str, float]  # the fixed classes' p90 wait under the change
    text: str


class Comparison(msgspec.Struct, kw_only=True):
    """The answer: now against the change, the seed that reproduces it, a suggestion."""

    now: float
    seed: int
    horizon_min: int
    replications: int
    base: Scenario
    changed: Scenario | None
    late_classes: list[str]  # classes whose p90 misses the target as things stand
    suggestion: Suggestion | None
    arrivals_per_h: dict[str, dict[str, float]]
    service_mean_s: dict[str, float]


def check_changes(changes: Sequence[Change], settings: QueueSettings,
                  situation: Situation) -> None:
    """Refuse a change that would change nothing (open an open counter...), saying why."""
    specs = {c.id: c for c in settings.counters}
    for ch in changes:
        spec, is_open = specs[ch.counter], situation.open.get(ch.counter, False)
        if ch.kind == "open" and is_open:
            raise ChangeError(f"counter {ch.counter} is already open")
        if ch.kind in ("close", "break") and not is_open:
            raise ChangeError(f"counter {ch.counter} is closed already")
        if ch.kind == "serve" and all(n in spec.services for n in ch.names):
            raise ChangeError(f"counter {ch.counter} already serves {', '.join(ch.names)}")
        if ch.kind == "prefer" and all(
                n in spec.prefer_services or n in spec.prefer_classes for n in ch.names):
            raise ChangeError(f"counter {ch.counter} already prefers {', '.join(ch.names)}")


# ---------------------------------------------------------------- one simulated run


@dataclass
class _Desk:
    spec: CounterSpec
    open: bool
    free_at: float = 0.0  # seconds from now
    back_at: float = 0.0  # end of a break
    break_s: float = 0.0  # a break still to start after the current customer


@dataclass
class _Stream:
    """Random draws shared by every plan in one replication (common random numbers)."""

    arrivals: list[tuple[float, str, str, float]]  # (seconds from now, service, class, service s)
    waiting_s: dict[str, float]  # service time of each ticket waiting now
    residual_s: dict[str, float]  # counter -> rest of the customer it serves now


@dataclass
class _Run:
    waits: list[tuple[str, str, float, bool]] = field(default_factory=list)  # + served
    empty_at: float | None = None


def _desks(settings: QueueSettings, situation: Situation, changes: Sequence[Change],
           stream: _Stream) -> list[_Desk]:
    desks = {c.id: _Desk(spec=c, open=situation.open.get(c.id, False),
                         free_at=stream.residual_s.get(c.id, 0.0)) for c in settings.counters}
    for ch in changes:
        d = desks[ch.counter]
        if ch.kind == "open":
            d.open = True
        elif ch.kind == "close":
            d.open = False
        elif ch.kind == "break":
            d.break_s += ch.minutes * 60.0
        elif ch.kind == "serve":
            extra = [s for s in ch.names if s not in d.spec.services]
            d.spec = msgspec.structs.replace(d.spec, services=[*d.spec.services, *extra])
        else:
            svc = {s.id for s in settings.services}
            d.spec = msgspec.structs.replace(
                d.spec,
                prefer_services=[*d.spec.prefer_services, *(n for n in ch.names if n in svc)],
                prefer_classes=[*d.spec.prefer_classes, *(n for n in ch.names if n not in svc)])
    for d in desks.values():
        if d.break_s:
            d.back_at, d.break_s = d.free_at + d.break_s, 0.0
    return list(desks.values())


def _simulate(settings: QueueSettings, policy: Policy, situation: Situation,
              changes: Sequence[Change], stream: _Stream, horizon_s: float,
              drain_s: float) -> _Run:
    desks = _desks(settings, situation, changes, stream)
    now = situation.now
    waiting = {t.id: t for t in situation.waiting}
    service_s = dict(stream.waiting_s)
    appointment = settings.appointment_class
    seq = max((t.seq for t in situation.waiting), default=0)
    run = _Run()
    stop = horizon_s + drain_s
    i, t = 0, 0.0
    while True:
        while i < len(stream.arrivals) and stream.arrivals[i][0] <= t:
            at, service, cls, s = stream.arrivals[i]
            seq += 1
            tid = f"what-if-{seq}"
            waiting[tid] = Ticket(id=tid, number="", day="", seq=seq, service=service, cls=cls,
                                  arrival_at=now + at, rank_at=now + at,
                                  appointment_at=now + at if cls == appointment else None)
            service_s[tid] = s
            i += 1
        for d in desks:
            if not waiting:
                break
            if d.open and d.free_at <= t and d.back_at <= t:
                ticket = pick(policy, waiting.values(), now + t, d.spec)
                if ticket is not None:
                    del waiting[ticket.id]
                    run.waits.append((ticket.service, ticket.cls, now + t - ticket.arrival_at,
                                      True))
                    d.free_at = t + service_s.pop(ticket.id)
        if not waiting and run.empty_at is None and t <= horizon_s:
            run.empty_at = t
        if not waiting and i >= len(stream.arrivals):
            return run
        times = [stream.arrivals[i][0]] if i < len(stream.arrivals) else []
        if waiting:
            times += [max(d.free_at, d.back_at) for d in desks
                      if d.open and max(d.free_at, d.back_at) > t]
        nxt = min(times, default=math.inf)
        if nxt > stop:
            for ticket in waiting.values():
                run.waits.append((ticket.service, ticket.cls, now + stop - ticket.arrival_at,
                                  False))
            return run
        t = nxt


# ---------------------------------------------------------------- random draws


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    if cv <= 0.0:
        return mean
    sigma2 = math.log(1.0 + cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2))


def _stream(situation: Situation, horizon_s: float, rng: random.Random) -> _Stream:
    mean, cv = situation.service_mean_s, situation.service_cv
    kinds = [(s, c, r) for s, per in sorted(situation.arrivals_per_h.items())
             for c, r in sorted(per.items()) if r > 0]
    total = sum(r for _, _, r in kinds) / 3600.0
    arrivals: list[tuple[float, str, str, float]] = []
    t = 0.0
    while total > 0:
        t += rng.expovariate(total)
        if t > horizon_s:
            break
        service, cls, _ = rng.choices(kinds, weights=[r for _, _, r in kinds])[0]
        arrivals.append((t, service, cls, _lognormal(rng, mean[service], cv[service])))
    waiting_s = {tk.id: _lognormal(rng, mean[tk.service], cv[tk.service])
                 for tk in sorted(situation.waiting, key=lambda x: x.seq)}
    residual: dict[str, float] = {}
    for counter, (service, served) in sorted(situation.in_service.items()):
        rest = max(30.0, 0.25 * mean[service])  # overdue: assume it ends soon
        for _ in range(50):  # the rest of a service already `served` long
            s = _lognormal(rng, mean[service], cv[service])
            if s > served:
                rest = s - served
                break
        residual[counter] = rest
    return _Stream(arrivals=arrivals, waiting_s=waiting_s, residual_s=residual)


# ---------------------------------------------------------------- pooling and comparing


def _stats(runs: Sequence[_Run], settings: QueueSettings, label: str,
           changes: Sequence[Change], horizon_s: float) -> Scenario:
    targets = {c.id: c.target_wait_s for c in settings.classes}
    n = len(runs)

    def group(key: str, rows: list[tuple[str, str, float, bool]], target: float | None
              ) -> GroupStats:
        waits = [w for _, _, w, _ in rows]
        within = [w <= targets[c] for _, c, w, _ in rows]
        return GroupStats(key=key, customers=len(rows) / n, p50_s=percentile(waits, 50),
                          p90_s=percentile(waits, 90), target_s=target,
                          within_target=sum(within) / len(within) if within else None,
                          unserved=sum(1 for r in rows if not r[3]) / n)

    rows = [r for run in runs for r in run.waits]
    services = [group(s.id, [r for r in rows if r[0] == s.id], None)
                for s in settings.services if any(r[0] == s.id for r in rows)]
    classes = [group(c.id, [r for r in rows if r[1] == c.id], c.target_wait_s)
               for c in settings.classes if any(r[1] == c.id for r in rows)]
    empties = [r.empty_at for r in runs if r.empty_at is not None]
    return Scenario(label=label, changes=[c.text for c in changes], services=services,
                    classes=classes, empty_share=len(empties) / n,
                    empty_at_s=statistics.median(empties) if len(empties) * 2 > n else None)


def late_classes(scenario: Scenario, min_customers: float = 0.2) -> list[str]:
    """Classes whose p90 wait misses their target (ignoring ones hardly seen)."""
    return [g.key for g in scenario.classes
            if g.customers >= min_customers and g.p90_s is not None and g.target_s is not None
            and g.p90_s > g.target_s]


def candidates(settings: QueueSettings, situation: Situation, late: Sequence[str],
               base: Scenario, limit: int) -> list[Change]:
    """Single changes worth trying for the late classes: open a closed counter, let an open
    one take the services those classes wait for, or take those classes first."""
    out: list[Change] = [Change(kind="open", counter=c.id) for c in settings.counters
                         if not situation.open.get(c.id, False)]
    wanted = [s for s, per in sorted(situation.arrivals_per_h.items())
              if any(per.get(k, 0.0) > 0 for k in late)]
    wanted += sorted({t.service for t in situation.waiting if t.cls in late} - set(wanted))
    for c in settings.counters:
        if not situation.open.get(c.id, False):
            continue
        extra = tuple(s for s in wanted if s not in c.services)
        if extra:
            out.append(Change(kind="serve", counter=c.id, names=extra))
        prefer = tuple(k for k in late if k not in c.prefer_classes)
        if prefer and any(s in c.services for s in wanted):
            out.append(Change(kind="prefer", counter=c.id, names=prefer))
    return out[:limit]


def what_if(settings: QueueSettings, policy: Policy, situation: Situation,
            changes: Sequence[Change], *, horizon_min: int, seed: int,
            replications: int | None = None) -> Comparison:
    """Simulate the next `horizon_min` minutes as things are and with `changes` (none: just
    as things are), `replications` seeded runs each, and suggest a change if a class is late."""
    check_changes(changes, settings, situation)
    w = settings.what_if
    reps = replications or w.replications
    horizon_s, drain_s = horizon_min * 60.0, w.drain_min * 60.0
    streams = [_stream(situation, horizon_s, random.Random(seed * 1_000_003 + k))
               for k in range(reps)]

    def scenario(label: str, plan: Sequence[Change], k: int) -> Scenario:
        runs = [_simulate(settings, policy, situation, plan, s, horizon_s, drain_s)
                for s in streams[:k]]
        return _stats(runs, settings, label, plan, horizon_s)

    base = scenario("now", [], reps)
    changed = scenario("change", changes, reps) if changes else None
    late = late_classes(base)
    suggestion = None
    if late and w.suggest:
        suggestion = _suggest(settings, situation, late, base, scenario, w.max_candidates,
                              (max(4, reps // 4), reps))
    return Comparison(now=situation.now, seed=seed, horizon_min=horizon_min,
                      replications=reps, base=base, changed=changed, late_classes=late,
                      suggestion=suggestion, arrivals_per_h=situation.arrivals_per_h,
                      service_mean_s=situation.service_mean_s)


def _suggest(settings: QueueSettings, situation: Situation, late: Sequence[str],
             base: Scenario, scenario: Callable[[str, Sequence[Change], int], Scenario],
             limit: int, reps: tuple[int, int]) -> Suggestion | None:
    """Try each candidate on a few replications, confirm the best on all of them."""
    targets = {c.id: c.target_wait_s for c in settings.classes}

    def score(s: Scenario) -> tuple[int, float]:
        p90 = {g.key: g.p90_s or 0.0 for g in s.classes}
        fixed = sum(1 for k in late if p90.get(k, 0.0) <= targets[k])
        excess = sum(max(0.0, v / targets[k] - 1.0) for k, v in p90.items())
        return fixed, -excess

    tried = [(score(scenario("try", [c], reps[0])), i, c)
             for i, c in enumerate(candidates(settings, situation, late, base, limit))]
    tried = [x for x in tried if x[0][0] > 0]
    if not tried:
        return None
    best = max(tried, key=lambda x: (x[0], -x[1]))[2]
    confirmed = scenario("suggested", [best], reps[1])
    p90 = {g.key: g.p90_s or 0.0 for g in confirmed.classes}
    fixes = [k for k in late if p90.get(k, 0.0) <= targets[k]]
    if not fixes:
        return None
    detail = ", ".join(f"{k} p90 {p90[k] / 60:.1f} min (target {targets[k] / 60:.0f})"
                       for k in fixes)
    return Suggestion(change=best.text, fixes=fixes, p90_s={k: p90[k] for k in fixes},
                      text=f"'{best.text}' brings {detail}")


def blank_situation(settings: QueueSettings, now: float) -> Situation:
    """An empty branch with every counter as configured and no forecast (tests, demos)."""
    return Situation(now=now, waiting=[], open={c.id: c.open_at_start for c in settings.counters},
                     in_service={}, arrivals_per_h={},
                     service_mean_s={s.id: s.default_service_s for s in settings.services},
                     service_cv={s.id: settings.what_if.prior_cv for s in settings.services})

