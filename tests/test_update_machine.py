"""The box's update as a pure state machine: every step, the quiet-moment rule, probation,
and what a restart does after a crash at each step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning import updater as u
from provisioning.settings import UpdateSettings

T0 = 1_764_036_000.0
S = UpdateSettings(
    quiet_hold_s=2.0,
    max_deferral_s=600.0,
    probation_s=300.0,
    probation_max_turn_failures=3,
    probation_max_crashes=1,
)
QUIET = u.Lobby()


def _waiting(now: float = T0) -> u.UpdateRecord:
    rec = u.installed(u.new_record("b2", {"router": 7}, now))
    u.verified(rec, [], 0.5, now)
    return u.smoked(rec, [], 9.0, now)


def _on_probation(failures: int = 0) -> u.UpdateRecord:
    rec = u.switching(_waiting(), "b1", failures)
    return u.switched(rec, 0.004, T0 + 10)


def test_the_happy_path_walks_every_state_and_keeps_the_timings() -> None:
    rec = u.new_record("b2", {"router": 7}, T0)
    assert rec.state == "staged"
    assert u.installed(rec, 0.5).state == "verifying"
    assert u.verified(rec, [], 1.25, T0).state == "smoke_testing"
    assert u.smoked(rec, [], 12.5, T0 + 1).state == "waiting_for_quiet"
    assert rec.waiting_since == T0 + 1
    assert u.switching(rec, "b1", 5).state == "switching"
    assert u.switched(rec, 0.003, T0 + 2).state == "probation" and rec.starts == 1
    assert u.judge(rec, u.Probe(turn_failures=5), T0 + 2 + 300, S) == "commit"
    assert u.committed(rec, T0 + 400).done
    assert rec.timings_s == {"install": 0.5, "verify": 1.25, "smoke": 12.5, "switch": 0.003}


def test_verification_and_smoke_failures_reject_with_the_reasons() -> None:
    rec = u.installed(u.new_record("b2", {}, T0))
    u.verified(rec, ["router/router.npz: sha256 differs from the manifest"], 0.1, T0)
    assert rec.state == "rejected" and "sha256 differs" in rec.reason and rec.done
    rec = u.installed(u.new_record("b3", {}, T0))
    u.smoked(u.verified(rec, [], 0.1, T0), ["router (router): ValueError: bad file"], 3.0, T0)
    assert rec.state == "rejected" and rec.reason.startswith("smoke test failed: router")


def test_a_busy_lobby_defers_the_switch_and_says_why() -> None:
    rec = _waiting()
    busy = u.Lobby(conversations=1, pending_calls=2)
    d = u.may_switch(rec, busy, None, T0 + 5, S)
    assert not d.switch
    assert d.reason == "waiting: 1 conversation(s) in progress, 2 call(s) not yet acknowledged"
    # quiet must hold quiet_hold_s before the switch
    d = u.may_switch(rec, QUIET, None, T0 + 6, S)
    assert not d.switch and d.quiet_since == T0 + 6 and "quiet for 0.0 s" in d.reason
    d = u.may_switch(rec, QUIET, d.quiet_since, T0 + 8, S)
    assert d.switch and d.reason == "lobby quiet"


def test_pending_calls_count_only_when_configured() -> None:
    lax = UpdateSettings(quiet_needs_no_pending_call=False, quiet_hold_s=0.0)
    assert u.may_switch(_waiting(), u.Lobby(pending_calls=3), None, T0, lax).switch


def test_after_the_maximum_deferral_an_idle_moment_is_enough() -> None:
    rec = _waiting()
    lobby = u.Lobby(conversations=4, pending_calls=1)  # a lobby that never empties
    assert not u.may_switch(rec, lobby, None, T0 + 599, S).switch
    d = u.may_switch(rec, lobby, None, T0 + 600, S)
    assert not d.switch  # idle, but not yet for quiet_hold_s
    d = u.may_switch(rec, lobby, d.quiet_since, T0 + 602, S)
    assert d.switch and d.reason == "maximum deferral passed: lobby idle"
    # never during a turn or while a kiosk speaks, however late
    for during in (u.Lobby(turns_running=1), u.Lobby(speaking=1)):
        assert not u.may_switch(rec, during, T0, T0 + 10_000, S).switch


@given(
    conversations=st.integers(0, 5),
    turns=st.integers(0, 5),
    speaking=st.integers(0, 5),
    calls=st.integers(0, 5),
    waited=st.floats(0, 10_000),
    held=st.floats(0, 100),
)
def test_never_switches_during_a_turn_or_speech(
    conversations: int, turns: int, speaking: int, calls: int, waited: float, held: float
) -> None:
    lobby = u.Lobby(conversations, turns, speaking, calls)
    rec = _waiting()
    d = u.may_switch(rec, lobby, T0 + waited - held, T0 + waited, S)
    if turns or speaking:
        assert not d.switch
    if d.switch and waited < S.max_deferral_s:
        assert conversations == 0 and calls == 0


def test_probation_rolls_back_on_failed_turns_or_a_broken_model() -> None:
    rec = _on_probation(failures=10)
    assert u.judge(rec, u.Probe(turn_failures=13), T0 + 20, S) == "watch"  # 3 new: allowed
    assert u.judge(rec, u.Probe(turn_failures=14), T0 + 20, S) == "rollback"
    assert rec.reason == "4 customer turns failed in probation (at most 3)"
    rec = _on_probation()
    assert u.judge(rec, u.Probe(0, ("STT: model.bin missing",)), T0 + 20, S) == "rollback"
    assert u.rolled_back(rec, T0 + 21).state == "rolled_back"
    assert "STT: model.bin missing" in rec.reason


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("staged", "install"),
        ("verifying", "verify"),
        ("smoke_testing", "smoke"),
        ("waiting_for_quiet", "wait"),
    ],
)
def test_a_restart_before_the_switch_resumes_the_same_step(
    state: u.UpdateState, action: str
) -> None:
    rec = u.new_record("b2", {}, T0)
    rec.state = state
    assert u.on_start(rec, "b1", T0 + 60, S) == action
    assert rec.state == state


def test_a_crash_during_the_switch_resumes_by_the_pointer() -> None:
    before = u.switching(_waiting(), "b1", 0)
    assert u.on_start(before, "b1", T0, S) == "wait"  # pointer not replaced: wait again
    assert before.state == "waiting_for_quiet"
    after = u.switching(_waiting(), "b1", 0)
    assert u.on_start(after, "b2", T0 + 5, S) == "probation"  # replaced: on probation
    assert after.state == "probation" and after.switched_at == T0 + 5 and after.starts == 1


def test_crashes_on_the_new_bundle_roll_back_before_it_loads_again() -> None:
    rec = _on_probation()
    assert u.on_start(rec, "b2", T0, S) == "probation"  # one crash (or power cut): tolerated
    assert u.on_start(rec, "b2", T0, S) == "rollback"  # the second: back to b1
    assert rec.reason == "the service crashed 2 time(s) on the new bundle"


def test_clean_stops_are_not_crashes() -> None:
    rec = _on_probation()
    for _ in range(5):
        u.stopped_cleanly(rec)
        assert u.on_start(rec, "b2", T0, S) == "probation"


def test_a_pointer_moved_by_someone_else_ends_probation() -> None:
    assert u.on_start(_on_probation(), "b9", T0, S) == "rollback"


def test_a_finished_update_does_nothing_at_start() -> None:
    rec = u.committed(_on_probation(), T0)
    assert u.on_start(rec, "b2", T0, S) == "none" and rec.state == "committed"
