"""Priority scoring and the baseline policies, with hand-computed and generated cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.queue import PRIORITY_HELP, QueueSettings
from edge.queue.model import Ticket
from edge.queue.priority import (
    AgingPolicy,
    FifoPolicy,
    StrictPolicy,
    make_policy,
    pick,
    ranked,
    resolve_class,
)
from edge.queue.settings import CounterSpec

S = QueueSettings()


def ticket(
    seq: int,
    cls: str = "normal",
    at: float = 0.0,
    service: str = "cash",
    rank_at: float | None = None,
    appointment_at: float | None = None,
) -> Ticket:
    return Ticket(
        id=f"t{seq}",
        number=f"B{seq:03d}",
        day="2026-11-25",
        seq=seq,
        service=service,
        cls=cls,
        arrival_at=at,
        rank_at=at if rank_at is None else rank_at,
        appointment_at=appointment_at,
    )


def counter(cid: str) -> CounterSpec:
    return next(c for c in S.counters if c.id == cid)


def test_score_is_offset_plus_rate_times_wait() -> None:
    aging = AgingPolicy(S)
    assert aging.score(ticket(1, "normal", at=100.0), 400.0) == pytest.approx(300.0)
    assert aging.score(ticket(2, "vip", at=100.0), 400.0) == pytest.approx(1200.0 + 1 * 300.0)
    assert aging.score(ticket(3, "urgent", at=0.0), 0.0) == pytest.approx(86400.0)


def test_preference_bonus_only_at_preferring_counter() -> None:
    aging = AgingPolicy(S)
    vip = ticket(1, "vip", service="personal")
    wealth = ticket(2, "normal", service="wealth")
    plain = ticket(3, "normal", service="personal")
    assert aging.score(vip, 0.0, counter("c5")) == pytest.approx(1200.0 + 900.0)
    assert aging.score(wealth, 0.0, counter("c5")) == pytest.approx(900.0)
    assert aging.score(plain, 0.0, counter("c5")) == pytest.approx(0.0)
    assert aging.score(vip, 0.0, counter("c1")) == pytest.approx(1200.0)


def test_strict_starves_where_aging_does_not() -> None:
    old_normal = ticket(1, "normal", at=0.0)
    new_vip = ticket(2, "vip", at=7200.0)
    c1 = counter("c1")
    strict, aging = StrictPolicy(S), AgingPolicy(S)
    assert pick(strict, [old_normal, new_vip], 7200.0, c1) is new_vip  # two hours: still loses
    assert pick(aging, [old_normal, new_vip], 7200.0, c1) is old_normal
    assert pick(FifoPolicy(), [new_vip, old_normal], 7200.0, c1) is old_normal


def test_pick_skips_services_the_counter_does_not_serve() -> None:
    corp = ticket(1, "urgent", service="corporate")
    assert pick(AgingPolicy(S), [corp], 0.0, counter("c1")) is None
    assert pick(AgingPolicy(S), [corp], 0.0, counter("c6")) is corp


def test_ties_go_to_earlier_arrival_then_issue_order() -> None:
    a, b = ticket(2, at=10.0), ticket(1, at=10.0)
    c = ticket(3, at=5.0, rank_at=10.0)  # penalised: same rank time, earlier arrival
    order = ranked(AgingPolicy(S), [a, b, c], 50.0)
    assert [t.id for t in order] == ["t3", "t1", "t2"]


def test_appointment_scores_as_normal_until_window() -> None:
    aging = AgingPolicy(S)
    appt = ticket(1, "appointment", at=0.0, appointment_at=1000.0)  # window opens at 400
    assert aging.score(appt, 300.0) == pytest.approx(300.0)
    assert aging.score(appt, 400.0) == pytest.approx(1200.0)  # 1200 + 0 > normal 400
    assert aging.score(appt, 1400.0) == pytest.approx(1200.0 + 1000.0)  # > normal 1400
    early = ticket(2, "appointment", at=0.0, appointment_at=3000.0)  # window opens at 2400
    assert aging.score(early, 2400.0) == pytest.approx(2400.0)  # its own wait is worth more


def test_resolve_class_precedence() -> None:
    assert resolve_class(S, "urgent", vip_tier="vip") == "urgent"
    assert resolve_class(S, "cash", vip_tier="vip", flags=["elderly"]) == "vip"
    assert resolve_class(S, "cash", flags=["wheelchair", "pregnant"]) == "elderly"
    assert resolve_class(S, "cash", appointment_at=100.0, arrival_at=0.0) == "appointment"
    assert resolve_class(S, "cash", appointment_at=100.0, arrival_at=1001.0) == "normal"
    assert resolve_class(S, "cash") == "normal"


def test_make_policy_names() -> None:
    assert make_policy("fifo", S).name == "fifo"
    assert make_policy("strict", S).name == "strict"
    assert make_policy("aging", S).name == "aging"
    with pytest.raises(ValueError, match="unknown queue policy"):
        make_policy("random", S)


def test_help_documents_formula_and_every_default_class() -> None:
    assert "offset_s(class) + rate(class) x (now - rank_at)" in PRIORITY_HELP
    for c in S.classes:
        line = next(ln for ln in PRIORITY_HELP.splitlines() if ln.strip().startswith(c.id + " "))
        numbers = [float(x) for x in line.split()[1:4]]
        assert numbers == [c.offset_s, c.rate, c.target_wait_s], c.id


arrivals = st.lists(st.floats(min_value=0, max_value=20_000), min_size=2, max_size=12)


@given(
    arrivals, st.floats(min_value=0, max_value=40_000), st.sampled_from([c.id for c in S.classes])
)
def test_same_class_always_in_arrival_order(times: list[float], later: float, cls: str) -> None:
    now = max(times) + later
    tickets = [ticket(i, cls, at=t) for i, t in enumerate(times)]
    if cls == "appointment":
        for t in tickets:
            t.appointment_at = t.arrival_at  # same booking offset keeps the comparison fair
    order = ranked(AgingPolicy(S), tickets, now)
    assert [t.arrival_at for t in order] == sorted(times)


@given(
    st.floats(min_value=0, max_value=50_000),
    st.floats(min_value=1, max_value=50_000),
    st.sampled_from(["vip_gold", "vip", "elderly", "appointment"]),
)
def test_long_wait_outranks_a_fresh_priority_ticket(now: float, beyond: float, cls: str) -> None:
    """Nobody starves: once a normal ticket has waited longer than a class's offset, no newly
    arriving ticket of that class passes it (urgent excepted, by design)."""
    spec = next(c for c in S.classes if c.id == cls)
    waited = spec.offset_s + beyond
    normal = ticket(1, "normal", at=now - waited)
    rival = ticket(2, cls, at=now, appointment_at=now)
    order = ranked(AgingPolicy(S), [rival, normal], now)
    assert order[0] is normal
    strict = ranked(StrictPolicy(S), [rival, normal], now)
    assert strict[0] is rival  # the baseline starves it, whatever the wait


@given(
    st.sampled_from(["urgent", "vip_gold", "vip", "elderly", "normal"]),
    st.sampled_from(["urgent", "vip_gold", "vip", "elderly", "normal"]),
    st.floats(min_value=0, max_value=20_000),
    st.floats(min_value=0, max_value=20_000),
    st.floats(min_value=0, max_value=40_000),
)
def test_default_order_never_changes_while_both_wait(
    cls_a: str, cls_b: str, at_a: float, at_b: float, extra: float
) -> None:
    """Every default class ages at rate 1: offsets are fixed head starts, so a ticket's place
    relative to another never drifts with time (no slide toward strict priority at the peak)."""
    a, b = ticket(1, cls_a, at=at_a), ticket(2, cls_b, at=at_b)
    aging = AgingPolicy(S)
    start = max(at_a, at_b)
    assert aging.score(a, start) - aging.score(b, start) == pytest.approx(
        aging.score(a, start + extra) - aging.score(b, start + extra), abs=1e-6
    )
    first = ranked(aging, [a, b], start)
    assert ranked(aging, [a, b], start + extra) == first


def test_counter_bonus_never_lifts_a_normal_ticket_over_a_priority_one() -> None:
    """A counter serves its own customers first among equals, but a priority customer who
    arrived at the same time still goes first (the bonus stays below every offset)."""
    lowest = min(c.offset_s for c in S.classes if c.id != S.normal_class)
    assert all(c.prefer_bonus_s < lowest for c in S.counters)
    wealth = ticket(1, "normal", at=0.0, service="wealth")
    elderly = ticket(2, "elderly", at=0.0, service="cash")
    assert pick(AgingPolicy(S), [wealth, elderly], 600.0, counter("c5")) is elderly
