"""The staged rollout engine: pure decisions with plain values, properties over random fleets,
and `step` against a real (SQLite) store."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.central.fleet import Box, Rollout, RolloutBox
from provisioning.central.rollout import (
    ALREADY,
    Decision,
    StageError,
    cancel,
    decide,
    halt,
    parse_stages,
    resume,
    step,
)
from provisioning.central.store import open_store
from provisioning.central.wire import STEPS, BoxReport, UpdateReport

CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def fleet(n: int, pilots: int = 2, on_bundle: tuple[str, ...] = ()) -> list[Box]:
    return [Box(box_id=f"box-{i:02d}", cohort_tags=["pilot"] if i < pilots else [],
                bundle="b7" if f"box-{i:02d}" in on_bundle else "factory") for i in range(n)]


def rollout(stages: str = "pilot,20%,all", soak_s: float = 600, max_failures: int = 1) -> Rollout:
    return Rollout(rollout_id="r1", bundle="b7", stages=parse_stages(stages), soak_s=soak_s,
                   max_failures=max_failures, created_at=0, stage_started_at=0)


def apply(decision: Decision, rows: list[RolloutBox], now: float) -> list[RolloutBox]:
    """What step() does with a decision's targets, kept in a list."""
    return rows + [RolloutBox(rollout_id="r1", box_id=t.box_id, stage=t.stage, step=t.step,
                              reason=t.reason, updated_at=now) for t in decision.targets]


def report(rows: list[RolloutBox], box_id: str, box_step: str, now: float) -> list[RolloutBox]:
    """A box's report as the store keeps it: updated_at moves only when the step does."""
    return [msgspec.structs.replace(r, step=box_step,
                                    updated_at=now if r.step != box_step else r.updated_at)
            if r.box_id == box_id else r for r in rows]


def test_stage_syntax() -> None:
    stages = parse_stages("pilot, 3,20%,all")
    assert [(s.name, s.tag, s.count, s.share) for s in stages] == [
        ("pilot", "pilot", 0, 0.0), ("3", "", 3, 0.0), ("20%", "", 0, 0.2), ("all", "", 0, 1.0)]
    for bad, said in [("", "empty stage"), ("pilot,,all", "empty stage"),
                      ("0", "at least 1"), ("120%", "at most 100%"), ("x%", "a number then %"),
                      ("50%,20%", "must grow"), ("all,pilot", "last stage"),
                      ("pi lot", "a tag name")]:
        with pytest.raises(StageError, match=said):
            parse_stages(bad)


def test_a_rollout_walks_its_stages_with_soak() -> None:
    boxes, r = fleet(10), rollout("pilot,50%,all")
    d = decide(r, boxes, [], now=0)
    assert [t.box_id for t in d.targets] == ["box-00", "box-01"]  # the pilot tag
    assert d.rollout.stage == 0 and d.rollout.stage_healthy_at is None
    rows = apply(d, [], 0)
    assert decide(d.rollout, boxes, rows, now=5).targets == []  # nobody twice
    rows = report(report(rows, "box-00", "succeeded", 100), "box-01", "applied", 100)
    assert decide(d.rollout, boxes, rows, now=200).rollout.stage == 0
    rows = report(rows, "box-01", "succeeded", 300)
    d = decide(d.rollout, boxes, rows, now=400)
    assert (d.rollout.stage, d.rollout.stage_healthy_at) == (0, 300)  # soaking
    assert decide(d.rollout, boxes, rows, now=899).rollout.stage == 0
    d = decide(d.rollout, boxes, rows, now=900)  # 300 + 600 s: healthy, on to 50% of 10
    assert d.rollout.stage == 1 and d.rollout.stage_started_at == 900
    assert len(d.targets) == 3 and {t.stage for t in d.targets} == {1}
    rows = apply(d, rows, 900)
    for t in d.targets:
        rows = report(rows, t.box_id, "succeeded", 1000)
    d = decide(d.rollout, boxes, rows, now=1600)
    assert d.rollout.stage == 2 and len(d.targets) == 5
    rows = apply(d, rows, 1600)
    for t in d.targets:
        rows = report(rows, t.box_id, "succeeded", 1700)
    assert decide(d.rollout, boxes, rows, now=2299).rollout.state == "running"
    done = decide(d.rollout, boxes, rows, now=2300).rollout
    assert done.state == "completed" and "10 boxes succeeded" in done.reason
    assert decide(done, boxes, rows, now=3000) == Decision(done)


def test_a_stage_with_no_box_left_moves_on_at_once() -> None:
    boxes, r = fleet(10), rollout("pilot,20%,all", soak_s=100)
    rows = apply(decide(r, boxes, [], 0), [], 0)
    rows = report(report(rows, "box-00", "succeeded", 10), "box-01", "succeeded", 10)
    d = decide(r, boxes, rows, now=110)  # the pilots already are 20%: straight on to all
    assert d.rollout.stage == 2 and len(d.targets) == 8


def test_boxes_already_on_the_bundle_count_as_succeeded() -> None:
    boxes, r = fleet(4, pilots=2, on_bundle=("box-00", "box-01")), rollout("pilot,all", soak_s=0)
    d = decide(r, boxes, [], now=10)
    assert {(t.box_id, t.step, t.reason) for t in d.targets} >= {
        ("box-00", "succeeded", ALREADY), ("box-01", "succeeded", ALREADY)}
    # nothing to wait for: the pilot is healthy at once, and "all" targets the rest
    assert d.rollout.stage == 1
    assert {t.box_id for t in d.targets if t.step == "targeted"} == {"box-02", "box-03"}


def test_failures_beyond_the_budget_halt_it_naming_boxes_and_why() -> None:
    boxes, r = fleet(10, pilots=3), rollout(max_failures=1)
    rows = apply(decide(r, boxes, [], 0), [], 0)
    rows = report(rows, "box-00", "failed", 50)
    rows[0].reason = "smoke test: router did not load"
    d = decide(r, boxes, rows, now=60)
    assert d.rollout.state == "running"  # one failure is within the budget
    rows = report(rows, "box-01", "rolled_back", 70)
    d = decide(r, boxes, rows, now=80)
    assert d.rollout.state == "halted" and d.targets == []
    assert "box-00 failed (smoke test: router did not load)" in d.rollout.reason
    assert "box-01 rolled back" in d.rollout.reason and "max_failures=1" in d.rollout.reason
    # halted: nothing new, even when the failed boxes recover
    healed = report(report(rows, "box-00", "succeeded", 90), "box-01", "succeeded", 90)
    assert decide(d.rollout, boxes, healed, now=10_000) == Decision(d.rollout)


def test_a_tolerated_failure_settles_its_stage_and_restarts_the_soak() -> None:
    boxes, r = fleet(10, pilots=2), rollout("pilot,50%,all", max_failures=1)
    rows = apply(decide(r, boxes, [], 0), [], 0)
    rows = report(report(rows, "box-00", "succeeded", 100), "box-01", "failed", 200)
    d = decide(r, boxes, rows, now=300)
    assert d.rollout.stage_healthy_at == 200
    assert decide(r, boxes, rows, now=800).rollout.stage == 1


def test_a_late_failure_during_the_soak_restarts_it() -> None:
    boxes, r = fleet(10, pilots=2), rollout("pilot,50%,all", max_failures=1)
    rows = apply(decide(r, boxes, [], 0), [], 0)
    rows = report(report(rows, "box-00", "succeeded", 100), "box-01", "succeeded", 100)
    rows = report(rows, "box-00", "rolled_back", 500)  # within the budget, but not healthy
    assert decide(r, boxes, rows, now=700).rollout.stage == 0
    assert decide(r, boxes, rows, now=1100).rollout.stage == 1


def test_counts_take_that_many_more_and_shares_top_up() -> None:
    boxes, r = fleet(10, pilots=0), rollout("3,50%,all", soak_s=0)
    d = decide(r, boxes, [], 0)
    assert len(d.targets) == 3 and {t.stage for t in d.targets} == {0}
    rows = apply(d, [], 0)
    assert decide(d.rollout, boxes, rows, 1).targets == []  # a count is not topped up
    for t in d.targets:
        rows = report(rows, t.box_id, "succeeded", 2)
    d = decide(d.rollout, boxes, rows, 3)
    assert d.rollout.stage == 1 and len(d.targets) == 2  # up to 5 of 10
    rows = apply(d, rows, 3)
    boxes += [Box(box_id="late-1"), Box(box_id="late-2")]  # enrolled meanwhile: 6 of 12
    d = decide(d.rollout, boxes, rows, 4)
    assert len(d.targets) == 1 and d.targets[0].stage == 1


def test_disabled_boxes_are_not_targeted_and_do_not_block_a_stage() -> None:
    boxes, r = fleet(3, pilots=3), rollout("pilot", soak_s=0)
    boxes[2].enabled = False
    d = decide(r, boxes, [], 0)
    assert [t.box_id for t in d.targets] == ["box-00", "box-01"]  # hash order
    rows = apply(d, [], 0)
    boxes[1].enabled = False  # disabled after targeting: the stage no longer waits on it
    rows = report(rows, "box-00", "succeeded", 5)
    assert decide(d.rollout, boxes, rows, 6).rollout.state == "completed"


def test_operator_halt_resume_and_cancel() -> None:
    boxes, r = fleet(6, pilots=2), rollout(max_failures=0)
    rows = report(apply(decide(r, boxes, [], 0), [], 0), "box-00", "failed", 10)
    halted = decide(r, boxes, rows, 11).rollout
    assert halted.state == "halted"
    with pytest.raises(ValueError, match="not running"):
        halt(halted, "")
    again = resume(msgspec.structs.replace(halted), rows)
    assert again.state == "running" and again.forgiven == ["box-00"] and again.reason == ""
    assert decide(again, boxes, rows, 12).rollout.state == "running"  # forgiven: no re-halt
    rows = report(rows, "box-01", "failed", 13)
    assert decide(again, boxes, rows, 14).rollout.state == "halted"  # a new failure counts
    with pytest.raises(ValueError, match="not halted"):
        resume(again, rows)
    looser = resume(decide(again, boxes, rows, 14).rollout, rows, max_failures=5)
    assert looser.max_failures == 5 and looser.forgiven == ["box-00", "box-01"]
    assert halt(looser, "").reason == "halted by an operator"
    cancelled = cancel(looser, "wrong bundle")
    assert (cancelled.state, cancelled.reason) == ("cancelled", "wrong bundle")
    with pytest.raises(ValueError, match="already cancelled"):
        cancel(cancelled, "")
    assert decide(cancelled, boxes, rows, 15).targets == []


# Properties over random fleets, stage lists and box behaviour.

stage_text = st.lists(st.sampled_from(["pilot", "east", "1", "3", "10%", "25%", "50%"]),
                      min_size=0, max_size=3).map(lambda parts: ",".join([*parts, "all"]))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Box], Rollout, list[list[str]]]:
    n = draw(st.integers(1, 25))
    boxes = [Box(box_id=f"b{i:02d}", enabled=draw(st.booleans() | st.just(True)),
                 cohort_tags=draw(st.lists(st.sampled_from(["pilot", "east"]), max_size=2)),
                 bundle=draw(st.sampled_from(["factory", "factory", "b7"])))
             for i in range(n)]
    try:
        stages = parse_stages(draw(stage_text))
    except StageError:  # e.g. shares drawn out of order
        stages = parse_stages("all")
    r = Rollout(rollout_id="r1", bundle="b7", stages=stages, soak_s=draw(st.sampled_from([0, 50])),
                max_failures=draw(st.integers(0, 3)))
    # per tick, what each targeted box reports (or nothing)
    moves = draw(st.lists(st.lists(st.sampled_from([*STEPS, "-", "-", "succeeded"]),
                                   min_size=n, max_size=n), min_size=1, max_size=30))
    return boxes, r, moves


def ticks(moves: list[list[str]], n: int) -> list[list[str]]:
    """The drawn reports, then every box succeeding long enough for any rollout to finish."""
    return [*moves, *[["succeeded"] * n] * 40]


def run(boxes: list[Box], r: Rollout,
        moves: list[list[str]]) -> tuple[list[Rollout], list[RolloutBox], list[Decision]]:
    """Tick the engine, then let each box report its drawn step; the rollouts seen."""
    rows: list[RolloutBox] = []
    seen: list[Rollout] = [r]
    decisions: list[Decision] = []
    now = 0.0
    for tick in ticks(moves, len(boxes)):
        if len(decisions) > len(moves) and seen[-1].state != "running":
            break
        d = decide(seen[-1], boxes, rows, now)
        decisions.append(d)
        rows = apply(d, rows, now)
        seen.append(d.rollout)
        now += 30
        for i, box_step in enumerate(tick):
            if box_step != "-" and any(row.box_id == boxes[i].box_id for row in rows):
                rows = report(rows, boxes[i].box_id, box_step, now)
    return seen, rows, decisions


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_no_box_is_ever_in_two_stages(scenario: tuple[list[Box], Rollout, list[list[str]]]) -> None:
    _, rows, decisions = run(*scenario)
    ids = [r.box_id for r in rows]
    assert len(ids) == len(set(ids))
    boxes = {b.box_id: b for b in scenario[0]}
    for d in decisions:
        for t in d.targets:
            assert boxes[t.box_id].enabled
            assert t.stage <= d.rollout.stage


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_halting_is_monotone(scenario: tuple[list[Box], Rollout, list[list[str]]]) -> None:
    seen, _, decisions = run(*scenario)
    states = [r.state for r in seen]
    if "halted" in states:
        first = states.index("halted")
        assert set(states[first:]) == {"halted"}
        assert all(not d.targets for d in decisions[first:])
    assert all(b.stage >= a.stage for a, b in pairwise(seen))


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_advancing_never_skips_an_unhealthy_stage(
        scenario: tuple[list[Box], Rollout, list[list[str]]]) -> None:
    boxes, r, moves = scenario
    enabled = {b.box_id for b in boxes if b.enabled}
    rows: list[RolloutBox] = []
    current, now = r, 0.0
    for tick in ticks(moves, len(boxes)):
        d = decide(current, boxes, rows, now)
        rows = apply(d, rows, now)
        if d.rollout.stage > current.stage or (d.rollout.state == "completed"
                                               and current.state == "running"):
            # every stage it left: each enabled box settled, and soaked since
            last = d.rollout.stage if d.rollout.state == "completed" else d.rollout.stage - 1
            for left in range(current.stage, last + 1):
                mine = [x for x in rows if x.stage == left and x.box_id in enabled]
                assert all(x.step in ("succeeded", "failed", "rolled_back") for x in mine)
                assert all(now >= x.updated_at + r.soak_s for x in mine)
        current = d.rollout
        now += 30
        for i, box_step in enumerate(tick):
            if box_step != "-" and any(row.box_id == boxes[i].box_id for row in rows):
                rows = report(rows, boxes[i].box_id, box_step, now)


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_counts_and_shares_cover_the_fleet_once_at_all(
        scenario: tuple[list[Box], Rollout, list[list[str]]]) -> None:
    boxes, r, _ = scenario
    # every box succeeds as soon as it is targeted: the rollout must reach "all" and finish
    seen, rows, _ = run(boxes, r, [["succeeded"] * len(boxes)])
    assert seen[-1].state == "completed"
    assert sorted(x.box_id for x in rows) == sorted(b.box_id for b in boxes if b.enabled)


# step() against a real store


def test_step_targets_nudges_and_respects_an_operators_halt(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/fleet.db", **CHEAP)
    try:
        for i in range(5):
            store.add_box(f"box-{i}", f"Branch {i}", ["pilot"] if i < 2 else [])
        store.record_report(BoxReport(box_id="box-4", service_version="0.1", bundle="b7"), 0)
        store.create_rollout(rollout("pilot,all", soak_s=60, max_failures=0))
        assert sorted(step(store, now=1)) == [("box-0", "r1", "b7"), ("box-1", "r1", "b7")]
        assert step(store, now=2) == []
        for box_id in ("box-0", "box-1"):
            store.record_report(BoxReport(box_id=box_id, service_version="0.1", bundle="b7",
                                          update=UpdateReport(rollout="r1", bundle="b7",
                                                              step="succeeded")), now=10)
        assert step(store, now=20) == [] and store.rollouts()[0].stage_healthy_at == 10
        # box-4 already runs b7: targeted as succeeded, never nudged
        assert sorted(step(store, now=70)) == [("box-2", "r1", "b7"), ("box-3", "r1", "b7")]
        rows = {r.box_id: r.step for r in store.rollout_boxes("r1")}
        assert rows["box-4"] == "succeeded" and store.assignment("box-2") == ("r1", "b7")
        [r] = store.rollouts()
        store.save_rollout(halt(r, "operator: lobby complaints"))
        store.record_report(BoxReport(box_id="box-2", service_version="0.1", bundle="factory",
                                      update=UpdateReport(rollout="r1", bundle="b7",
                                                          step="failed", reason="smoke")), 80)
        assert step(store, now=90) == []
        [r] = store.rollouts()
        assert (r.state, r.reason) == ("halted", "operator: lobby complaints")
    finally:
        store.close()
