"""A FleetStore kept in dicts, with real argon2id secret hashes: the test double the central
server's tests run against until the real store (provisioning/central/store.py, SQLite and
PostgreSQL) is merged; then those tests are parametrized over both. Also a minimal rollout
step (`first_stage_step`), NOT the rollout engine: it only targets the current stage's boxes.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from provisioning.central.fleet import Box, FleetStore, Rollout, RolloutBox
from provisioning.central.wire import BoxReport, DayAggregates

# cheap parameters: tests hash and verify many times on a loaded 2-core box
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class MemoryFleetStore:
    """Everything central keeps, in memory; thread-safe like the real store."""

    def __init__(self, hasher: PasswordHasher = _HASHER) -> None:
        self._hasher = hasher  # benchmarks pass argon2-cffi's defaults (the real cost)
        self._dummy = hasher.hash("no such box")
        self._lock = threading.Lock()
        self._boxes: dict[str, Box] = {}
        self._hashes: dict[str, str] = {}
        self._rollouts: dict[str, Rollout] = {}
        self._rollout_boxes: dict[tuple[str, str], RolloutBox] = {}
        self._days: dict[tuple[str, str], tuple[DayAggregates, float]] = {}
        self.reports: list[BoxReport] = []  # every report recorded, in order (tests look)
        self.closed = False

    def add_box(self, box_id: str, branch: str, tags: list[str]) -> str:
        secret = secrets.token_urlsafe(32)
        with self._lock:
            if box_id in self._boxes:
                raise ValueError(f"box {box_id} exists")
            self._boxes[box_id] = Box(box_id=box_id, branch=branch, cohort_tags=list(tags))
            self._hashes[box_id] = self._hasher.hash(secret)
        return secret

    def rotate_secret(self, box_id: str) -> str:
        secret = secrets.token_urlsafe(32)
        with self._lock:
            if box_id not in self._boxes:
                raise KeyError(box_id)
            self._hashes[box_id] = self._hasher.hash(secret)
        return secret

    def authenticate(self, box_id: str, secret: str) -> bool:
        """False for an unknown or disabled box or a wrong secret (hashing either way)."""
        with self._lock:
            box = self._boxes.get(box_id)
            hashed = self._hashes.get(box_id, self._dummy)
        try:
            ok: bool = self._hasher.verify(hashed, secret)
        except (VerificationError, InvalidHashError):
            ok = False
        return ok and box is not None and box.enabled

    def set_enabled(self, box_id: str, enabled: bool) -> None:
        with self._lock:
            self._boxes[box_id].enabled = enabled

    def boxes(self) -> list[Box]:
        with self._lock:
            return [self._copy(b) for b in self._boxes.values()]

    @staticmethod
    def _copy(box: Box) -> Box:
        return Box(**{f: getattr(box, f) for f in Box.__struct_fields__})

    def record_report(self, report: BoxReport, now: float) -> None:
        with self._lock:
            box = self._boxes[report.box_id]
            box.service_version, box.bundle = report.service_version, report.bundle
            box.components = dict(report.components)
            box.health = {f: getattr(report.health, f) for f in report.health.__struct_fields__}
            box.last_contact = now
            update = report.update
            row = self._rollout_boxes.get((update.rollout, report.box_id)) if update else None
            if update is not None and row is not None:
                row.step, row.reason, row.updated_at = update.step, update.reason, now
            self.reports.append(report)

    def create_rollout(self, rollout: Rollout) -> None:
        with self._lock:
            if rollout.rollout_id in self._rollouts:
                raise ValueError(f"rollout {rollout.rollout_id} exists")
            self._rollouts[rollout.rollout_id] = rollout

    def rollouts(self, include_finished: bool = True) -> list[Rollout]:
        with self._lock:
            return [
                r for r in self._rollouts.values() if include_finished or r.state == "running"
            ]

    def save_rollout(self, rollout: Rollout) -> None:
        with self._lock:
            self._rollouts[rollout.rollout_id] = rollout

    def rollout_boxes(self, rollout_id: str) -> list[RolloutBox]:
        with self._lock:
            return [r for (rid, _), r in self._rollout_boxes.items() if rid == rollout_id]

    def target(self, rollout_id: str, box_ids: list[str], stage: int, now: float) -> None:
        with self._lock:
            for box_id in box_ids:
                self._rollout_boxes[(rollout_id, box_id)] = RolloutBox(
                    rollout_id=rollout_id, box_id=box_id, stage=stage, updated_at=now
                )

    def assignment(self, box_id: str) -> tuple[str, str]:
        """The newest rollout (not cancelled) that targeted this box."""
        with self._lock:
            mine = [
                self._rollouts[rid]
                for (rid, bid) in self._rollout_boxes
                if bid == box_id and self._rollouts[rid].state != "cancelled"
            ]
        if not mine:
            return ("", "")
        newest = max(mine, key=lambda r: r.created_at)
        return (newest.rollout_id, newest.bundle)

    def record_day(self, box_id: str, day: str, aggregates: DayAggregates, now: float) -> None:
        with self._lock:
            self._days[(box_id, day)] = (aggregates, now)

    def days(self, since: str = "", until: str = "") -> list[tuple[str, str, DayAggregates]]:
        with self._lock:
            rows = [
                (box_id, day, agg)
                for (box_id, day), (agg, _) in self._days.items()
                if (not since or day >= since) and (not until or day <= until)
            ]
        return sorted(rows, key=lambda r: (r[1], r[0]))

    def close(self) -> None:
        self.closed = True


def first_stage_step(store: FleetStore, now: float) -> list[tuple[str, str, str]]:
    """A minimal rollout step for server tests: every running rollout targets the enabled
    boxes carrying its current stage's tag (any box when the tag is empty), once."""
    newly: list[tuple[str, str, str]] = []
    boxes = store.boxes()
    for rollout in store.rollouts(include_finished=False):
        stage = rollout.stages[rollout.stage]
        done = {r.box_id for r in store.rollout_boxes(rollout.rollout_id)}
        fresh = [
            b.box_id
            for b in boxes
            if b.enabled and b.box_id not in done and (not stage.tag or stage.tag in b.cohort_tags)
        ]
        if fresh:
            store.target(rollout.rollout_id, fresh, rollout.stage, now)
            newly += [(box_id, rollout.rollout_id, rollout.bundle) for box_id in fresh]
    return newly
