"""The staged rollout engine: which boxes a stage targets, when a stage is healthy, when to
advance, when to halt by itself, when the rollout is complete.

`decide` is pure (a rollout, the fleet, the rollout's box rows and `now` in; a new rollout
and the boxes to target out); `step` reads the store, applies each decision and returns the
boxes to nudge. The rules:

- A stage targets boxes of the enabled fleet the rollout has not targeted yet (never a box
  twice): every box with its tag, or its count more boxes, or enough boxes to bring the
  rollout up to its share of the enabled fleet (rounded up; "all" is a share of 1). Order is
  a hash of rollout and box id, so successive rollouts spread their first boxes differently.
  A stage is topped up while it runs (a box enabled meanwhile joins it). Boxes already on the
  bundle count as succeeded at once.
- A stage is settled when each of its enabled boxes succeeded, or failed within the failure
  budget; it is healthy once it has stayed settled, with no new failure anywhere in the
  rollout, for soak_s. Then the rollout advances (or completes after its last stage).
- Failed and rolled-back boxes, less those an operator forgave on resume, beyond
  max_failures halt the rollout; the reason names each box and why. A halted rollout targets
  nothing more; its boxes keep what they have (the box's probation protects them).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

import msgspec

from provisioning.central.fleet import Box, FleetStore, Rollout, RolloutBox, Stage, StaleRollout
from provisioning.central.wire import FAILED_STEPS, BoxStep

SETTLED_OK = "succeeded"
ALREADY = "already on the bundle"
STAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")


class StageError(ValueError):
    """A stage list that cannot be rolled out."""


def parse_stages(text: str) -> list[Stage]:
    """"pilot,20%,all" -> stages: a tag name, N (a count), N% (a share), or all."""
    stages: list[Stage] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            raise StageError(f"empty stage in {text!r}: write e.g. 'pilot,20%,all'")
        if name == "all":
            stages.append(Stage(name="all", share=1.0))
        elif name.endswith("%"):
            try:
                pct = float(name[:-1])
            except ValueError:
                raise StageError(f"stage {name!r}: a share is a number then %, e.g. 20%") from None
            if not 0 < pct <= 100:
                raise StageError(f"stage {name!r}: a share must be above 0% and at most 100%")
            stages.append(Stage(name=name, share=pct / 100))
        elif name.isdigit():
            if int(name) < 1:
                raise StageError(f"stage {name!r}: a count must be at least 1")
            stages.append(Stage(name=name, count=int(name)))
        elif STAGE_NAME.fullmatch(name):
            stages.append(Stage(name=name, tag=name))
        else:
            raise StageError(f"stage {name!r}: expected a tag name, N, N% or all")
    shares = [s.share for s in stages if s.share]
    if shares != sorted(shares):
        raise StageError(f"stage shares must grow ({text!r}): each share is of the whole fleet")
    if "all" in [s.name for s in stages[:-1]]:
        raise StageError(f"'all' must be the last stage ({text!r})")
    return stages


@dataclass(frozen=True)
class Target:
    """A box to mark as targeted by a stage (step "succeeded" if already on the bundle)."""

    box_id: str
    stage: int
    step: BoxStep = "targeted"
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    rollout: Rollout  # the rollout as it should be saved (the input is never changed)
    targets: list[Target] = field(default_factory=list)

    def changed(self, before: Rollout) -> bool:
        return self.rollout != before


def _order(rollout_id: str, box_id: str) -> str:
    return hashlib.sha256(f"{rollout_id}\0{box_id}".encode()).hexdigest()


def stage_targets(rollout: Rollout, stage: int, fleet: list[Box],
                  rows: list[RolloutBox]) -> list[str]:
    """Boxes this stage adds now: enabled, not yet targeted by the rollout."""
    spec = rollout.stages[stage]
    targeted = {r.box_id for r in rows}
    free = sorted((b for b in fleet if b.enabled and b.box_id not in targeted),
                  key=lambda b: _order(rollout.rollout_id, b.box_id))
    if spec.tag:
        return [b.box_id for b in free if spec.tag in b.cohort_tags]
    if spec.count:
        want = spec.count - sum(r.stage == stage for r in rows)
    else:
        enabled = {b.box_id for b in fleet if b.enabled}
        want = math.ceil(round(spec.share * len(enabled), 9)) - len(targeted & enabled)
    return [b.box_id for b in free][:max(0, want)]


def failures(rollout: Rollout, rows: list[RolloutBox]) -> list[RolloutBox]:
    """Failed and rolled-back boxes that count against max_failures."""
    forgiven = set(rollout.forgiven)
    return [r for r in rows if r.step in FAILED_STEPS and r.box_id not in forgiven]


def halt_reason(rollout: Rollout, failed: list[RolloutBox], named_max: int = 10) -> str:
    named = "; ".join(f"{r.box_id} {r.step.replace('_', ' ')}" + (f" ({r.reason})" if r.reason
                                                                   else "")
                      for r in failed[:named_max])
    if len(failed) > named_max:
        named += f"; and {len(failed) - named_max} more"
    return (f"halted by itself: {len(failed)} boxes failed or rolled back, more than "
            f"max_failures={rollout.max_failures}: {named}")


def _settled_at(rollout: Rollout, stage: int, rows: list[RolloutBox], fleet: dict[str, Box],
                failed: list[RolloutBox]) -> float | None:
    """When the stage last became settled (its boxes done, no failure since), or None; a
    stage without boxes counts as settled and soaked already."""
    mine = [r for r in rows if r.stage == stage and (b := fleet.get(r.box_id)) and b.enabled]
    if any(r.step != SETTLED_OK and r.step not in FAILED_STEPS for r in mine):
        return None
    if not mine:
        return -math.inf
    last = max(r.updated_at for r in mine)
    # a failure anywhere in the rollout restarts the soak
    return max([last, rollout.stage_started_at, *(r.updated_at for r in failed)])


def decide(rollout: Rollout, fleet: list[Box], rows: list[RolloutBox], now: float) -> Decision:
    """What the rollout should do now (pure; the same inputs give the same decision)."""
    if rollout.state != "running":
        return Decision(rollout)
    new = msgspec.structs.replace(rollout, forgiven=list(rollout.forgiven))
    rows = list(rows)
    by_id = {b.box_id: b for b in fleet}
    failed = failures(rollout, rows)
    if len(failed) > rollout.max_failures:
        new.state, new.reason = "halted", halt_reason(rollout, failed)
        return Decision(new)
    targets: list[Target] = []
    for _ in range(len(rollout.stages) + 1):  # a stage with nothing to wait for moves on now
        for box_id in stage_targets(new, new.stage, fleet, rows):
            on_bundle = by_id[box_id].bundle == new.bundle
            target = Target(box_id, new.stage, "succeeded" if on_bundle else "targeted",
                            ALREADY if on_bundle else "")
            targets.append(target)
            rows.append(RolloutBox(rollout_id=new.rollout_id, box_id=box_id, stage=new.stage,
                                   step=target.step, reason=target.reason, updated_at=now))
        settled = _settled_at(new, new.stage, rows, by_id, failed)
        new.stage_healthy_at = None if settled is None else max(settled, new.stage_started_at)
        if settled is None or now < settled + new.soak_s:
            break
        if new.stage + 1 >= len(new.stages):
            done = sum(r.step == SETTLED_OK for r in rows)
            new.state = "completed"
            new.reason = (f"completed: {len(new.stages)} stages healthy, {done} boxes "
                          f"succeeded, {len(failed)} failed")
            break
        new.stage += 1
        new.stage_started_at, new.stage_healthy_at = now, None
    return Decision(new, targets)


def step(store: FleetStore, now: float) -> list[tuple[str, str, str]]:
    """One tick of every running rollout; (box_id, rollout_id, bundle) of boxes newly
    targeted, for the server to nudge. A rollout someone saved meanwhile (an operator's
    halt) is left to the next tick."""
    fleet = store.boxes()
    nudges: list[tuple[str, str, str]] = []
    for rollout in store.rollouts(include_finished=False):
        if rollout.state != "running":
            continue
        decision = decide(rollout, fleet, store.rollout_boxes(rollout.rollout_id), now)
        # targets first, while the rollout still runs (target() checks that in its own
        # transaction); the rollout's new stage after
        groups: dict[tuple[int, BoxStep, str], list[str]] = {}
        for t in decision.targets:
            groups.setdefault((t.stage, t.step, t.reason), []).append(t.box_id)
        for (stage, box_step, reason), ids in groups.items():
            added = store.target(rollout.rollout_id, ids, stage, now, box_step, reason)
            if box_step == "targeted":
                nudges.extend((box_id, rollout.rollout_id, rollout.bundle) for box_id in added)
        if decision.changed(rollout):
            try:
                store.save_rollout(decision.rollout)
            except StaleRollout:
                continue
    return nudges


def halt(rollout: Rollout, reason: str) -> Rollout:
    """An operator's halt: nothing new is targeted until resume."""
    if rollout.state != "running":
        raise ValueError(f"rollout {rollout.rollout_id} is {rollout.state}, not running")
    rollout.state, rollout.reason = "halted", reason or "halted by an operator"
    return rollout


def resume(rollout: Rollout, rows: list[RolloutBox], max_failures: int | None = None) -> Rollout:
    """Resume a halted rollout: the failures so far are forgiven (they no longer count),
    and max_failures may be changed."""
    if rollout.state != "halted":
        raise ValueError(f"rollout {rollout.rollout_id} is {rollout.state}, not halted")
    rollout.forgiven = sorted(set(rollout.forgiven) | {r.box_id for r in failures(rollout, rows)})
    if max_failures is not None:
        rollout.max_failures = max_failures
    rollout.state, rollout.reason = "running", ""
    return rollout


def cancel(rollout: Rollout, reason: str) -> Rollout:
    """End a rollout for good: boxes it targeted are told to stay as they are."""
    if rollout.state in ("completed", "cancelled"):
        raise ValueError(f"rollout {rollout.rollout_id} is already {rollout.state}")
    rollout.state, rollout.reason = "cancelled", reason or "cancelled by an operator"
    return rollout
