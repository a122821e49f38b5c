"""Random operation sequences against the queue engine, with the invariants the issue asks for."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edge.queue import QueueEngine, QueueError, QueueSettings, State
from edge.queue.events import (
    SCHEMA_VERSION,
    Completed,
    Issued,
    QueueEvent,
    decode_event,
    encode_event,
    kind_of,
)
from edge.queue.model import Ticket

OPEN = datetime(2026, 11, 25, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
SERVICES = ["personal", "cash", "fx", "loan", "wealth", "corporate", "urgent", "self", "nope"]
COUNTERS = ["c1", "c2", "c3", "c4", "c5", "c6", "c9"]
FLAGS = st.lists(st.sampled_from(["elderly", "disabled", "pregnant", "wheelchair"]), max_size=2)
TIERS = st.sampled_from([None, None, None, None, "vip", "vip_gold", "diamond"])
PICK = st.integers(min_value=0, max_value=10_000)


class QueueMachine(RuleBasedStateMachine):
    """Drives one engine; every refused operation must leave the snapshot untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.now = OPEN
        self.settings = QueueSettings()
        self.engine = QueueEngine(self.settings, lambda: self.now)
        self.log: list[QueueEvent] = []
        self.ids: list[str] = []
        self.completed: set[str] = set()

    # ---- helpers ----------------------------------------------------------------------

    def _ticket_id(self, pick: int) -> str:
        if not self.ids or pick % 7 == 0:
            return "20261125-Z999"  # unknown on purpose
        return self.ids[pick % len(self.ids)]

    def _raw(self) -> dict[str, Ticket]:
        return {t.id: t for t in self.engine.tickets()}

    def _run(self, op: Any, *args: Any, **kw: Any) -> Any:
        before = self.engine.snapshot()
        try:
            out = op(*args, **kw)
        except QueueError as err:
            assert err.code and err.message
            assert self.engine.snapshot() == before, f"refused {op.__name__} changed state"
            return None
        for e in out.events:
            assert decode_event(encode_event(e), SCHEMA_VERSION) == e
            tid = getattr(e, "ticket", None)
            if tid is None:
                continue
            assert tid not in self.completed, f"{kind_of(e)} after {tid} was completed"
            if isinstance(e, Completed):
                self.completed.add(tid)
            if isinstance(e, Issued):
                self.ids.append(tid)
        self.log.extend(out.events)
        return out

    # ---- rules ------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.0, 1.0, 30.0, 120.0, 120.0, 600.0, 3600.0, 5 * 3600.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule(
        service=st.one_of(st.sampled_from(["cash", "personal"]), st.sampled_from(SERVICES)),
        flags=FLAGS,
        tier=TIERS,
        appt=st.one_of(st.none(), st.floats(min_value=-1800, max_value=3600)),
        language=st.sampled_from(["zh", "en", "fr"]),
    )
    def issue(
        self, service: str, flags: list[str], tier: str | None, appt: float | None, language: str
    ) -> None:
        appointment_at = None if appt is None else self.now + appt
        self._run(
            self.engine.issue,
            service,
            flags=flags,
            vip_tier=tier,
            appointment_at=appointment_at,
            language=language,
        )

    @rule(counter=st.sampled_from(COUNTERS))
    def call_next(self, counter: str) -> None:
        out = self._run(self.engine.call_next, counter)
        if out is None:
            return
        raw = self._raw()
        called = raw[out.ticket.id]
        mine = (called.rank_at, called.arrival_at, called.seq)
        for t in raw.values():
            if (
                t.state is State.WAITING
                and t.cls == called.cls
                and t.service == called.service
                and t.cls != "appointment"  # appointment windows differ per booking
            ):
                assert (t.rank_at, t.arrival_at, t.seq) > mine, (
                    f"{called.number} called before older {t.number} of the same class"
                )

    @rule(op=st.sampled_from(["recall", "no_show", "start", "complete", "cancel"]), pick=PICK)
    def ticket_op(self, op: str, pick: int) -> None:
        self._run(getattr(self.engine, op), self._ticket_id(pick))

    @rule(pick=PICK, cls=st.sampled_from(["normal", "vip", "elderly", "urgent", "gold"]))
    def set_class(self, pick: int, cls: str) -> None:
        self._run(self.engine.set_class, self._ticket_id(pick), cls)

    @rule(pick=PICK, service=st.sampled_from(SERVICES))
    def transfer(self, pick: int, service: str) -> None:
        self._run(self.engine.transfer, self._ticket_id(pick), service)

    @rule(counter=st.sampled_from(COUNTERS), service=st.sampled_from(SERVICES))
    def walk_in(self, counter: str, service: str) -> None:
        self._run(self.engine.walk_in, counter, service)

    @rule(counter=st.sampled_from(COUNTERS), opened=st.booleans())
    def staffing(self, counter: str, opened: bool) -> None:
        op = self.engine.open_counter if opened else self.engine.close_counter
        self._run(op, counter)

    @rule()
    def close_day(self) -> None:
        self._run(self.engine.close_day)

    @precondition(lambda self: len(self.log) > 0)
    @rule()
    def restart(self) -> None:
        """A power cut: replay the stored events into a fresh engine and carry on with it."""
        rows = [encode_event(e) for e in self.log]
        stored = [e for r in rows if isinstance(e := decode_event(r, SCHEMA_VERSION), QueueEvent)]
        again = QueueEngine.restore(self.settings, lambda: self.now, stored)
        assert again.snapshot() == self.engine.snapshot()
        self.engine = again

    # ---- invariants -------------------------------------------------------------------

    @invariant()
    def one_state_per_ticket(self) -> None:
        snap = self.engine.snapshot()
        raw = self._raw()
        waiting = {tid for tid, t in raw.items() if t.state is State.WAITING}
        assert set(snap["waiting"]) == waiting
        held = {tid: cid for cid, tid in snap["at_counter"].items() if tid is not None}
        at_counter = {tid for tid, t in raw.items() if t.state in (State.CALLED, State.SERVING)}
        assert set(held) == at_counter
        assert len(held) == len([v for v in snap["at_counter"].values() if v is not None])
        for tid, t in raw.items():
            assert isinstance(t.state, State)
            assert (t.counter is not None) == (tid in held)
            if tid in held:
                assert held[tid] == t.counter

    @invariant()
    def closed_counters_hold_nobody(self) -> None:
        snap = self.engine.snapshot()
        for cid, is_open in snap["open"].items():
            assert is_open or snap["at_counter"][cid] is None

    @invariant()
    def numbers_unique_per_day(self) -> None:
        keys = Counter((t.day, t.number) for t in self.engine.tickets())
        assert all(n == 1 for n in keys.values())

    @invariant()
    def done_tickets_never_return(self) -> None:
        raw = self._raw()
        assert all(raw[tid].state is State.DONE for tid in self.completed)


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(
    max_examples=80,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
