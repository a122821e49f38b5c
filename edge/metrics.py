"""Prometheus metrics of one service: turn latencies by stage, queue operations, devices.

Served on GET /metrics of the service port. No customer data is ever a label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    """One registry per service instance (tests run several services in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, connections: Callable[[], dict[str, int]],
                 refusals: Callable[[], dict[str, dict[str, int]]] | None = None,
                 lanes: Callable[[], Sequence[LaneFigures]] | None = None) -> None:
        self.registry = CollectorRegistry()
        if lanes is not None:
            self.registry.register(_LaneCollector(lanes))
        self.turn_stage = Histogram(
            "branch_teller_turn_stage_seconds",
            "Time from the end of the customer's speech (voice) or the request (text) to a "
            "stage of the turn: stt_final, route, answer, first_audio, turn.",
            ["kind", "stage"], buckets=STAGE_BUCKETS, registry=self.registry)
        self.turns = Counter("branch_teller_turns_total", "Customer turns handled.",
                             ["kind", "intent"], registry=self.registry)
        self.queue_ops = Counter("branch_teller_queue_operations_total",
                                 "Queue operations committed.", ["op"], registry=self.registry)
        self.turn_failures = Counter(
            "branch_teller_turn_failures_total",
            "Customer turns that ended in an error instead of a reply, by error code.",
            ["kind", "code"], registry=self.registry)
        self.barge_ins = Counter("branch_teller_barge_ins_total",
                                 "Replies stopped because the customer spoke over them.",
                                 registry=self.registry)
        self.job_runs = Counter("branch_teller_job_runs_total",
                                "Scheduled job runs (call_resends, idle_reset, retention_purge, "
                                "day_close) by outcome: ok or failed.", ["job", "outcome"],
                                registry=self.registry)
        self.job_last_success = Gauge("branch_teller_job_last_success_timestamp_seconds",
                                      "When each scheduled job last ran without error.", ["job"],
                                      registry=self.registry)
        gauge = Gauge("branch_teller_connected_devices", "Devices connected now.", ["role"],
                      registry=self.registry)
        for role in ("kiosk", "caller", "console"):
            gauge.labels(role).set_function(_count(connections, role))
        if refusals is not None:
            self.registry.register(_RefusalCounts(refusals))

    def observe_turn(self, kind: str, intent: str | None, timings_ms: dict[str, float]) -> None:
        """Record one turn's stage timings (milliseconds)."""
        self.turns.labels(kind, intent or "none").inc()
        for stage, ms in timings_ms.items():
            self.turn_stage.labels(kind, stage).observe(max(ms, 0.0) / 1000)

    def observe_job(self, job: str, ok: bool, at: float) -> None:
        """Count one scheduled job run (the supervisor's `on_result`)."""
        self.job_runs.labels(job, "ok" if ok else "failed").inc()
        if ok:
            self.job_last_success.labels(job).set(at)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def _count(connections: Callable[[], dict[str, int]], role: str) -> Callable[[], float]:
    return lambda: float(connections().get(role, 0))


_REFUSAL_HELP = {"refused": "Connections refused before or at hello, by kind.",
                 "bad_messages": "Bad messages from logged-in devices, by error code.",
                 "faults": "Errors on the service's side while serving devices, by kind."}


class _RefusalCounts(Collector):
    """The device server's counters of refused connections, bad messages and faults, by kind
    (read at scrape time; the server counts them, logging only a summary per source)."""

    def __init__(self, counts: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        counts = self.counts()
        for group, text in _REFUSAL_HELP.items():
            family = CounterMetricFamily(f"branch_teller_device_{group}", text, labels=["kind"])
            for kind, n in sorted(counts.get(group, {}).items()):
                family.add_metric([kind], n)
            yield family


class LaneFigures(Protocol):
    """What /metrics reads of an executor lane (edge.lanes.LaneSnapshot)."""

    @property
    def name(self) -> str: ...
    @property
    def queued(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def submitted(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def late(self) -> int: ...
    @property
    def wait_s_total(self) -> float: ...


class _LaneCollector:
    """Executor lane figures, read when /metrics is scraped."""

    def __init__(self, lanes: Callable[[], Sequence[LaneFigures]]) -> None:
        self.lanes = lanes

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("branch_teller_lane_jobs", "Jobs on an executor lane now.",
                                 labels=["lane", "state"])
        submitted = CounterMetricFamily("branch_teller_lane_submitted",
                                        "Jobs accepted by an executor lane.", labels=["lane"])
        busy = CounterMetricFamily("branch_teller_lane_busy", "Jobs an executor lane refused: "
                                   "queue full, or not started within its max wait.",
                                   labels=["lane", "why"])
        wait = CounterMetricFamily("branch_teller_lane_wait_seconds",
                                   "Time jobs spent queued before a worker took them.",
                                   labels=["lane"])
        for lane in self.lanes():
            jobs.add_metric([lane.name, "queued"], lane.queued)
            jobs.add_metric([lane.name, "running"], lane.running)
            submitted.add_metric([lane.name], lane.submitted)
            busy.add_metric([lane.name, "full"], lane.refused)
            busy.add_metric([lane.name, "late"], lane.late)
            wait.add_metric([lane.name], lane.wait_s_total)
        yield from (jobs, submitted, busy, wait)
