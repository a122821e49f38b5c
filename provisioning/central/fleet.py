"""The fleet store's interface: what `central serve`, `central rollout`, `central status` and
`central report` need from it. `provisioning/central/store.py` implements it once over SQLite
(the embedded default) and PostgreSQL (a real fleet), with the same SQL.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from provisioning.central.wire import BoxReport, BoxStep, DayAggregates

RolloutState = Literal["running", "halted", "completed", "cancelled"]


class Box(msgspec.Struct, kw_only=True):
    box_id: str
    branch: str = ""  # a human name ("Shanghai Pudong 012")
    cohort_tags: list[str] = msgspec.field(default_factory=list)  # e.g. ["pilot"]
    service_version: str = ""
    bundle: str = ""  # active bundle ("factory", "b7", or "" before its first report)
    components: dict[str, int] = msgspec.field(default_factory=dict)
    health: dict[str, object] = msgspec.field(default_factory=dict)  # BoxHealth as a dict
    last_contact: float | None = None  # central's clock
    enabled: bool = True


class Stage(msgspec.Struct, kw_only=True):
    """One cohort of a rollout: boxes with a tag, a count, or a share of the fleet."""

    name: str  # "pilot", "20%", "all"
    tag: str = ""  # boxes carrying this cohort tag ...
    count: int = 0  # ... or this many more boxes ...
    share: float = 0.0  # ... or up to this share of the fleet (1.0 = all)


class Rollout(msgspec.Struct, kw_only=True):
    rollout_id: str
    bundle: str  # bundle index name published in the TUF repository
    stages: list[Stage]
    soak_s: float  # a stage counts healthy after all its boxes succeeded and this long passed
    max_failures: int  # failed + rolled back boxes beyond this: the rollout halts by itself
    state: RolloutState = "running"
    stage: int = 0  # index of the stage being rolled out
    created_at: float = 0.0
    stage_started_at: float = 0.0
    stage_healthy_at: float | None = None  # when every box of the stage had succeeded
    reason: str = ""  # why it halted, was cancelled, or completed
    # Failed boxes an operator accepted when resuming: they no longer count towards
    # max_failures (a resume would otherwise halt again at once).
    forgiven: list[str] = msgspec.field(default_factory=list)
    # Optimistic lock: save_rollout refuses a copy read before someone else's save (an
    # operator's halt between the engine's read and its write is never overwritten).
    revision: int = 0


class StaleRollout(Exception):
    """save_rollout was given a copy of a rollout that changed since it was read."""


class RolloutBox(msgspec.Struct, kw_only=True):
    rollout_id: str
    box_id: str
    stage: int
    step: BoxStep = "targeted"
    reason: str = ""
    updated_at: float = 0.0


class FleetStore(Protocol):
    """Everything central keeps. Implementations are synchronous and thread-safe; the server
    calls them through asyncio.to_thread. Timestamps are central's time.time()."""

    # boxes and their credentials
    def add_box(self, box_id: str, branch: str, tags: list[str]) -> str:
        """Register a box; returns its new secret (shown once; stored only as an argon2 hash).
        Raises ValueError if the id exists."""
        ...

    def rotate_secret(self, box_id: str) -> str: ...

    def authenticate(self, box_id: str, secret: str) -> bool: ...

    def set_enabled(self, box_id: str, enabled: bool) -> None: ...

    def boxes(self) -> list[Box]: ...

    def record_report(self, report: BoxReport, now: float) -> None:
        """The box's versions, health and last contact; its update step in its rollout."""
        ...

    # rollouts
    def create_rollout(self, rollout: Rollout) -> None: ...

    def rollouts(self, include_finished: bool = True) -> list[Rollout]: ...

    def save_rollout(self, rollout: Rollout) -> None:
        """Store its state, stage and reason if nobody saved it since this copy was read
        (then bumps rollout.revision); raises StaleRollout otherwise, KeyError if unknown."""
        ...

    def rollout_boxes(self, rollout_id: str) -> list[RolloutBox]: ...

    def target(self, rollout_id: str, box_ids: list[str], stage: int, now: float,
               step: BoxStep = "targeted", reason: str = "") -> list[str]:
        """Mark boxes as targeted by a stage of this rollout (step "succeeded" for boxes
        already on its bundle). Returns the boxes newly targeted: none when the rollout is no
        longer running, never a box the rollout targeted before."""
        ...

    def assignment(self, box_id: str) -> tuple[str, str]:
        """(rollout_id, bundle) this box should run now, or ("", "")."""
        ...

    # day aggregates
    def record_day(self, box_id: str, day: str, aggregates: DayAggregates, now: float) -> None:
        """Idempotent per (box, day): a resent day replaces the earlier copy."""
        ...

    def days(self, since: str = "", until: str = "") -> list[tuple[str, str, DayAggregates]]:
        """(box_id, day, aggregates) rows in the range, oldest first."""
        ...

    def close(self) -> None: ...
