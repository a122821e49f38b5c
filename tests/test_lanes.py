"""Executor lanes: bounded queues, the busy signal, order, shutdown, and the service's wiring."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.lane_settings import AnswersLane, LaneSettings, LanesSettings
from edge.lanes import Lane, LaneBusy, Lanes, run_on
from edge.metrics import Metrics
from edge.service import Service
from tests.conftest import make_config
from tests.wsclient import login

WAIT = 5.0  # every wait on a worker thread is bounded


class Gate:
    """A job that blocks its worker until the test opens the gate."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.open = threading.Event()

    def __call__(self, value: int = 0) -> int:
        self.started.set()
        assert self.open.wait(WAIT), "the test never opened the gate"
        return value


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.open.set()  # never leave a worker blocked, whatever the test did


def lane(workers: int = 1, max_queue: int = 2, max_wait_s: float = 0.0) -> Lane:
    return Lane("test", LaneSettings(workers=workers, max_queue=max_queue,
                                     max_wait_s=max_wait_s))


def test_a_full_queue_refuses_at_once_and_frees_when_work_ends(gate: Gate) -> None:
    one = lane(workers=1, max_queue=2)
    running = one.submit(gate, 1)
    assert gate.started.wait(WAIT)
    queued = [one.submit(lambda n=n: n) for n in (2, 3)]
    with pytest.raises(LaneBusy) as refused:
        one.submit(lambda: 4)
    assert refused.value.why == "full" and refused.value.lane == "test"
    snap = one.snapshot()
    assert (snap.running, snap.queued, snap.submitted, snap.refused) == (1, 2, 3, 1)
    gate.open.set()
    assert [f.result(WAIT) for f in [running, *queued]] == [1, 2, 3]
    assert one.submit(lambda: 5).result(WAIT) == 5  # room again
    snap = one.snapshot()
    assert (snap.running, snap.queued, snap.completed) == (0, 0, 4)
    assert snap.wait_s_max > 0  # the queued jobs waited for the blocked worker
    one.shutdown()


def test_jobs_run_in_the_order_they_were_submitted(gate: Gate) -> None:
    one = lane(workers=1, max_queue=10)
    order: list[int] = []
    one.submit(gate)
    assert gate.started.wait(WAIT)
    jobs = [one.submit(order.append, n) for n in range(8)]
    gate.open.set()
    for job in jobs:
        job.result(WAIT)
    assert order == list(range(8))
    one.shutdown()


def test_shutdown_cancels_queued_work_and_lets_the_running_job_finish(gate: Gate) -> None:
    one = lane(workers=1, max_queue=4)
    running = one.submit(gate, 7)
    assert gate.started.wait(WAIT)
    queued = [one.submit(lambda: 0) for _ in range(3)]
    one.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    gate.open.set()
    assert running.result(WAIT) == 7
    assert one.snapshot().queued == 0  # cancelled jobs give their slots back
    with pytest.raises(RuntimeError):
        one.submit(lambda: 1)


async def test_a_job_that_cannot_start_in_time_is_refused_as_late(gate: Gate) -> None:
    one = lane(workers=1, max_queue=2, max_wait_s=0.2)
    blocked = asyncio.ensure_future(one.run(gate, 1, max_wait_s=0))
    assert await asyncio.to_thread(gate.started.wait, WAIT)
    ran = threading.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LaneBusy) as late:
        await asyncio.wait_for(one.run(ran.set), WAIT)
    assert late.value.why == "late"
    assert 0.15 < loop.time() - started < 2.0  # told at its max wait, not after the blocker
    gate.open.set()
    assert await asyncio.wait_for(blocked, WAIT) == 1
    assert not ran.is_set()  # the late job never ran
    snap = one.snapshot()
    assert (snap.late, snap.queued, snap.running) == (1, 0, 0)
    one.shutdown()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread priority here")
def test_a_background_lane_runs_its_jobs_and_their_threads_at_lower_priority() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    one = Lane("bg", LaneSettings(workers=1, nice=5))

    def own_and_child() -> tuple[int, int]:
        child: list[int] = []
        t = threading.Thread(  # as a model runtime starts its pool while loading
            target=lambda: child.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        t.start()
        t.join(WAIT)
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), child[0]

    expected = min(base + 5, 19)
    assert one.submit(own_and_child).result(WAIT) == (expected, expected)
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the service's own threads unchanged
    one.shutdown()


async def test_run_on_uses_the_lane_limit_and_any_other_executor() -> None:
    one = lane()
    assert await run_on(one, lambda a, b: a + b, 2, 3) == 5
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as plain:
        assert await run_on(plain, lambda a: a * 2, 21) == 42
    one.shutdown()


def test_disabled_lanes_share_one_pool_but_synthesis_keeps_its_own() -> None:
    on = Lanes(LanesSettings())
    assert len({id(on[n]) for n in ("vad_route", "tts", "answers", "indexing")}) == 4
    assert on.answers.workers == 1 and on.answers.max_wait_s > 0
    off = Lanes(LanesSettings(enabled=False))
    assert off.vad_route is off.answers is off.indexing
    assert off.tts is not off.answers
    assert [s.name for s in off.snapshots()] == ["shared", "tts"]
    on.shutdown()
    off.shutdown()


def test_metrics_show_each_lanes_jobs_and_refusals(gate: Gate) -> None:
    lanes = Lanes(LanesSettings(answers=AnswersLane(workers=1, max_queue=0)))
    metrics = Metrics(lambda: {}, lanes=lanes.snapshots)
    lanes.answers.submit(gate)
    assert gate.started.wait(WAIT)
    with pytest.raises(LaneBusy):
        lanes.answers.submit(lambda: None)
    text = metrics.render().decode()
    assert 'branch_teller_lane_jobs{lane="answers",state="running"} 1.0' in text
    assert 'branch_teller_lane_busy_total{lane="answers",why="full"} 1.0' in text
    assert 'branch_teller_lane_jobs{lane="vad_route",state="running"} 0.0' in text
    health = lanes.health()
    assert health["answers"]["refused"] == 1 and health["answers"]["running"] == 1
    gate.open.set()
    lanes.shutdown()


async def test_a_busy_routing_lane_tells_the_kiosk_instead_of_hanging(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"lanes.vad_route.max_queue": 0})
    service = Service(cfg)
    host, port = await service.start()
    gate = Gate()
    try:
        blocker = service.lanes.vad_route.submit(gate)  # the only worker taken, no queue
        assert await asyncio.to_thread(gate.started.wait, WAIT)
        kiosk = await login(f"ws://{host}:{port}", "kiosk-1")
        await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我要取钱"}))
        while (msg := json.loads(await asyncio.wait_for(kiosk.recv(), 20)))["type"] not in (
                "error", "reply"):
            pass  # a queue update may come first
        assert (msg["type"], msg.get("code"), msg.get("ref")) == ("error", "busy", "t1")
        gate.open.set()
        await asyncio.wait_for(asyncio.wrap_future(blocker), WAIT)  # the worker is free again
        await kiosk.send(json.dumps({"type": "text", "id": "t2", "text": "我要取钱"}))
        while (msg := json.loads(await asyncio.wait_for(kiosk.recv(), 20)))["type"] != "reply":
            pass
        assert msg["id"] == "t2"
        assert service.health().lanes["vad_route"].refused == 1
        await kiosk.close()
    finally:
        gate.open.set()
        await service.stop()


async def test_a_question_waiting_behind_another_answer_gets_the_fallback(
        tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"lanes.answers.max_wait_s": 0.3})
    service = Service(cfg)
    host, port = await service.start()
    gate = Gate()
    try:
        await asyncio.wait_for(service.hub_ready.wait(), 60)
        service.lanes.answers.submit(gate)  # another kiosk's answer holds the model
        assert await asyncio.to_thread(gate.started.wait, WAIT)
        kiosk = await login(f"ws://{host}:{port}", "kiosk-2")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await kiosk.send(json.dumps({"type": "text", "id": "q",
                                     "text": "How much does a wire transfer cost?"}))
        while (msg := json.loads(await asyncio.wait_for(kiosk.recv(), 20)))["type"] != "reply":
            pass
        assert loop.time() - started < 3.0  # not held until the other answer ends
        assert msg["sources"] == []  # the policy's fallback, not a grounded answer
        assert service.health().lanes["answers"].late == 1
        await kiosk.close()
    finally:
        gate.open.set()
        await service.stop()


def test_a_lane_without_workers_is_a_config_error() -> None:
    from edge.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"lanes\.answers"):
        load_config(None, {"lanes.answers.workers": 0})
    partial = load_config(None, {"lanes.answers.max_wait_s": 0.5}).lanes.answers
    assert (partial.workers, partial.max_queue, partial.max_wait_s) == (1, 2, 0.5)
