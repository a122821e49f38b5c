"""The branch's scheduled jobs: call re-sends, idle resets, retention purge, day close, audit
checkpoints.

Each is a plain coroutine over resources passed in; `edge.jobs.Supervisor` runs them,
isolated from one another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from devices.caller_messages import Call
from edge.config import BranchConfig
from edge.desk import QueueDesk
from edge.jobs import Job, at_day_rollover, every
from edge.sessions import KioskSession
from edge.store import Store


def branch_jobs(config: BranchConfig, desk: QueueDesk, store: Store,
                sessions: Mapping[str, KioskSession],
                to_callers: Callable[[Call], None]) -> list[Job]:
    """The service's jobs and when each runs (the purge and the close also once at start)."""

    async def resend_calls(now: float) -> None:
        """Calls no number-caller acknowledged go out again."""
        for call in await desk.due_resends():
            to_callers(call)

    async def reset_idle(now: float) -> None:
        """A customer who walked away leaves nothing for the next one."""
        idle = config.sessions.idle_timeout_s
        for session in list(sessions.values()):
            if session.state.turns and now - session.last_activity > idle:
                session.reset("idle timeout")

    async def purge(now: float) -> None:
        """Delete records past their retention period."""
        r = config.retention
        await store.purge(now, r.transcript_days, r.audit_days, r.queue_event_days,
                          r.appointment_days)

    async def sign_audit(now: float) -> None:
        """Sign the audit log's newest row, so a cut-off tail shows (`audit verify`)."""
        await store.audit_checkpoint(now)

    async def close_day(now: float) -> None:
        """Yesterday's open tickets closed out (a day missed while off too), bookings of
        past days never checked in expired."""
        await desk.close_past_days()
        await store.expire_appointments(desk.day, now)

    jobs = config.jobs
    return [
        Job("call_resends", every(jobs.tick_s), resend_calls),
        Job("idle_reset", every(jobs.tick_s), reset_idle),
        Job("retention_purge", every(jobs.purge_interval_s), purge, run_at_start=True),
        Job("day_close", at_day_rollover(config.queue.timezone, config.queue.day_rollover),
            close_day, run_at_start=True),
        Job("audit_checkpoint", every(config.audit.checkpoint_interval_s), sign_audit),
    ]
