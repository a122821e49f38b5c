"""The service's scheduled jobs, each isolated: a failure is logged, counted and retried
with backoff, and never stops the other jobs.

`Schedule` is the pure part (which job is due, when it runs next after a success or a
failure), fed instants by an injected clock; `Supervisor` is the asyncio shell that runs
each due job as its own task with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from edge.queue.day import MIDNIGHT, next_day_start

log = logging.getLogger("branch_teller.jobs")

Rule = Callable[[float], float]  # given the instant a run began, when the next one is due


def every(seconds: float) -> Rule:
    """Run again `seconds` after the last run began."""
    return lambda now: now + seconds


def at_day_rollover(timezone: str, rollover: str = MIDNIGHT) -> Rule:
    """Run at each rollover of the branch's business day, the boundary `QueueEngine.day_of` uses."""
    return lambda now: next_day_start(now, timezone, rollover)


@dataclass
class JobState:
    """What staff see of one job in /health."""

    next_run_at: float
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    running: bool = False


@dataclass
class Schedule:
    """Which jobs are due and when each runs next; plain values in, no clock of its own."""

    rules: dict[str, Rule]
    retry_min_s: float = 1.0
    retry_max_s: float = 300.0
    states: dict[str, JobState] = field(default_factory=dict)

    @classmethod
    def starting(cls, rules: dict[str, Rule], now: float, run_at_start: Iterable[str] = (),
                 retry_min_s: float = 1.0, retry_max_s: float = 300.0) -> Schedule:
        """Jobs in `run_at_start` are due at once (a catch-up after a restart); the others
        first run when their rule says."""
        first = set(run_at_start)
        states = {name: JobState(next_run_at=now if name in first else rule(now))
                  for name, rule in rules.items()}
        return cls(rules, retry_min_s, retry_max_s, states)

    def due(self, now: float) -> list[str]:
        """Jobs to start now, marked running (a job never overlaps itself)."""
        names = [n for n, s in self.states.items() if not s.running and s.next_run_at <= now]
        for name in names:
            self.states[name].running = True
        return names

    def succeeded(self, name: str, began: float, now: float) -> None:
        """A run that began at `began` ended well at `now`; the next follows the job's rule."""
        s = self.states[name]
        s.running = False
        s.runs += 1
        s.consecutive_failures = 0
        s.last_success_at = now
        s.next_run_at = max(self.rules[name](began), now)

    def failed(self, name: str, now: float, error: str) -> None:
        """A run failed: retry after a backoff that doubles with each failure in a row."""
        s = self.states[name]
        s.running = False
        s.runs += 1
        s.failures += 1
        s.consecutive_failures += 1
        s.last_failure_at = now
        s.last_error = error
        s.next_run_at = now + self.backoff_s(s.consecutive_failures)

    def backoff_s(self, failures_in_a_row: int) -> float:
        """retry_min_s, doubling per failure in a row, at most retry_max_s."""
        return min(self.retry_max_s, self.retry_min_s * 2.0 ** min(failures_in_a_row - 1, 60))

    def next_wake(self, now: float, longest_s: float) -> float:
        """When something may next be due (at most `longest_s` from now)."""
        waiting = [s.next_run_at for s in self.states.values() if not s.running]
        return min([now + longest_s, *waiting])


@dataclass
class Job:
    """One scheduled job: `action` gets the instant its run began."""

    name: str
    rule: Rule
    action: Callable[[float], Awaitable[object]]
    run_at_start: bool = False


class Supervisor:
    """Runs each due job as its own task, with a timeout; keeps every job's counts."""

    def __init__(self, jobs: Iterable[Job], clock: Callable[[], float] = time.time, *,
                 tick_s: float = 1.0, timeout_s: float = 120.0, retry_min_s: float = 1.0,
                 retry_max_s: float = 300.0,
                 on_result: Callable[[str, bool, float], None] | None = None) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.clock = clock
        self.tick_s = tick_s
        self.timeout_s = timeout_s
        self.on_result = on_result
        self.schedule = Schedule.starting(
            {n: j.rule for n, j in self.jobs.items()}, clock(),
            [n for n, j in self.jobs.items() if j.run_at_start], retry_min_s, retry_max_s)
        self._running: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def start_due(self, now: float | None = None) -> list[asyncio.Task[None]]:
        """Start every job due at `now` (the clock's instant by default) in its own task."""
        began = self.clock() if now is None else now
        tasks = []
        for name in self.schedule.due(began):
            task = asyncio.create_task(self._run(self.jobs[name], began), name=f"job:{name}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            tasks.append(task)
        return tasks

    async def _run(self, job: Job, began: float) -> None:
        try:
            await asyncio.wait_for(job.action(began), self.timeout_s)
        except asyncio.CancelledError:
            self.schedule.states[job.name].running = False
            raise
        except Exception as err:  # isolation: one job's failure is the supervisor's to report
            now = self.clock()
            state = self.schedule.states[job.name]
            error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            repeated = state.consecutive_failures > 0 and state.last_error == error
            self.schedule.failed(job.name, now, error)
            if repeated:  # the traceback was logged when this error first appeared
                log.warning("job %s failed again (%d in a row): %s; retry in %.0f s", job.name,
                            state.consecutive_failures, error, state.next_run_at - now)
            else:
                log.error("job %s failed; retry in %.0f s", job.name, state.next_run_at - now,
                          exc_info=err)
            self._report(job.name, False, now)
            return
        now = self.clock()
        streak = self.schedule.states[job.name].consecutive_failures
        self.schedule.succeeded(job.name, began, now)
        if streak:
            log.info("job %s recovered after %d failures", job.name, streak)
        self._report(job.name, True, now)

    def _report(self, name: str, ok: bool, now: float) -> None:
        if self.on_result is not None:
            self.on_result(name, ok, now)

    async def _forever(self) -> None:
        while True:
            self.start_due()
            now = self.clock()
            await asyncio.sleep(max(0.0, self.schedule.next_wake(now, self.tick_s) - now))

    def start(self) -> None:
        """Begin running jobs as they fall due."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._forever(), name="jobs")

    async def stop(self) -> None:
        """Stop scheduling and cancel runs in progress; safe to call twice."""
        tasks = [t for t in (self._loop, *self._running) if t is not None]
        self._loop = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def health(self) -> dict[str, dict[str, Any]]:
        """Every job's counts, last error and next run, for /health."""
        return {name: asdict(state) for name, state in self.schedule.states.items()}
