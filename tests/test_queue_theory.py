"""The real queue engine against queueing theory (oracles and harness in bench/queue_theory.py).

Each simulation is seeded, so a run either lies inside the 99% batch-means interval around the
textbook value or it does not; the intervals are also checked to be narrow enough to tell a
wrong order apart (a FIFO engine would miss Kleinrock's per-class waits). Longer runs:
`bench/queue_theory.py`.
"""

from __future__ import annotations

import math

import pytest

from bench.queue_theory import (
    ClassLoad,
    Law,
    batch_means,
    conservation_total,
    erlang_c,
    kleinrock_accumulating,
    pollaczek_khinchine,
    simulate,
    weighted_estimate,
)

CUSTOMERS = 6000  # per simulation: a few seconds each on a loaded two-core box


# ---------------------------------------------------------------- the oracles themselves


def test_pollaczek_khinchine_for_exponential_service_is_mm1() -> None:
    lam, m = 1 / 400, 300.0
    rho = lam * m
    assert pollaczek_khinchine(lam, m, 2 * m * m) == pytest.approx(rho * m / (1 - rho))
    assert pollaczek_khinchine(lam, m, m * m) == pytest.approx(rho * m / (2 * (1 - rho)))


def test_erlang_c_known_values() -> None:
    # M/M/1: rho / (mu - lam); M/M/2 with a = 1: C = 1/3, W = C / (2 mu - lam)
    assert erlang_c(1, 0.5, 1.0) == pytest.approx(0.5 / (1 - 0.5))
    assert erlang_c(2, 1.0, 1.0) == pytest.approx((1 / 3) / (2 - 1))
    assert erlang_c(3, 2.4, 1.0) < erlang_c(2, 1.6, 1.0) < erlang_c(1, 0.8, 1.0)
    with pytest.raises(ValueError):
        erlang_c(2, 2.0, 1.0)


def test_kleinrock_with_equal_rates_is_fifo_and_obeys_conservation() -> None:
    lams, means = [0.001, 0.0007], [300.0, 400.0]
    m2 = [2 * m * m for m in means]
    equal = kleinrock_accumulating(lams, means, m2, [1.0, 1.0])
    w0 = sum(lam * s for lam, s in zip(lams, m2, strict=True)) / 2
    rho = sum(lam * m for lam, m in zip(lams, means, strict=True))
    assert equal == pytest.approx([w0 / (1 - rho)] * 2)
    for rates in ([1.0, 3.0], [5.0, 1.0], [1.0, 1.01]):
        w = kleinrock_accumulating(lams, means, m2, rates)
        weighted = sum(lam * m * x for lam, m, x in zip(lams, means, w, strict=True))
        assert weighted == pytest.approx(conservation_total(lams, means, m2))
        faster = max(range(2), key=lambda i: rates[i])
        assert w[faster] < w[1 - faster]


def test_kleinrock_tends_to_strict_priority_as_rates_part() -> None:
    lams, means = [0.001, 0.001], [300.0, 300.0]
    m2 = [2 * m * m for m in means]
    w0 = sum(lam * s for lam, s in zip(lams, m2, strict=True)) / 2
    rho_hi = lams[1] * means[1]
    strict_hi = w0 / (1 - rho_hi)  # Cobham: the high class sees only its own load
    w = kleinrock_accumulating(lams, means, m2, [1.0, 1e6])
    assert w[1] == pytest.approx(strict_hi, rel=1e-4)


def test_batch_means_interval_covers_iid_mean() -> None:
    import random

    rng = random.Random(3)
    est = batch_means([rng.expovariate(1 / 50) for _ in range(20_000)])
    assert est.covers(50.0) and est.half_width < 2.5


# ---------------------------------------------------------------- the engine against them


def _kleinrock_loads() -> list[ClassLoad]:
    law = Law("exp", 300.0)
    return [ClassLoad("low", 0.0009, law, rate=1.0), ClassLoad("mid", 0.0007, law, rate=2.0),
            ClassLoad("high", 0.0005, law, rate=5.0)]  # rho 0.63


def test_engine_matches_kleinrock_1964_per_class() -> None:
    loads = _kleinrock_loads()
    waits = simulate(loads, servers=1, customers=CUSTOMERS, seed=11)
    law = loads[0].law
    theory = kleinrock_accumulating([c.lam for c in loads], [law.mean_s] * 3,
                                    [law.second_moment] * 3, [c.rate for c in loads])
    fifo = pollaczek_khinchine(sum(c.lam for c in loads), law.mean_s, law.second_moment)
    for c, w in zip(loads, theory, strict=True):
        est = batch_means(waits[c.cls])
        assert est.covers(w), (c.cls, w, est)
    # The intervals are tight enough that a FIFO engine would have failed this test.
    assert not batch_means(waits["high"]).covers(fifo)


def test_engine_obeys_the_conservation_law_for_any_offsets_and_rates() -> None:
    loads = [ClassLoad("a", 0.0010, Law("exp", 240.0), rate=1.0, offset_s=0.0),
             ClassLoad("b", 0.0005, Law("uniform", 420.0), rate=3.0, offset_s=600.0),
             ClassLoad("c", 0.0002, Law("det", 600.0), rate=1.5, offset_s=1500.0)]  # rho 0.57
    waits = simulate(loads, servers=1, customers=CUSTOMERS, seed=5)
    sim = weighted_estimate(waits, {c.cls: c.lam * c.law.mean_s for c in loads})
    theory = conservation_total([c.lam for c in loads], [c.law.mean_s for c in loads],
                                [c.law.second_moment for c in loads])
    assert sim.covers(theory), (theory, sim)
    assert sim.half_width < 0.25 * theory


def test_engine_with_identical_counters_matches_erlang_c_whatever_the_priorities() -> None:
    law = Law("exp", 300.0)
    servers = 3
    lam = 0.7 * servers / law.mean_s
    loads = [ClassLoad("normal", 0.6 * lam, law),
             ClassLoad("vip", 0.3 * lam, law, offset_s=1200.0),
             ClassLoad("rush", 0.1 * lam, law, rate=3.0)]
    waits = simulate(loads, servers=servers, customers=CUSTOMERS, seed=2)
    sim = weighted_estimate(waits, {c.cls: c.lam / lam for c in loads})
    theory = erlang_c(servers, lam, law.mean_s)
    assert sim.covers(theory), (theory, sim)
    # One counter as fast as the three together waits far less: the test tells them apart.
    assert not sim.covers(erlang_c(1, lam, law.mean_s / servers))
    # ...while the priorities do reorder: the vip class waits less than the normal one.
    assert batch_means(waits["vip"]).mean < batch_means(waits["normal"]).mean


def test_equal_classes_reduce_to_fifo_pollaczek_khinchine() -> None:
    law = Law("uniform", 300.0)
    loads = [ClassLoad("x", 0.0012, law, rate=2.0, offset_s=300.0),
             ClassLoad("y", 0.0008, law, rate=2.0, offset_s=300.0)]  # rho 0.6
    waits = simulate(loads, servers=1, customers=CUSTOMERS, seed=9)
    theory = pollaczek_khinchine(0.002, law.mean_s, law.second_moment)
    for c in loads:
        assert batch_means(waits[c.cls]).covers(theory), c.cls
    # Exponential service of the same mean would wait 1.5 x longer: outside the interval.
    assert not batch_means(waits["x"]).covers(
        pollaczek_khinchine(0.002, law.mean_s, 2 * law.mean_s**2))


def test_simulation_is_seeded() -> None:
    loads = _kleinrock_loads()
    a = simulate(loads, servers=1, customers=300, seed=4)
    b = simulate(loads, servers=1, customers=300, seed=4)
    c = simulate(loads, servers=1, customers=300, seed=5)
    assert a == b and a != c
    assert sum(len(v) for v in a.values()) == 300
    assert all(math.isfinite(x) and x >= 0 for v in a.values() for x in v)
