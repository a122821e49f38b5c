"""The box's update, step by step: a pure state machine over plain values and an injected
clock, persisted as one small record so a restart resumes (or rolls back) where it was.

    staged -> verifying -> smoke_testing -> waiting_for_quiet -> switching -> probation
           -> committed | rolled_back          (rejected from verifying or smoke_testing)

The shell (`edge/updates.py`) does the file work and the subprocess, tells the machine what
happened, and does what the machine answers. Nothing here touches disk, clock or network.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from provisioning.settings import UpdateSettings

UpdateState = Literal[
    "staged",
    "verifying",
    "smoke_testing",
    "waiting_for_quiet",
    "switching",
    "probation",
    "committed",
    "rolled_back",
    "rejected",
]
FINAL: frozenset[str] = frozenset({"committed", "rolled_back", "rejected"})
BootAction = Literal["install", "verify", "smoke", "wait", "probation", "rollback", "none"]


class UpdateRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One bundle's way onto the box (what `update.json` holds between restarts)."""

    bundle: str
    state: UpdateState = "staged"
    components: dict[str, int] = msgspec.field(default_factory=dict)  # name -> version
    arrived_at: float = 0.0
    reason: str = ""  # why it was rejected or rolled back, or why it waits
    waiting_since: float | None = None
    switched_at: float | None = None
    finished_at: float | None = None
    previous: str = ""  # the bundle active before the switch ("" = factory models)
    starts: int = 0  # processes that ran the new bundle (a start counts before models load)
    clean_stops: int = 0  # of those, ended by a graceful stop
    failures_at_switch: int = 0  # the service's turn-failure count when probation began
    # install, verify, smoke, switch
    timings_s: dict[str, float] = msgspec.field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in FINAL


class Lobby(msgspec.Struct, frozen=True):
    """What the service knows of its customers at one instant."""

    conversations: int = 0  # kiosks with a customer mid-conversation
    turns_running: int = 0  # customer turns being answered
    speaking: int = 0  # kiosks playing a reply or listening to a customer
    pending_calls: int = 0  # calls no number-caller acknowledged yet


class Probe(msgspec.Struct, frozen=True):
    """The new bundle's health during probation."""

    turn_failures: int  # the service's count since it started
    problems: tuple[str, ...] = ()  # models that did not load (router absent, speech broken)


def new_record(bundle: str, components: dict[str, int], now: float) -> UpdateRecord:
    """A bundle found in the inbox."""
    return UpdateRecord(bundle=bundle, components=dict(components), arrived_at=now)


def _finish(rec: UpdateRecord, state: UpdateState, reason: str, now: float) -> UpdateRecord:
    rec.state = state
    rec.reason = reason
    rec.finished_at = now
    return rec


def installed(rec: UpdateRecord, took_s: float = 0.0) -> UpdateRecord:
    """The bundle's files are in an inactive slot: check them next."""
    rec.timings_s["install"] = round(took_s, 3)
    rec.state = "verifying"
    return rec


def verified(rec: UpdateRecord, problems: list[str], took_s: float, now: float) -> UpdateRecord:
    """Hashes, versions and service version checked: smoke-test it, or reject it."""
    rec.timings_s["verify"] = round(took_s, 3)
    if problems:
        return _finish(rec, "rejected", "verification failed: " + "; ".join(problems), now)
    rec.state = "smoke_testing"
    return rec


def smoked(rec: UpdateRecord, problems: list[str], took_s: float, now: float) -> UpdateRecord:
    """The staged models loaded and answered in a subprocess: wait for quiet, or reject."""
    rec.timings_s["smoke"] = round(took_s, 3)
    if problems:
        return _finish(rec, "rejected", "smoke test failed: " + "; ".join(problems), now)
    rec.state = "waiting_for_quiet"
    rec.waiting_since = now
    rec.reason = "waiting for a quiet moment"
    return rec


def busy_reason(lobby: Lobby, settings: UpdateSettings, deferred: bool) -> str:
    """Why now is not the moment to switch ("" when it is). Before the maximum deferral a
    quiet lobby is needed; after it, an idle one (no turn running, no kiosk speaking)."""
    parts = []
    if lobby.turns_running:
        parts.append(f"{lobby.turns_running} customer turn(s) being answered")
    if lobby.speaking:
        parts.append(f"{lobby.speaking} kiosk(s) speaking or listening")
    if not deferred:
        if lobby.conversations:
            parts.append(f"{lobby.conversations} conversation(s) in progress")
        if lobby.pending_calls and settings.quiet_needs_no_pending_call:
            parts.append(f"{lobby.pending_calls} call(s) not yet acknowledged")
    return ", ".join(parts)


class SwitchDecision(msgspec.Struct, frozen=True):
    """Switch now, or wait and say why."""

    switch: bool
    reason: str
    quiet_since: float | None  # when the lobby last became quiet (the shell keeps it)


def may_switch(
    rec: UpdateRecord, lobby: Lobby, quiet_since: float | None, now: float, settings: UpdateSettings
) -> SwitchDecision:
    """The first quiet moment that held `quiet_hold_s`; after `max_deferral_s` of waiting,
    the first idle one."""
    since = rec.waiting_since if rec.waiting_since is not None else now
    deferred = now - since >= settings.max_deferral_s
    why = busy_reason(lobby, settings, deferred)
    if why:
        return SwitchDecision(False, "waiting: " + why, None)
    quiet_since = now if quiet_since is None else quiet_since
    held = now - quiet_since
    if held < settings.quiet_hold_s:
        return SwitchDecision(
            False,
            f"waiting: lobby quiet for {held:.1f} s of {settings.quiet_hold_s:.1f} s",
            quiet_since,
        )
    return SwitchDecision(
        True, "maximum deferral passed: lobby idle" if deferred else "lobby quiet", quiet_since
    )


def switching(rec: UpdateRecord, previous: str, turn_failures: int) -> UpdateRecord:
    """About to replace the pointer: what probation will compare against, saved first."""
    rec.state = "switching"
    rec.previous = previous
    rec.failures_at_switch = turn_failures
    rec.starts = 0
    rec.clean_stops = 0
    return rec


def switched(rec: UpdateRecord, took_s: float, now: float) -> UpdateRecord:
    """The pointer names the new bundle and the service runs on it: watch it."""
    rec.state = "probation"
    rec.switched_at = now
    rec.starts = 1  # this process now runs on the new bundle
    rec.reason = ""
    rec.timings_s["switch"] = round(took_s, 3)
    return rec


def judge(
    rec: UpdateRecord, probe: Probe, now: float, settings: UpdateSettings
) -> Literal["watch", "commit", "rollback"]:
    """During probation: roll back on a broken model or too many failed turns; commit
    once the window has passed cleanly."""
    failed = probe.turn_failures - rec.failures_at_switch
    if probe.problems:
        rec.reason = "unhealthy after the switch: " + "; ".join(probe.problems)
        return "rollback"
    if failed > settings.probation_max_turn_failures:
        rec.reason = (
            f"{failed} customer turns failed in probation "
            f"(at most {settings.probation_max_turn_failures})"
        )
        return "rollback"
    if rec.switched_at is not None and now - rec.switched_at >= settings.probation_s:
        return "commit"
    return "watch"


def committed(rec: UpdateRecord, now: float) -> UpdateRecord:
    return _finish(rec, "committed", "probation passed", now)


def rolled_back(rec: UpdateRecord, now: float) -> UpdateRecord:
    return _finish(rec, "rolled_back", rec.reason or "rolled back", now)


def on_start(
    rec: UpdateRecord, pointer_bundle: str, now: float, settings: UpdateSettings
) -> BootAction:
    """The service is starting (after a clean stop, a crash or a power cut): what to do
    before any model loads. The caller persists the record right after."""
    if rec.done:
        return "none"
    if rec.state == "staged":
        return "install"
    if rec.state == "verifying":
        return "verify"
    if rec.state == "smoke_testing":
        return "smoke"
    if rec.state == "waiting_for_quiet":
        return "wait"
    if rec.state == "switching":
        if pointer_bundle != rec.bundle:  # died before the replace: the old bundle is live
            rec.state = "waiting_for_quiet"
            return "wait"
        rec.state = "probation"  # died after it: the new bundle starts on probation
        rec.switched_at = rec.switched_at or now
    if pointer_bundle != rec.bundle:  # someone else moved the pointer: not ours to judge
        rec.reason = "the active bundle changed under the update"
        return "rollback"
    crashes = rec.starts - rec.clean_stops
    rec.starts += 1
    if crashes > settings.probation_max_crashes:
        rec.reason = f"the service crashed {crashes} time(s) on the new bundle"
        return "rollback"
    return "probation"


def stopped_cleanly(rec: UpdateRecord) -> UpdateRecord:
    """A graceful stop during probation is not a crash."""
    if rec.state == "probation":
        rec.clean_stops += 1
    return rec
