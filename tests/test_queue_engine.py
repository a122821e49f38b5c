"""Queue engine operations: each rule, each refusal, numbering, restore."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from edge.queue import NoShowPolicy, QueueEngine, QueueError, QueueSettings, State
from edge.queue.events import (
    SCHEMA_VERSION,
    Called,
    ClassChanged,
    Completed,
    CounterClosed,
    Issued,
    NoShow,
    QueueEvent,
    Transferred,
    decode_event,
    encode_event,
    kind_of,
)
from edge.queue.settings import ClassSpec, CounterSpec, ServiceSpec

SH = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 11, 25, 9, 0, tzinfo=SH).timestamp()


class Clock:
    """Manual clock: tests move time explicitly."""

    def __init__(self, t: float = OPEN) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def tick(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(clock: Clock) -> QueueEngine:
    return QueueEngine(QueueSettings(), clock)


def test_issue_numbers_per_prefix_and_fields(engine: QueueEngine, clock: Clock) -> None:
    a1 = engine.issue("personal").ticket
    a2 = engine.issue("personal").ticket
    b1 = engine.issue("cash", language="en").ticket
    assert (a1.number, a2.number, b1.number) == ("A001", "A002", "B001")
    assert a1.id == "20261125-A001"
    assert (a1.cls, a1.state, b1.language) == ("normal", "waiting", "en")
    assert a2.people_ahead == 1  # A001 is ahead of it


def test_numbers_restart_each_business_day_in_branch_timezone(clock: Clock) -> None:
    engine = QueueEngine(QueueSettings(), clock)
    clock.t = datetime(2026, 11, 25, 23, 59, tzinfo=SH).timestamp()
    assert engine.issue("personal").ticket.number == "A001"
    assert engine.issue("personal").ticket.number == "A002"
    clock.t = datetime(2026, 11, 26, 0, 1, tzinfo=SH).timestamp()  # 16:01 UTC the day before
    nxt = engine.issue("personal").ticket
    assert (nxt.number, nxt.id) == ("A001", "20261126-A001")


def test_self_and_unknown_service_get_no_ticket(engine: QueueEngine) -> None:
    for service in ("mortgage", ""):
        with pytest.raises(QueueError) as err:
            engine.issue(service)
        assert err.value.code == "unknown_service"
    with pytest.raises(QueueError) as err:
        engine.issue("self")
    assert err.value.code == "self_service" and "terminal" in err.value.message
    assert engine.snapshot()["tickets"] == []


def test_close_day_empties_the_board(engine: QueueEngine, clock: Clock) -> None:
    served = engine.issue("cash").ticket
    called = engine.issue("cash").ticket
    waiting = engine.issue("fx").ticket
    engine.call_next("c1")
    engine.start(served.id)
    engine.call_next("c2")
    clock.tick(600)
    out = engine.close_day()
    states = {t.id: t.state for t in out.tickets}
    assert states == {served.id: "done", called.id: "cancelled", waiting.id: "cancelled"}
    board = engine.board()
    assert board["waiting"] == [] and all(c["ticket"] is None for c in board["counters"])
    assert engine.close_day().events == []


def test_urgent_jumps_queue_and_raises_alert(engine: QueueEngine, clock: Clock) -> None:
    engine.issue("personal")
    clock.tick(3600)  # an hour of waiting still loses to a fraud victim
    out = engine.issue("urgent", intent="fraud_report")
    assert out.ticket.cls == "urgent"
    assert out.alerts and out.alerts[0]["kind"] == "urgent_ticket"
    assert out.alerts[0]["number"] == out.ticket.number
    assert engine.issue("personal").alerts == []
    assert engine.call_next("c1").ticket.number == "U001"


def test_classes_from_flags_and_vip_tier(engine: QueueEngine) -> None:
    assert engine.issue("cash", flags=["pregnant"]).ticket.cls == "elderly"
    assert engine.issue("cash", flags=["disabled"]).ticket.cls == "elderly"
    assert engine.issue("wealth", vip_tier="vip_gold").ticket.cls == "vip_gold"
    assert engine.issue("cash", flags=["urgent"]).ticket.cls == "urgent"
    with pytest.raises(QueueError) as err:
        engine.issue("cash", vip_tier="platinum")
    assert err.value.code == "unknown_class"


def test_call_next_announces_and_two_counters_never_share(
    engine: QueueEngine, clock: Clock
) -> None:
    engine.issue("personal", language="en")
    engine.issue("personal")
    first = engine.call_next("c3")  # same instant for both counters
    second = engine.call_next("c1")
    assert first.ticket.number == "A001" and second.ticket.number == "A002"
    assert first.ticket.counter_number == 3 and first.ticket.state == "called"
    assert first.announcement is not None
    assert first.announcement.zh == "请A001号到3号窗口办理业务"
    assert first.announcement.text == "Ticket A001, please go to counter 3"
    with pytest.raises(QueueError) as err:
        engine.call_next("c2")
    assert err.value.code == "nothing_waiting"


def test_counter_only_calls_its_services(engine: QueueEngine) -> None:
    engine.issue("corporate")
    with pytest.raises(QueueError) as err:
        engine.call_next("c1")
    assert err.value.code == "nothing_waiting"
    assert engine.call_next("c6").ticket.service == "corporate"


def test_vip_counter_prefers_vip_but_takes_others(engine: QueueEngine, clock: Clock) -> None:
    engine.issue("personal")
    clock.tick(1300)
    engine.issue("personal", vip_tier="vip")
    clock.tick(1)  # normal 1301 vs vip 1200 + 1: branch-wide the normal is first
    assert engine.waiting()[0].cls == "normal"
    assert engine.call_next("c5").ticket.cls == "vip"  # + 900 preference bonus at c5
    engine.complete(engine.counter_ticket("c5").id)  # type: ignore[union-attr]
    assert engine.call_next("c5").ticket.cls == "normal"  # idle: takes others


def test_aging_lets_a_long_wait_pass_a_new_priority_ticket(
    engine: QueueEngine, clock: Clock
) -> None:
    engine.issue("cash")
    clock.tick(1300)  # 1300 > vip offset 1200 + 1 x 0
    engine.issue("cash", vip_tier="vip")
    assert engine.call_next("c1").ticket.cls == "normal"
    assert engine.call_next("c2").ticket.cls == "vip"


def test_busy_counter_and_unknown_counter(engine: QueueEngine) -> None:
    engine.issue("cash")
    engine.issue("cash")
    engine.call_next("c1")
    before = engine.snapshot()
    for counter, code in (("c1", "counter_busy"), ("c99", "unknown_counter")):
        with pytest.raises(QueueError) as err:
            engine.call_next(counter)
        assert err.value.code == code
    assert engine.snapshot() == before


def test_serve_flow_and_service_time_feeds_estimate(engine: QueueEngine, clock: Clock) -> None:
    t = engine.issue("cash").ticket
    engine.call_next("c1")
    clock.tick(30)
    assert engine.start(t.id).ticket.state == "serving"
    clock.tick(120)
    done = engine.complete(t.id).ticket
    assert done.state == "done" and done.counter is None
    assert engine.snapshot()["times"]["cash"] == [120.0]
    for _ in range(6):
        engine.issue("cash")
    for c in ("c1", "c2", "c3", "c4", "c5", "c6"):
        engine.call_next(c)
    waiting = engine.issue("cash").ticket
    # All six cash counters busy, nobody ahead: the first of six frees after 120 / 7 s.
    assert waiting.people_ahead == 0
    assert waiting.estimated_wait_s == pytest.approx(120.0 / 7)
    nxt = engine.issue("cash").ticket
    assert nxt.people_ahead == 1
    assert nxt.estimated_wait_s == pytest.approx(120.0 / 6 + 120.0 / 7)


def test_estimate_counts_a_specialist_backlog_once(engine: QueueEngine, clock: Clock) -> None:
    """Ten corporate tickets can only hold counter 6: cash behind them waits for 5 others."""
    for _ in range(10):
        engine.issue("corporate")
    cash = engine.issue("cash").ticket
    assert cash.people_ahead == 10
    # Corporate work (10 x 600 s) reaches cash only through counter 6: within a wait W it
    # takes at most W of it, so W = min(6000, W) / 6 settles at 0 with five counters free.
    assert cash.estimated_wait_s == pytest.approx(0.0, abs=1.0)
    corp = engine.issue("corporate").ticket
    # Its own counter: ten corporate services plus the cash ticket's 1/6 share of 240 s.
    assert corp.estimated_wait_s == pytest.approx(10 * 600.0 + 240.0 / 6)


def test_complete_requires_a_call(engine: QueueEngine) -> None:
    t = engine.issue("cash").ticket
    before = engine.snapshot()
    for op in (engine.complete, engine.start, engine.recall, engine.no_show):
        with pytest.raises(QueueError) as err:
            op(t.id)
        assert err.value.code == "bad_state"
        assert "B001" in err.value.message
    assert engine.snapshot() == before


def test_unknown_ticket(engine: QueueEngine) -> None:
    with pytest.raises(QueueError) as err:
        engine.cancel("20261125-Z999")
    assert err.value.code == "unknown_ticket"
    assert err.value.to_dict()["code"] == "unknown_ticket"


def test_recall_then_no_show_requeues_with_penalty(engine: QueueEngine, clock: Clock) -> None:
    t = engine.issue("cash").ticket
    engine.call_next("c1")
    r1 = engine.recall(t.id)
    assert r1.announcement is not None and r1.announcement.recall
    engine.recall(t.id)
    clock.tick(60)
    third = engine.recall(t.id)  # recalls_before_no_show = 2: this is the no-show
    assert third.announcement is None
    assert third.events == [NoShow(at=OPEN + 60, ticket=t.id, action="requeue", penalty_s=300.0)]
    assert third.ticket.state == "waiting"
    raw = next(x for x in engine.tickets() if x.id == t.id)
    assert raw.rank_at == raw.arrival_at + 300.0 and raw.requeues == 1
    assert engine.counter_ticket("c1") is None
    engine.call_next("c1")
    assert engine.no_show(t.id).ticket.state == "no_show"  # second no-show cancels


def test_no_show_cancel_policy(clock: Clock) -> None:
    settings = QueueSettings(no_show=NoShowPolicy(action="cancel"))
    engine = QueueEngine(settings, clock)
    t = engine.issue("cash").ticket
    engine.call_next("c2")
    assert engine.no_show(t.id).ticket.state == "no_show"


def test_penalised_ticket_ranks_behind_later_arrivals(engine: QueueEngine, clock: Clock) -> None:
    a = engine.issue("cash").ticket
    engine.call_next("c1")
    clock.tick(100)
    b = engine.issue("cash").ticket  # arrived 100 s after A; A's penalty is 300 s
    engine.no_show(a.id)
    assert engine.call_next("c2").ticket.id == b.id


def test_transfer_keeps_arrival_and_number(engine: QueueEngine, clock: Clock) -> None:
    t = engine.issue("personal").ticket
    engine.call_next("c1")
    engine.start(t.id)
    clock.tick(200)
    later = engine.issue("fx").ticket
    moved = engine.transfer(t.id, "fx").ticket
    assert (moved.number, moved.service, moved.state, moved.counter) == (
        "A001",
        "fx",
        "waiting",
        None,
    )
    assert engine.counter_ticket("c1") is None
    assert engine.call_next("c2").ticket.id == t.id  # older arrival first
    assert engine.ticket(later.id).people_ahead == 0


def test_transfer_refusals_change_nothing(engine: QueueEngine) -> None:
    t = engine.issue("cash").ticket
    before = engine.snapshot()
    for service, code in (("cash", "same_service"), ("self", "self_service")):
        with pytest.raises(QueueError) as err:
            engine.transfer(t.id, service)
        assert err.value.code == code
    engine.cancel(t.id)
    after_cancel = engine.snapshot()
    with pytest.raises(QueueError) as err:
        engine.transfer(t.id, "fx")
    assert err.value.code == "bad_state"
    assert engine.snapshot() == after_cancel != before


def test_cancel_waiting_and_called(engine: QueueEngine) -> None:
    a = engine.issue("cash").ticket
    b = engine.issue("cash").ticket
    engine.call_next("c1")
    assert engine.cancel(a.id).ticket.state == "cancelled"
    assert engine.counter_ticket("c1") is None
    assert engine.cancel(b.id).ticket.state == "cancelled"
    assert engine.waiting() == []


def test_walk_in_is_numbered_and_served_at_once(engine: QueueEngine) -> None:
    engine.issue("cash")
    out = engine.walk_in("c2", "cash", language="en")
    assert out.ticket.number == "B002" and out.ticket.state == "serving"
    assert [kind_of(e) for e in out.events] == ["issued", "called", "started"]
    assert isinstance(out.events[0], Issued) and out.events[0].walk_in
    before = engine.snapshot()
    for counter, service, code in (
        ("c2", "cash", "counter_busy"),
        ("c1", "corporate", "not_served_here"),
        ("c1", "self", "self_service"),
    ):
        with pytest.raises(QueueError) as err:
            engine.walk_in(counter, service)
        assert err.value.code == code
    assert engine.snapshot() == before


def test_appointment_priority_inside_window(engine: QueueEngine, clock: Clock) -> None:
    old = engine.issue("loan").ticket
    clock.tick(1500)
    recent = engine.issue("loan").ticket
    due = clock.t + 900  # booked for 15 minutes from now: window opens in 5
    appt = engine.issue("loan", appointment_at=due).ticket
    assert appt.cls == "appointment"
    clock.tick(299)  # before the window: plain arrival order
    assert [t.id for t in engine.waiting()] == [old.id, recent.id, appt.id]
    clock.tick(1)  # window open: max(300, 1200 + 0) passes the recent 300, not the old 1800
    assert [t.id for t in engine.waiting()] == [old.id, appt.id, recent.id]
    clock.tick(3600)  # every class ages at rate 1: the gaps never close
    assert [t.id for t in engine.waiting()] == [old.id, appt.id, recent.id]
    late = engine.issue("loan", appointment_at=clock.t - 1000).ticket  # over 15 min late
    assert late.cls == "normal"


def test_board_snapshot(engine: QueueEngine, clock: Clock) -> None:
    engine.issue("cash")
    engine.issue("personal", flags=["elderly"])
    engine.issue("fx")
    engine.call_next("c4")
    clock.tick(90)
    board = engine.board()
    json.dumps(board)
    c4 = next(c for c in board["counters"] if c["id"] == "c4")
    assert c4["ticket"] == "A001" and c4["state"] == "called" and c4["number"] == 4
    assert board["recent"][0]["number"] == "A001"
    assert board["waiting_counts"]["cash"] == 1 and board["waiting_counts"]["fx"] == 1
    assert [w["number"] for w in board["waiting"]] == ["B001", "C001"]
    assert board["waiting"][0]["waited_s"] == pytest.approx(90.0)
    assert board["waiting"][1]["people_ahead"] == 1
    assert engine.find("b001").state == "waiting"


def test_events_survive_their_encoding_and_restore_rebuilds_identical_state(
    engine: QueueEngine, clock: Clock
) -> None:
    log = []
    log += engine.issue("cash").events
    log += engine.issue("urgent").events
    log += engine.issue("wealth", vip_tier="vip").events
    clock.tick(60)
    c = engine.call_next("c5")
    log += c.events
    log += engine.start(c.ticket.id).events
    clock.tick(300)
    log += engine.complete(c.ticket.id).events
    log += engine.call_next("c1").events
    log += engine.recall(engine.counter_ticket("c1").id).events  # type: ignore[union-attr]
    log += engine.walk_in("c2", "fx").events
    log += engine.transfer(engine.counter_ticket("c2").id, "cash").events  # type: ignore[union-attr]
    rows = [encode_event(e) for e in log]
    assert all({"kind", "at"} <= json.loads(row).keys() for row in rows)
    stored = [e for row in rows if isinstance(e := decode_event(row, SCHEMA_VERSION), QueueEvent)]
    assert stored == log
    again = QueueEngine.restore(QueueSettings(), clock, stored)
    assert again.snapshot() == engine.snapshot()
    assert again.issue("cash").ticket.number == engine.issue("cash").ticket.number == "B002"


def test_apply_refuses_events_that_do_not_fit(engine: QueueEngine) -> None:
    t = engine.issue("cash").ticket
    before = engine.snapshot()
    bad = [
        Completed(at=OPEN, ticket=t.id),
        {"kind": "teleported", "at": OPEN, "ticket": t.id},
        Called(at=OPEN, ticket=t.id, counter="c99"),
        Called(at=OPEN, ticket="nope", counter="c1"),
        Transferred(at=OPEN, ticket=t.id, service="astrology"),
    ]
    for event in bad:
        with pytest.raises(QueueError) as err:
            engine.apply(event)  # type: ignore[arg-type]  # the dict: an untyped caller
        assert err.value.code == "bad_event"
    assert engine.snapshot() == before


def test_settings_refused_at_construction(clock: Clock) -> None:
    broken = QueueSettings(
        services=[ServiceSpec(id="cash", prefix="B", name_zh="现金", name_en="Cash")],
        counters=[CounterSpec(id="c1", number=1, services=["cash", "gold"])],
        classes=[
            ClassSpec(id=c, offset_s=0, rate=1, target_wait_s=60)
            for c in ("urgent", "elderly", "appointment", "normal")
        ],
    )
    with pytest.raises(ValueError, match="counter 'c1' names unknown service 'gold'"):
        QueueEngine(broken, clock)


def test_state_is_enum_and_views_are_structs(engine: QueueEngine) -> None:
    t = engine.issue("cash").ticket
    assert msgspec.to_builtins(t)["state"] == State.WAITING.value


def test_closed_counter_cannot_call_and_estimates_drop_it(
    engine: QueueEngine, clock: Clock
) -> None:
    for _ in range(6):
        engine.issue("cash")
    waiting = [t.id for t in engine.waiting()]
    before = engine.ticket(waiting[-1]).estimated_wait_s
    out = engine.close_counter("c1")
    assert out.tickets == [] and out.events == [CounterClosed(at=OPEN, counter="c1")]
    after = engine.ticket(waiting[-1]).estimated_wait_s
    assert before is not None and after is not None
    assert after == pytest.approx(before * 6 / 5)  # five counters share the same work
    snap = engine.snapshot()
    for op, code in (
        (lambda: engine.call_next("c1"), "counter_closed"),
        (lambda: engine.walk_in("c1", "cash"), "counter_closed"),
        (lambda: engine.close_counter("c1"), "bad_state"),
    ):
        with pytest.raises(QueueError) as err:
            op()
        assert err.value.code == code
    assert engine.snapshot() == snap
    assert next(c for c in engine.board()["counters"] if c["id"] == "c1")["open"] is False
    engine.open_counter("c1")
    assert engine.call_next("c1").ticket.counter_number == 1


def test_counter_with_a_customer_cannot_close(engine: QueueEngine) -> None:
    engine.issue("cash")
    engine.call_next("c2")
    with pytest.raises(QueueError) as err:
        engine.close_counter("c2")
    assert err.value.code == "counter_busy"
    with pytest.raises(QueueError) as err:
        engine.open_counter("c2")
    assert err.value.code == "counter_busy"


def test_counter_closed_at_start_by_settings(clock: Clock) -> None:
    base = QueueSettings()
    counters = [msgspec.structs.replace(c, open_at_start=c.id != "c6") for c in base.counters]
    engine = QueueEngine(msgspec.structs.replace(base, counters=counters), clock)
    engine.issue("corporate")
    with pytest.raises(QueueError) as err:
        engine.call_next("c6")
    assert err.value.code == "counter_closed"
    engine.open_counter("c6")
    assert engine.call_next("c6").ticket.service == "corporate"


def test_business_day_follows_configured_timezone(clock: Clock) -> None:
    clock.t = datetime(2026, 11, 26, 1, 0, tzinfo=SH).timestamp()  # 17:00 UTC on the 25th
    shanghai = QueueEngine(QueueSettings(), clock)
    utc = QueueEngine(msgspec.structs.replace(QueueSettings(), timezone="UTC"), clock)
    assert shanghai.issue("cash").ticket.id == "20261126-B001"
    assert utc.issue("cash").ticket.id == "20261125-B001"
    log = utc.snapshot()["tickets"]
    assert log[0]["day"] == "2026-11-25"


def test_set_class_reorders_by_original_arrival(engine: QueueEngine, clock: Clock) -> None:
    first = engine.issue("cash").ticket
    clock.tick(60)
    second = engine.issue("cash").ticket
    out = engine.set_class(second.id, "elderly")
    assert out.ticket.cls == "elderly"
    assert out.events == [ClassChanged(at=OPEN + 60, ticket=second.id, cls="elderly", from_cls="normal")]
    assert out.alerts == []
    assert [t.id for t in engine.waiting()] == [second.id, first.id]
    assert engine.set_class(first.id, "urgent").alerts[0]["kind"] == "urgent_ticket"
    before = engine.snapshot()
    for cls, code in (("urgent", "same_class"), ("platinum", "unknown_class")):
        with pytest.raises(QueueError) as err:
            engine.set_class(first.id, cls)
        assert err.value.code == code
    assert engine.snapshot() == before
    engine.call_next("c1")
    with pytest.raises(QueueError) as err:
        engine.set_class(first.id, "vip")
    assert err.value.code == "bad_state"
