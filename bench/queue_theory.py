"""The queue engine against queueing theory: oracles, a discrete-event harness, a benchmark.

Usage: .venv/bin/python bench/queue_theory.py [--customers 200000] [--out FILE]

The oracles are textbook formulas (pure functions). `simulate` drives the REAL engine
(edge/queue/engine.py) on an injected clock with Poisson arrivals and seeded service times,
and `batch_means` turns each class's waits into a mean with a confidence interval. The tests
(tests/test_queue_theory.py) run short versions; this script runs long ones and writes
bench/results/queue_theory.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.queue import ClassSpec, CounterSpec, QueueEngine, QueueError, QueueSettings, ServiceSpec

# ---------------------------------------------------------------- oracles (pure)


def pollaczek_khinchine(lam: float, mean_s: float, second_moment_s2: float) -> float:
    """M/G/1 FIFO mean wait in queue: lam E[S^2] / (2 (1 - rho))."""
    rho = lam * mean_s
    if rho >= 1.0:
        raise ValueError("unstable: rho >= 1")
    return lam * second_moment_s2 / (2.0 * (1.0 - rho))


def erlang_c(servers: int, lam: float, mean_s: float) -> float:
    """M/M/c mean wait in queue: C(c, a) / (c mu - lam), with a = lam / mu offered load."""
    a = lam * mean_s
    if a >= servers:
        raise ValueError("unstable: offered load >= servers")
    term, total = 1.0, 1.0  # a^k / k!, summed for k < c
    for k in range(1, servers):
        term *= a / k
        total += term
    top = term * a / servers / (1.0 - a / servers)  # a^c / c! x c / (c - a)
    prob_wait = top / (total + top)
    return prob_wait * mean_s / (servers - a)


def residual_work(lams: Sequence[float], second_moments: Sequence[float]) -> float:
    """W0: mean remaining service seen by an arrival, sum of lam_i E[S_i^2] / 2."""
    return sum(lam * m2 for lam, m2 in zip(lams, second_moments, strict=True)) / 2.0


def kleinrock_accumulating(
    lams: Sequence[float], means: Sequence[float], second_moments: Sequence[float],
    rates: Sequence[float],
) -> list[float]:
    """Kleinrock (1964) accumulating priority, one server, non-preemptive: mean wait per class.

    Priority grows as rate_p x waited; with classes sorted by rate (b_1 <= ... <= b_P):
    W_p = (W0 / (1 - rho) - sum_{i<p} rho_i W_i (1 - b_i / b_p))
          / (1 - sum_{i>p} rho_i (1 - b_p / b_i)).
    Returns waits in the order the classes were given.
    """
    order = sorted(range(len(rates)), key=lambda i: rates[i])
    rhos = [lam * m for lam, m in zip(lams, means, strict=True)]
    rho = sum(rhos)
    if rho >= 1.0:
        raise ValueError("unstable: rho >= 1")
    w0 = residual_work(lams, second_moments)
    waits = [0.0] * len(rates)
    for pos, p in enumerate(order):
        lower = sum(rhos[i] * waits[i] * (1.0 - rates[i] / rates[p]) for i in order[:pos])
        upper = sum(rhos[i] * (1.0 - rates[p] / rates[i]) for i in order[pos + 1 :])
        waits[p] = (w0 / (1.0 - rho) - lower) / (1.0 - upper)
    return waits


def conservation_total(
    lams: Sequence[float], means: Sequence[float], second_moments: Sequence[float]
) -> float:
    """Kleinrock's conservation law: sum rho_p W_p = rho W0 / (1 - rho), for any
    work-conserving non-preemptive order that does not look at service times."""
    rho = sum(lam * m for lam, m in zip(lams, means, strict=True))
    if rho >= 1.0:
        raise ValueError("unstable: rho >= 1")
    return rho * residual_work(lams, second_moments) / (1.0 - rho)


# ---------------------------------------------------------------- service-time laws


@dataclass(frozen=True)
class Law:
    """A service-time distribution with its first two moments (for the oracles)."""

    name: str  # "exp" | "uniform" | "det"
    mean_s: float

    @property
    def second_moment(self) -> float:
        """E[S^2]: 2m^2 exponential, 4m^2/3 uniform on [0, 2m], m^2 deterministic."""
        return {"exp": 2.0, "uniform": 4.0 / 3.0, "det": 1.0}[self.name] * self.mean_s**2

    def draw(self, rng: random.Random) -> float:
        """One service time."""
        if self.name == "exp":
            return rng.expovariate(1.0 / self.mean_s)
        if self.name == "uniform":
            return rng.uniform(0.0, 2.0 * self.mean_s)
        return self.mean_s


# ---------------------------------------------------------------- the harness


@dataclass(frozen=True)
class ClassLoad:
    """One priority class: its arrival rate (per second), service law and score parameters."""

    cls: str
    lam: float
    law: Law
    rate: float = 1.0
    offset_s: float = 0.0


def theory_settings(classes: Sequence[ClassLoad], servers: int) -> QueueSettings:
    """One service, `servers` identical counters serving it, one priority class per load."""
    specs = [
        ClassSpec(id=c.cls, offset_s=c.offset_s, rate=c.rate, target_wait_s=900.0)
        for c in classes
    ]
    first = classes[0].cls
    return QueueSettings(
        services=[ServiceSpec(id="s", prefix="S", name_zh="s", name_en="s")],
        counters=[CounterSpec(id=f"k{i}", number=i + 1, services=["s"]) for i in range(servers)],
        classes=specs,
        urgent_class=first,
        care_class=first,
        appointment_class=first,
        normal_class=first,
        care_flags=[],
        number_digits=6,
        timezone="UTC",
    )


def simulate(
    classes: Sequence[ClassLoad], servers: int, customers: int, seed: int,
    policy: str = "aging",
) -> dict[str, list[float]]:
    """Drive the real engine: Poisson arrivals, seeded service times; waits per class, in
    the order customers were called."""
    settings = theory_settings(classes, servers)
    rng = random.Random(seed)
    now = [1_700_000_000.0]
    engine = QueueEngine(settings, lambda: now[0], policy=policy)
    total = sum(c.lam for c in classes)
    weights = [c.lam / total for c in classes]
    by_cls = {c.cls: c for c in classes}
    free = [c.id for c in settings.counters]
    ends: list[tuple[float, str, str]] = []  # (finish time, counter, ticket id)
    arrived: dict[str, float] = {}
    waits: dict[str, list[float]] = {c.cls: [] for c in classes}
    next_arrival = now[0] + rng.expovariate(total)
    issued = 0
    while issued < customers or ends:
        next_end = min(ends)[0] if ends else math.inf
        if issued < customers and next_arrival <= next_end:
            now[0] = next_arrival
            cls = rng.choices(classes, weights=weights)[0].cls
            ticket = engine.issue("s", vip_tier=cls).ticket
            arrived[ticket.id] = now[0]
            issued += 1
            next_arrival = now[0] + rng.expovariate(total)
        else:
            now[0] = next_end
            ends.sort()
            _, counter, tid = ends.pop(0)
            engine.complete(tid)
            free.append(counter)
        while free:
            try:
                called = engine.call_next(free[0]).ticket
            except QueueError as exc:
                if exc.code != "nothing_waiting":
                    raise
                break
            counter = free.pop(0)
            engine.start(called.id)
            waits[called.cls].append(now[0] - arrived.pop(called.id))
            ends.append((now[0] + by_cls[called.cls].law.draw(rng), counter, called.id))
    return waits


@dataclass(frozen=True)
class Estimate:
    """A simulated mean with the half-width of its confidence interval."""

    mean: float
    half_width: float
    n: int

    def covers(self, value: float) -> bool:
        """Whether `value` lies inside the interval."""
        return abs(value - self.mean) <= self.half_width


# Student t quantiles, two-sided 99%, for the batch counts used here.
_T99 = {9: 3.250, 19: 2.861, 29: 2.756, 39: 2.708, 49: 2.680}


def batch_means(values: Sequence[float], batches: int = 20, warmup: float = 0.1) -> Estimate:
    """Mean and 99% interval by batch means: drop the warm-up, cut the rest into `batches`
    consecutive batches whose means are nearly independent, and use their spread."""
    kept = list(values[int(len(values) * warmup) :])
    size = len(kept) // batches
    if size < 2:
        raise ValueError("too few values for batch means")
    means = [sum(kept[i * size : (i + 1) * size]) / size for i in range(batches)]
    grand = sum(means) / batches
    var = sum((m - grand) ** 2 for m in means) / (batches - 1)
    t = _T99.get(batches - 1, 2.576)
    return Estimate(mean=grand, half_width=t * math.sqrt(var / batches), n=size * batches)


def weighted_estimate(parts: Mapping[str, Sequence[float]], weights: Mapping[str, float],
                      batches: int = 20, warmup: float = 0.1) -> Estimate:
    """Batch means of sum_p weight_p x (class p's batch mean): for the conservation law and
    the all-class mean, whose classes' batches line up in simulated time only roughly, so
    the interval is taken from the classes' batch means combined batch by batch."""
    per: dict[str, list[float]] = {}
    for cls, values in parts.items():
        kept = list(values[int(len(values) * warmup) :])
        size = len(kept) // batches
        if size < 2:
            raise ValueError(f"too few values of {cls} for batch means")
        per[cls] = [sum(kept[i * size : (i + 1) * size]) / size for i in range(batches)]
    combined = [sum(weights[c] * per[c][i] for c in per) for i in range(batches)]
    grand = sum(combined) / batches
    var = sum((m - grand) ** 2 for m in combined) / (batches - 1)
    t = _T99.get(batches - 1, 2.576)
    n = sum(len(v) for v in parts.values())
    return Estimate(mean=grand, half_width=t * math.sqrt(var / batches), n=n)


# ---------------------------------------------------------------- scenarios


def kleinrock_case(customers: int, seed: int) -> dict[str, Any]:
    """Offsets 0, rates 1 / 2 / 4, one counter, exponential service, rho 0.75."""
    law = Law("exp", 300.0)
    loads = [ClassLoad("low", 0.0010, law, rate=1.0), ClassLoad("mid", 0.0008, law, rate=2.0),
             ClassLoad("high", 0.0007, law, rate=4.0)]
    waits = simulate(loads, 1, customers, seed)
    theory = kleinrock_accumulating([c.lam for c in loads], [law.mean_s] * 3,
                                    [law.second_moment] * 3, [c.rate for c in loads])
    return _compare(loads, waits, theory)


def conservation_case(customers: int, seed: int) -> dict[str, Any]:
    """Offsets and rates mixed, different service laws per class, one counter, rho 0.7."""
    loads = [ClassLoad("a", 0.0012, Law("exp", 240.0), rate=1.0, offset_s=0.0),
             ClassLoad("b", 0.0006, Law("uniform", 420.0), rate=3.0, offset_s=600.0),
             ClassLoad("c", 0.0003, Law("det", 600.0), rate=1.5, offset_s=1500.0)]
    waits = simulate(loads, 1, customers, seed)
    rho_w = {c.cls: c.lam * c.law.mean_s for c in loads}
    sim = weighted_estimate(waits, rho_w)
    theory = conservation_total([c.lam for c in loads], [c.law.mean_s for c in loads],
                                [c.law.second_moment for c in loads])
    return {"theory_s": theory, "sim_s": sim.mean, "half_width_s": sim.half_width,
            "covered": sim.covers(theory), "n": sim.n}


def erlang_case(customers: int, seed: int, servers: int = 3) -> dict[str, Any]:
    """Three identical counters, exponential service, priority classes, load 0.8 each."""
    law = Law("exp", 300.0)
    lam = 0.8 * servers / law.mean_s
    loads = [ClassLoad("normal", 0.6 * lam, law), ClassLoad("vip", 0.3 * lam, law,
             offset_s=1200.0), ClassLoad("rush", 0.1 * lam, law, rate=3.0)]
    waits = simulate(loads, servers, customers, seed)
    share = {c.cls: c.lam / lam for c in loads}
    sim = weighted_estimate(waits, share)
    theory = erlang_c(servers, lam, law.mean_s)
    return {"theory_s": theory, "sim_s": sim.mean, "half_width_s": sim.half_width,
            "covered": sim.covers(theory), "n": sim.n}


def fifo_case(customers: int, seed: int) -> dict[str, Any]:
    """Two equal classes (same offset and rate), one counter, uniform service, rho 0.7."""
    law = Law("uniform", 300.0)
    loads = [ClassLoad("x", 0.0014, law, rate=2.0, offset_s=300.0),
             ClassLoad("y", 0.0009333, law, rate=2.0, offset_s=300.0)]
    waits = simulate(loads, 1, customers, seed)
    theory = pollaczek_khinchine(sum(c.lam for c in loads), law.mean_s, law.second_moment)
    return _compare(loads, waits, [theory, theory])


def _compare(loads: Sequence[ClassLoad], waits: Mapping[str, Sequence[float]],
             theory: Sequence[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c, w in zip(loads, theory, strict=True):
        est = batch_means(waits[c.cls])
        out[c.cls] = {"theory_s": w, "sim_s": est.mean, "half_width_s": est.half_width,
                      "covered": est.covers(w), "n": est.n}
    return out


CASES: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "kleinrock_1964": kleinrock_case,
    "conservation_law": conservation_case,
    "erlang_c": erlang_case,
    "pollaczek_khinchine": fifo_case,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case long, print theory against simulation, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "queue_theory.json"))
    args = ap.parse_args(argv)
    doc: dict[str, Any] = {"customers": args.customers, "seed": args.seed,
                           "interval": "99% batch means (20 batches, 10% warm-up dropped)"}
    for name, case in CASES.items():
        t0 = time.perf_counter()
        result = case(args.customers, args.seed)
        elapsed = time.perf_counter() - t0
        doc[name] = {**result, "seconds": round(elapsed, 1)}
        rows = result.items() if "theory_s" not in result else [("all", result)]
        for cls, r in rows:
            print(f"{name:20} {cls:7} theory {r['theory_s']:8.1f} s  sim {r['sim_s']:8.1f} "
                  f"± {r['half_width_s']:6.1f} s  {'ok' if r['covered'] else 'OUTSIDE'}")
        print(f"{'':20} ({elapsed:.1f} s for {args.customers} customers)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
