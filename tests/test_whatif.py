"""What-if staffing: the pure simulation (exact on deterministic cases), the forecast, the CLI."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import msgspec
import pytest

from bench.whatif_bench import clock_at, history, live_engine, record_day, shift
from edge.cli import main as cli_main
from edge.queue import QueueEngine, QueueSettings
from edge.queue.forecast import arrival_rates, same_weekday_days, service_times, situation
from edge.queue.model import Event, Ticket
from edge.queue.priority import make_policy
from edge.queue.settings import WhatIfSettings
from edge.queue.staffing import Change, ChangeError, parse_changes
from edge.queue.whatif import Situation, blank_situation, what_if
from edge.store import Store

NOW = 1_764_036_000.0  # 2025-11-25 10:00 in Shanghai


def _settings(**what_if_kw: object) -> QueueSettings:
    return msgspec.structs.replace(
        QueueSettings(), what_if=msgspec.structs.replace(WhatIfSettings(), **what_if_kw))


def _waiting(n: int, service: str = "personal", cls: str = "normal", waited: float = 0.0
             ) -> list[Ticket]:
    return [Ticket(id=f"t{i}", number=f"A{i:03d}", day="2025-11-25", seq=i, service=service,
                   cls=cls, arrival_at=NOW - waited, rank_at=NOW - waited) for i in range(n)]


def _exact(settings: QueueSettings, waiting: list[Ticket], open_: set[str]) -> Situation:
    """No arrivals, every service exactly 300 s: the simulation can be worked out by hand."""
    s = blank_situation(settings, NOW)
    return msgspec.structs.replace(
        s, waiting=waiting, open={c.id: c.id in open_ for c in settings.counters},
        service_mean_s=dict.fromkeys(s.service_mean_s, 300.0),
        service_cv=dict.fromkeys(s.service_cv, 0.0))


# ---------------------------------------------------------------- changes


def test_changes_parse_and_name_only_what_exists() -> None:
    s = QueueSettings()
    got = parse_changes("open c1; serve c3 wealth,loan ; prefer c4 vip; break c2 20; close c6", s)
    assert [c.text for c in got] == ["open c1", "serve c3 wealth,loan", "prefer c4 vip",
                                     "break c2 20", "close c6"]
    assert got[1] == Change(kind="serve", counter="c3", names=("wealth", "loan"))
    for bad in ("", "hire c9", "open c9", "serve c3 gold", "break c2", "break c2 soon",
                "open c1 now", "prefer c4"):
        with pytest.raises(ChangeError):
            parse_changes(bad, s)


def test_a_change_that_changes_nothing_is_refused() -> None:
    s = QueueSettings()
    here = _exact(s, _waiting(1), {"c1"})
    for text in ("open c1", "close c2", "break c3 10", "serve c1 cash", "prefer c5 vip"):
        with pytest.raises(ChangeError):
            what_if(s, make_policy("aging", s), here, parse_changes(text, s), horizon_min=30,
                    seed=1)


# ---------------------------------------------------------------- the simulation, exactly


def test_one_counter_serves_the_line_in_turn_and_the_queue_empties_when_the_last_is_called(
) -> None:
    s = _settings(suggest=False)
    here = _exact(s, _waiting(3, waited=60.0), {"c1"})
    c = what_if(s, make_policy("aging", s), here, parse_changes("open c2", s), horizon_min=30,
                seed=1, replications=2)
    personal = {g.key: g for g in c.base.services}["personal"]
    assert personal.customers == 3
    assert (personal.p50_s, personal.p90_s) == (360.0, 660.0)  # waited 60, then 0 / 300 / 600
    assert c.base.empty_at_s == 600.0
    assert c.changed is not None
    both = {g.key: g for g in c.changed.services}["personal"]
    assert (both.p50_s, both.p90_s) == (60.0, 360.0)  # two counters: 0, 0, 300
    assert c.changed.empty_at_s == 300.0
    assert c.changed.changes == ["open c2"]


def test_break_and_service_in_progress_delay_the_line() -> None:
    s = _settings(suggest=False)
    here = msgspec.structs.replace(_exact(s, _waiting(1), {"c1"}),
                                   in_service={"c1": ("personal", 100.0)})
    c = what_if(s, make_policy("aging", s), here, parse_changes("break c1 10", s),
                horizon_min=30, seed=1, replications=1)
    # The customer at c1 has 200 s left (300 exactly, 100 served); the break follows it.
    assert {g.key: g.p50_s for g in c.base.services} == {"personal": 200.0}
    assert c.changed is not None
    assert {g.key: g.p50_s for g in c.changed.services} == {"personal": 800.0}


def test_serving_another_service_reaches_customers_nobody_served() -> None:
    s = _settings(suggest=False)
    here = _exact(s, _waiting(2, service="corporate", cls="vip"), {"c1"})
    c = what_if(s, make_policy("aging", s), here, parse_changes("serve c1 corporate", s),
                horizon_min=30, seed=1, replications=1)
    base = {g.key: g for g in c.base.classes}["vip"]
    assert base.unserved == 2 and base.within_target == 0.0  # c1 does not serve corporate
    assert c.base.empty_at_s is None
    assert c.changed is not None
    fixed = {g.key: g for g in c.changed.classes}["vip"]
    assert (fixed.unserved, fixed.p50_s, fixed.p90_s) == (0, 0.0, 300.0)
    assert fixed.within_target == 1.0


def test_a_suggestion_brings_a_late_class_back_within_target() -> None:
    s = QueueSettings()
    here = _exact(s, _waiting(3, service="corporate", cls="vip", waited=0.0), {"c1", "c6"})
    c = what_if(s, make_policy("aging", s), here, [], horizon_min=30, seed=1, replications=2)
    assert c.late_classes == ["vip"]  # one corporate counter: 0 / 300 / 600 s, target 300
    assert c.suggestion is not None
    assert c.suggestion.fixes == ["vip"]
    assert c.suggestion.change.startswith(("open", "serve c1"))
    assert "vip" in c.suggestion.text
    assert _settings(suggest=False).what_if.suggest is False
    quiet = what_if(_settings(suggest=False), make_policy("aging", s), here, [],
                    horizon_min=30, seed=1, replications=2)
    assert quiet.suggestion is None and quiet.late_classes == ["vip"]


# ---------------------------------------------------------------- a real branch day


@pytest.fixture(scope="module")
def day() -> list[Event]:
    return record_day(2026, QueueSettings())


def test_what_if_on_a_simulated_lunchtime_is_seeded_and_fast(day: list[Event]
                                                             ) -> None:
    s = QueueSettings()
    now = clock_at("11:40")
    engine = live_engine(day, s, now)
    here = situation(engine, now, history(s), 3600.0)
    assert here.waiting and here.in_service and here.arrivals_per_h
    change = parse_changes("serve c3 wealth", s)
    t0 = time.perf_counter()
    a = what_if(s, engine.policy, here, change, horizon_min=60, seed=7)
    elapsed = time.perf_counter() - t0
    b = what_if(s, engine.policy, here, change, horizon_min=60, seed=7)
    other = what_if(s, engine.policy, here, change, horizon_min=60, seed=8)
    assert msgspec.to_builtins(a) == msgspec.to_builtins(b)
    assert msgspec.to_builtins(a.base) != msgspec.to_builtins(other.base)
    assert elapsed < 3.0  # ~0.3 s on a loaded two-core box; bench/whatif_bench.py measures
    assert a.changed is not None
    vip_now = {g.key: g for g in a.base.classes}["vip"]
    vip_then = {g.key: g for g in a.changed.classes}["vip"]
    assert (vip_then.p90_s or 0) < (vip_now.p90_s or 0)  # a third counter for wealth helps


# ---------------------------------------------------------------- the forecast


def test_same_weekday_days_are_the_last_few_of_that_weekday() -> None:
    days = ["2026-10-28", "2026-11-04", "2026-11-10", "2026-11-11", "2026-11-18", "2026-11-25"]
    assert same_weekday_days(days, "2026-11-25", 2) == ["2026-11-18", "2026-11-11"]
    assert same_weekday_days(days, "2026-11-25", 9) == ["2026-11-18", "2026-11-11",
                                                         "2026-11-04", "2026-10-28"]


def test_service_times_start_from_configuration_and_learn() -> None:
    s = QueueSettings()
    means, cvs = service_times([], s)
    assert means["cash"] == 240.0 and cvs["cash"] == pytest.approx(0.5)
    done = []
    for i in range(45):
        t = Ticket(id=f"x{i}", number="B1", day="d", seq=i, service="cash", cls="normal",
                   arrival_at=0.0, rank_at=0.0)
        t.state, t.started_at, t.finished_at = t.state.DONE, 0.0, 120.0
        done.append(t)
    means, cvs = service_times(done, s)
    assert means["cash"] == pytest.approx((45 * 120 + 5 * 240) / 50)
    assert cvs["cash"] < 0.5


def test_arrival_forecast_blends_today_with_the_same_weekday() -> None:
    s = QueueSettings()
    engine = live_engine(record_day(2026, s), s, clock_at("11:00"))
    today = engine.tickets()
    own = arrival_rates(today, [], clock_at("11:00"), 3600.0, s)
    total_own = sum(r for per in own.values() for r in per.values())
    since = clock_at("11:00") - min(t.arrival_at for t in today)  # about two hours
    assert total_own == pytest.approx(len(today) * 3600.0 / since)
    lunch = arrival_rates(today, history(s), clock_at("11:00"), 3600.0, s)
    total = sum(r for per in lunch.values() for r in per.values())
    assert total > total_own  # the history knows the lunch peak starts at 11:30
    assert set(lunch) >= set(own)


# ---------------------------------------------------------------- the command line


async def _write_db(path: Path, events: list[Event]) -> None:
    store = await Store.open(path)
    try:
        engine = QueueEngine(QueueSettings(), time.time)
        by_day: dict[str, list[Event]] = {}
        for e in events:  # grouped by business day as the service stores them
            by_day.setdefault(engine.day_of(e.at), []).append(e)
        for day, rows in by_day.items():
            await store.append_events(day, rows)
    finally:
        await store.close()


def test_cli_prints_the_comparison_and_audits_the_seed(
        tmp_path: Path, day: list[Event], capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "branch.db"
    past = [e for w in (1, 2) for e in shift(record_day(100 + w, QueueSettings()), w)]
    asyncio.run(_write_db(db, [*past, *day]))
    argv = ["queue", "what-if", "serve", "c3", "wealth", "--db", str(db), "--at",
            "2026-11-25T11:40", "--seed", "5", "--replications", "6"]
    assert cli_main(argv) == 0
    first = capsys.readouterr().out
    assert "What if: serve c3 wealth (next 60 min, 6 runs, seed 5)" in first
    for word in ("service", "class", "personal", "vip", "p90'", "queue empties"):
        assert word in first
    assert cli_main(argv) == 0
    assert capsys.readouterr().out == first  # the seed reproduces the run
    assert cli_main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["seed"] == 5 and doc["changed"]["changes"] == ["serve c3 wealth"]

    async def audit() -> list[dict[str, object]]:
        store = await Store.open(db)
        try:
            return await store.audit_rows()
        finally:
            await store.close()

    rows = asyncio.run(audit())
    assert rows[0]["action"] == "what_if" and rows[0]["actor"] == "cli"
    detail = json.loads(str(rows[0]["detail"]))
    assert detail["seed"] == 5 and detail["change"] == "serve c3 wealth"
    assert detail["at"] == clock_at("11:40")


def test_cli_refuses_a_bad_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["queue", "what-if", "hire", "c9", "--db", str(tmp_path / "x.db")]) == 2
    assert "open, close, serve, prefer or break" in capsys.readouterr().err


def test_settings_refuse_what_cannot_be_simulated() -> None:
    from edge.queue.settings import validate_settings

    validate_settings(QueueSettings())
    for bad in ({"horizon_min": 0}, {"horizon_min": 200}, {"replications": 0},
                {"prior_services": 0.0}, {"min_rate_window_s": 0.0}):
        with pytest.raises(ValueError, match="what_if"):
            validate_settings(_settings(**bad))
    with pytest.raises(ValueError, match="estimate_"):
        validate_settings(msgspec.structs.replace(QueueSettings(), estimate_band_inflation=0.0))
