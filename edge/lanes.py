"""Executor lanes by latency class, so a ten-second answer never stalls another kiosk's speech.

One shared pool used to run everything from per-frame VAD to first-run indexing. Each lane is
now a bounded thread pool of its own: a job waits in order behind at most `max_queue` others,
or is refused at once with `LaneBusy` (the busy signal, as `SttBusy` is for speech
recognition, which keeps its own pool). A lane with `max_wait_s` also gives up on a job that
could not start in time, so a caller hears "busy" instead of waiting behind a long answer.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from edge.lane_settings import LaneSettings, LanesSettings

T = TypeVar("T")
LaneName = Literal["vad_route", "tts", "answers", "indexing"]
LANE_NAMES: Final[tuple[LaneName, ...]] = ("vad_route", "tts", "answers", "indexing")


class LaneBusy(RuntimeError):
    """A lane refused a job: its queue is full, or the job could not start within max_wait_s."""

    def __init__(self, lane: str, why: Literal["full", "late"]) -> None:
        super().__init__(f"the {lane} lane is busy ({why})")
        self.lane = lane
        self.why = why


@dataclass(frozen=True, slots=True)
class LaneSnapshot:
    """One lane's figures for /health and /metrics (counts since start)."""

    name: str
    workers: int
    max_queue: int
    queued: int
    running: int
    submitted: int
    completed: int
    refused: int  # LaneBusy "full": the queue was full
    late: int  # LaneBusy "late": waited longer than max_wait_s
    wait_s_total: float
    wait_s_max: float

    def as_dict(self) -> dict[str, Any]:
        """The /health view: counts and the mean and longest queue wait in ms."""
        started = self.completed + self.running
        return {"workers": self.workers, "max_queue": self.max_queue, "queued": self.queued,
                "running": self.running, "submitted": self.submitted,
                "completed": self.completed, "refused": self.refused, "late": self.late,
                "wait_ms_mean": round(self.wait_s_total / started * 1000, 2) if started else 0.0,
                "wait_ms_max": round(self.wait_s_max * 1000, 2)}


class Lane(Executor):
    """A bounded thread pool; an Executor, so `loop.run_in_executor(lane, ...)` works as is."""

    def __init__(self, name: str, settings: LaneSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.workers = settings.workers
        self.max_queue = settings.max_queue
        self.max_wait_s = settings.max_wait_s
        self._clock = clock
        self.nice = settings.nice
        self._pool = ThreadPoolExecutor(max_workers=settings.workers,
                                        thread_name_prefix=f"lane-{name}",
                                        initializer=_renice, initargs=(settings.nice,))
        self._lock = threading.Lock()
        self._inflight = 0  # submitted and not finished (queued + running)
        self._running = 0
        self._submitted = self._completed = self._refused = self._late = 0
        self._wait_total = self._wait_max = 0.0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue a job, or raise LaneBusy at once when `max_queue` jobs already wait."""
        with self._lock:
            if self._inflight >= self.workers + self.max_queue:
                self._refused += 1
                raise LaneBusy(self.name, "full")
            self._inflight += 1
            self._submitted += 1
        try:
            job = self._pool.submit(self._job, self._clock(), fn, args, kwargs)
        except BaseException:
            with self._lock:
                self._inflight -= 1
            raise
        # The slot frees when the job ends or is cancelled before it started, never earlier.
        job.add_done_callback(self._release)
        return job

    async def run(self, fn: Callable[..., T], *args: Any, max_wait_s: float | None = None) -> T:
        """Run `fn(*args)` on the lane; LaneBusy if full, or if it cannot start within
        `max_wait_s` (default: the lane's own; 0: wait as long as it takes)."""
        limit = self.max_wait_s if max_wait_s is None else max_wait_s
        job = self.submit(fn, *args)
        waiting = asyncio.wrap_future(job)
        if limit > 0:
            await asyncio.wait([waiting], timeout=limit)
            if not waiting.done() and job.cancel():  # cancel() fails once it has started
                with self._lock:
                    self._late += 1
                raise LaneBusy(self.name, "late")
        return await waiting

    def _job(self, queued_at: float, fn: Callable[..., T], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> T:
        waited = self._clock() - queued_at
        with self._lock:
            self._running += 1
            self._wait_total += waited
            self._wait_max = max(self._wait_max, waited)
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._running -= 1
                self._completed += 1

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._inflight -= 1

    def snapshot(self) -> LaneSnapshot:
        with self._lock:
            return LaneSnapshot(self.name, self.workers, self.max_queue,
                                self._inflight - self._running, self._running, self._submitted,
                                self._completed, self._refused, self._late, self._wait_total,
                                self._wait_max)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking jobs; with `cancel_futures` the queued ones are dropped (shutdown)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _renice(nice: int) -> None:
    """Lower this worker thread's priority; threads it starts later inherit it (Linux)."""
    if nice > 0 and hasattr(os, "setpriority"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        except OSError:  # not permitted here: the lane still works, at normal priority
            pass


async def run_on(executor: Executor, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on a lane (its own wait limit applies) or on any other executor."""
    if isinstance(executor, Lane):
        return await executor.run(fn, *args)
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


Probe = Callable[[], LaneSnapshot]


class Lanes:
    """The service's lanes, by latency class; `enabled = false` puts every class but synthesis
    on one shared 2-thread pool with no bound (the old behaviour, kept for benchmarks)."""

    def __init__(self, settings: LanesSettings) -> None:
        self.settings = settings
        if settings.enabled:
            self.vad_route = Lane("vad_route", settings.vad_route)
            self.answers = Lane("answers", settings.answers)
            self.indexing = Lane("indexing", settings.indexing)
        else:
            shared = Lane("shared", LaneSettings(workers=2, max_queue=1_000_000))
            self.vad_route = self.answers = self.indexing = shared
        self.tts = Lane("tts", settings.tts)
        self._probes: dict[str, Probe] = {}

    def __getitem__(self, name: LaneName) -> Lane:
        lane: Lane = getattr(self, name)
        return lane

    def watch(self, name: str, probe: Probe) -> None:
        """Report a pool the lanes do not own (speech recognition's) beside them."""
        self._probes[name] = probe

    def snapshots(self) -> list[LaneSnapshot]:
        """Every distinct lane, then the watched pools."""
        seen: dict[int, Lane] = {}
        for name in LANE_NAMES:
            seen.setdefault(id(self[name]), self[name])
        return [lane.snapshot() for lane in seen.values()] + [p() for p in self._probes.values()]

    def health(self) -> Mapping[str, Any]:
        return {s.name: s.as_dict() for s in self.snapshots()}

    def shutdown(self) -> None:
        """Drop queued work and let running jobs finish on their own (they check a stop event)."""
        for name in LANE_NAMES:
            self[name].shutdown(wait=False, cancel_futures=True)
