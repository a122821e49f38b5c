"""Scheduled jobs: the pure schedule with plain instants, the supervisor with an injected clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.jobs import Job, Schedule, Supervisor, at_day_rollover, every
from edge.queue.day import day_start, next_day_start

T0 = 1_764_036_000.0  # 2025-11-25 10:00 in Shanghai


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_interval_jobs_fall_due_by_their_rule_and_never_overlap() -> None:
    s = Schedule.starting({"resend": every(1.0), "purge": every(3600.0)}, T0, ["purge"])
    assert s.due(T0) == ["purge"]  # run at start; resend waits for its first interval
    assert s.due(T0) == []  # purge is still running: not due twice
    assert s.due(T0 + 1.0) == ["resend"]
    s.succeeded("resend", T0 + 1.0, T0 + 1.2)
    s.succeeded("purge", T0, T0 + 0.5)
    assert s.states["resend"].next_run_at == T0 + 2.0
    assert s.states["purge"].next_run_at == T0 + 3600.0
    assert s.next_wake(T0 + 1.5, 10.0) == T0 + 2.0
    assert s.next_wake(T0 + 1.5, 0.25) == T0 + 1.75


def test_a_failed_job_backs_off_doubling_up_to_the_limit_then_resumes_its_rule() -> None:
    s = Schedule.starting({"close": every(86_400.0)}, T0, ["close"], retry_min_s=2.0,
                          retry_max_s=10.0)
    retries = []
    now = T0
    for _ in range(5):
        assert s.due(now) == ["close"]
        s.failed("close", now, "StoreError: disk full")
        retries.append(s.states["close"].next_run_at - now)
        now = s.states["close"].next_run_at
    assert retries == [2.0, 4.0, 8.0, 10.0, 10.0]
    state = s.states["close"]
    assert (state.failures, state.consecutive_failures, state.runs) == (5, 5, 5)
    assert state.last_error == "StoreError: disk full" and state.last_failure_at == T0 + 24.0
    assert s.due(now) == ["close"]
    s.succeeded("close", now, now + 1.0)
    assert state.consecutive_failures == 0 and state.failures == 5
    assert state.last_success_at == now + 1.0 and state.next_run_at == now + 86_400.0


def test_day_rollover_is_local_midnight_of_the_branch() -> None:
    shanghai = next_day_start(T0, "Asia/Shanghai")
    assert datetime.fromtimestamp(shanghai, ZoneInfo("Asia/Shanghai")).isoformat() == (
        "2025-11-26T00:00:00+08:00")
    assert shanghai == day_start("2025-11-26", "Asia/Shanghai")
    # 23:30 UTC on the 25th is already the 26th in Shanghai: the next rollover is the 27th's
    late = datetime(2025, 11, 25, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert next_day_start(late, "Asia/Shanghai") == day_start("2025-11-27", "Asia/Shanghai")
    assert next_day_start(late, "UTC") == day_start("2025-11-26", "UTC")
    # the day clocks go back in New York lasts 25 hours; the rule follows the wall clock
    fall_back = day_start("2025-11-02", "America/New_York")
    assert next_day_start(fall_back, "America/New_York") - fall_back == 25 * 3600
    assert at_day_rollover("Asia/Shanghai")(shanghai) == shanghai + 86_400


async def test_a_failing_job_is_counted_retried_and_never_stops_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(T0)
    ran: list[tuple[str, float]] = []
    results: list[tuple[str, bool]] = []
    broken = True

    async def purge(now: float) -> None:
        ran.append(("purge", now))
        if broken:
            raise OSError("disk I/O error")

    async def resend(now: float) -> None:
        ran.append(("resend", now))

    sup = Supervisor([Job("purge", every(3600.0), purge, run_at_start=True),
                      Job("resend", every(1.0), resend)], clock, retry_min_s=5.0,
                     on_result=lambda name, ok, at: results.append((name, ok)))
    caplog.set_level(logging.INFO, logger="branch_teller.jobs")
    for step in range(12):
        clock.now = T0 + step
        await asyncio.gather(*sup.start_due())
    assert [t for name, t in ran if name == "resend"] == [T0 + s for s in range(1, 12)]
    # failures at 0, 5 (backoff 5 s), then 15 (10 s): the purge never ran in between
    assert [t for name, t in ran if name == "purge"] == [T0, T0 + 5]
    jobs = sup.health()
    assert jobs["purge"]["failures"] == 2 and jobs["purge"]["last_error"] == (
        "OSError: disk I/O error")
    assert jobs["purge"]["next_run_at"] == T0 + 15 and jobs["purge"]["last_success_at"] is None
    assert jobs["resend"]["failures"] == 0 and jobs["resend"]["runs"] == 11
    assert results.count(("purge", False)) == 2 and ("purge", True) not in results
    # one traceback for the failure, one line (no traceback) for the same failure again
    records = [r for r in caplog.records if "purge" in r.getMessage()]
    assert [r.levelno for r in records] == [logging.ERROR, logging.WARNING]
    assert records[0].exc_info is not None and records[1].exc_info is None

    broken = False
    clock.now = T0 + 15
    await asyncio.gather(*sup.start_due())
    jobs = sup.health()
    assert jobs["purge"]["consecutive_failures"] == 0 and jobs["purge"]["last_success_at"] == (
        T0 + 15)
    assert jobs["purge"]["next_run_at"] == T0 + 15 + 3600
    assert "recovered after 2 failures" in caplog.records[-1].getMessage()


async def test_a_hanging_job_times_out_and_the_others_keep_their_beat() -> None:
    clock = Clock(T0)
    ticks: list[float] = []
    never = asyncio.Event()

    async def hang(now: float) -> None:
        await never.wait()

    async def tick(now: float) -> None:
        ticks.append(now)

    sup = Supervisor([Job("close", every(60.0), hang, run_at_start=True),
                      Job("tick", every(1.0), tick, run_at_start=True)], clock, timeout_s=0.05)
    hung, first_tick = sup.start_due()
    await first_tick
    clock.now = T0 + 1
    await asyncio.gather(*sup.start_due())  # the hung job does not hold the others up
    assert ticks == [T0, T0 + 1] and not hung.done()
    await asyncio.wait_for(hung, 5)
    assert sup.health()["close"]["last_error"] == "TimeoutError"
    await sup.stop()


async def test_stop_cancels_runs_in_progress() -> None:
    started = asyncio.Event()

    async def slow(now: float) -> None:
        started.set()
        await asyncio.sleep(3600)

    sup = Supervisor([Job("slow", every(1.0), slow, run_at_start=True)], tick_s=0.01)
    sup.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(sup.stop(), 5)
    assert sup.health()["slow"]["running"] is False and sup.health()["slow"]["failures"] == 0
