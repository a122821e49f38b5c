"""A branch's day for central: waits per service and class from the queue's history, the
day's statistics (conversations, terminal deflection, turns per channel, model latency
sketches), never a customer field; sent by POST /api/v1/day and resent until acknowledged."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.day_aggregates import (
    bucket_of,
    model_latencies,
    queue_aggregates,
    sketch_percentile,
)
from edge.day_reports import DayOutbox
from edge.day_sketch import DaySketch
from edge.desk import QueueDesk
from edge.queue import QueueSettings
from edge.queue.day import day_start
from edge.queue.reports import percentile
from edge.service import Service
from edge.store import Store
from provisioning.central import wire
from provisioning.settings import CentralSettings
from tests.central_box import RealCentral
from tests.conftest import make_config
from tests.test_bundle_update_service import _turn
from tests.test_day_close import Clock, Out
from tests.wsclient import login

SETTINGS = QueueSettings()  # Asia/Shanghai
DAY, NEXT = "2025-11-25", "2025-11-26"
T0 = day_start(DAY, "Asia/Shanghai") + 10 * 3600  # 10:00 on the 25th
NAME, ID_NUMBER, MOBILE = "张伟", "110101199003071234", "13812345678"
CONVERSATION = "c0nv3rs4t10n-7f3a"
BOX, SECRET = "box-sh-012", "s3cr3t-0f-b0x-012"


# ------------------------------------------------------------------ the pure parts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=100_000.0), min_size=1, max_size=300),
       st.sampled_from([50, 90, 95, 99]))
def test_the_latency_sketch_reads_back_percentiles_within_five_percent(
        values: list[float], q: int) -> None:
    counts: dict[int, int] = {}
    for v in values:
        counts[bucket_of(v)] = counts.get(bucket_of(v), 0) + 1
    exact = percentile(values, q)
    assert exact is not None
    assert abs(sketch_percentile(counts, q) - exact) <= 0.05 * exact + 0.05
    assert len(counts) <= 130  # bounded, whatever the number of turns


def test_a_turns_stages_become_model_latencies() -> None:
    voice = {"stt_final": 420.0, "route": 15.0, "answer": 600.0, "first_audio": 780.0,
             "turn": 900.0}
    assert model_latencies("voice", voice) == {"stt": 420.0, "router": 15.0, "tts": 180.0,
                                               "turn": 900.0}
    streamed = {**voice, "first_audio": 500.0}  # spoken while the answer was being written
    assert "tts" not in model_latencies("voice", streamed)
    assert model_latencies("text", {"route": 8.0, "turn": 9.5}) == {"router": 8.0, "turn": 9.5}


async def _busy_morning(store: Store) -> QueueDesk:
    """Two normal tickets and one elderly ticket at 10:00, called after 2, 5 and 20 minutes."""
    clock = Clock(T0)
    desk = await QueueDesk.open(SETTINGS, store, Out(), clock)
    await desk.run("issue", "personal", origin="kiosk-1")
    await desk.run("issue", "personal", origin="kiosk-1")
    await desk.run("issue", "personal", flags=["elderly"], origin="kiosk-1")
    for counter, after in (("c1", 120), ("c2", 300), ("c3", 1200)):
        clock.now = T0 + after
        await desk.run("call_next", counter)
    return desk


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "data" / "branch.db")
    yield store
    await store.close()


async def test_waits_per_service_and_class_and_the_share_within_target(store: Store) -> None:
    desk = await _busy_morning(store)
    agg = queue_aggregates(desk.engine.tickets(), SETTINGS, DAY)
    assert agg.tickets == 3
    elderly, normal = agg.waits["personal"]["elderly"], agg.waits["personal"]["normal"]
    assert (elderly.served, elderly.p50_s, elderly.within_target) == (1, 120.0, 1.0)
    # normal: 300 s (within its 900 s target) and 1,200 s (not)
    assert (normal.served, normal.p50_s, normal.p90_s, normal.within_target) == (
        2, 300.0, 1200.0, 0.5)
    assert agg.within_target == round(2 / 3, 4)


# ------------------------------------------------------------------ a day with customers in it


async def _day_with_customers(store: Store) -> DaySketch:
    """A day whose store holds customer data: tickets, a transcript with a name, an ID
    number and a mobile; the day's statistics with a conversation id."""
    await _busy_morning(store)
    await store.add_transcripts([{"at": T0, "device": "kiosk-1", "turn": 1,
                                  "speaker": "customer", "intent": "account_open",
                                  "text": f"我叫{NAME}，身份证{ID_NUMBER}，手机{MOBILE}"}])
    sketch = DaySketch(store, SETTINGS.timezone, SETTINGS.day_rollover, Clock(T0 + 60))
    sketch.turn("text", {"route": 12.0, "turn": 30.0})
    sketch.turn("voice", {"stt_final": 400.0, "route": 15.0, "answer": 600.0,
                          "first_audio": 750.0, "turn": 900.0})
    sketch.conversation(CONVERSATION, "terminal")
    sketch.conversation("c2", "")
    sketch.conversation("c2", "ticket")
    sketch.conversation("c3", "")
    sketch.conversation("c3", "")
    return sketch


def _outbox(tmp_path: Path, store: Store, sketch: DaySketch, url: str = "",
            box_secret: str = SECRET) -> DayOutbox:
    secret = tmp_path / "secret"
    secret.write_text(box_secret)
    os.chmod(secret, 0o600)
    c = CentralSettings(url=url or "http://127.0.0.1:9", box_id=BOX, secret_file=str(secret),
                        connect_timeout_s=5.0)
    return DayOutbox(c, tmp_path / "data", store, sketch, SETTINGS, lambda: NEXT,
                     Clock(T0 + 86400))


async def test_a_day_report_carries_counts_and_never_a_customer(
        tmp_path: Path, store: Store) -> None:
    sketch = await _day_with_customers(store)
    report = await _outbox(tmp_path, store, sketch).compute(DAY)
    agg = report.aggregates
    assert report.day == DAY and report.box_id == BOX and agg.tickets == 3
    assert agg.conversations == 3 and agg.deflected == round(1 / 3, 4)
    assert agg.turns == {"text": 1, "voice": 1}
    assert agg.latency_ms["turn"]["n"] == 2 and agg.latency_ms["stt"]["n"] == 1
    assert abs(agg.latency_ms["stt"]["p50_ms"] - 400.0) <= 20.0
    assert abs(agg.latency_ms["tts"]["p50_ms"] - 150.0) <= 8.0
    text = wire.ENCODER.encode(report).decode()
    numbers = [t.number for t in (await _tickets(store))]
    assert numbers and all(len(n) >= 4 for n in numbers)
    for secret in (NAME, ID_NUMBER, MOBILE, CONVERSATION, "kiosk-1", "account_open",
                   *numbers, *(f"{DAY.replace('-', '')}-{n}" for n in numbers)):
        assert secret not in text, f"{secret!r} reached central"
    assert set(json.loads(text)) == {"type", "box_id", "day", "aggregates"}


async def _tickets(store: Store) -> list:  # type: ignore[type-arg]
    from edge.queue.engine import QueueEngine

    return QueueEngine.restore(SETTINGS, lambda: T0, await store.load_events(DAY)).tickets()


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[RealCentral]:
    """The real central; its SQLite store gives up on a lock after 0.2 s."""
    running = RealCentral(tmp_path, busy_timeout_s=0.2)
    try:
        yield await running.start()
    finally:
        await running.close()


async def test_a_closed_day_is_sent_and_resent_until_central_acknowledges_it(
        tmp_path: Path, store: Store, central: RealCentral) -> None:
    sketch = await _day_with_customers(store)
    secret = central.add_box(BOX)
    # central is struggling: another process holds its fleet database's write lock
    blocker = sqlite3.connect(central.store_path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        outbox = _outbox(tmp_path, store, sketch, central.url, secret)
        assert await outbox.collect() == [DAY]  # today (the 26th) is still open: not sent
        assert await outbox.send_all() == 0 and outbox.pending() == [DAY]
        assert "HTTP 500" in outbox.last_error
        assert secret not in outbox.last_error
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert central.store.days() == []
    # a restart: the computed report waits in the outbox, it is not computed again
    again = _outbox(tmp_path, store, sketch, central.url, secret)
    assert await again.collect() == [] and again.pending() == [DAY]
    await again.tick(T0 + 86400)
    assert again.pending() == []
    recorded = central.store.days()
    assert [(box_id, day) for box_id, day, _ in recorded] == [(BOX, DAY)]
    assert recorded[0][2] == (await again.compute(DAY)).aggregates
    assert await again.collect() == []  # acknowledged: never sent twice
    assert central.log.links(BOX) == 0  # the day went by POST /api/v1/day alone


async def test_a_wrong_secret_keeps_the_day_in_the_outbox(
        tmp_path: Path, store: Store, central: RealCentral) -> None:
    sketch = await _day_with_customers(store)
    central.add_box(BOX)
    outbox = _outbox(tmp_path, store, sketch, central.url, SECRET)  # not the box's secret
    await outbox.tick(T0 + 86400)
    assert outbox.pending() == [DAY] and "HTTP 401" in outbox.last_error
    assert SECRET not in outbox.last_error
    assert central.store.days() == []


async def test_the_service_counts_turns_conversations_and_latencies(tmp_path: Path) -> None:
    async with Service.open(make_config(tmp_path), demo=True) as service:
        assert service.address is not None and service.day_sketch is not None
        url = f"ws://{service.address[0]}:{service.address[1]}"
        kiosk = await login(url, "kiosk-1")
        await _turn(kiosk, 1, "我要办理个人业务，取个号")
        await kiosk.close()
        other = await login(url, "kiosk-2")
        await _turn(other, 1, "I want to check my balance")
        await other.close()
        today = service.day_sketch.day()
        conversations, deflected, turns, latency = await service.day_sketch.read(today)
    assert turns == {"text": 2}
    assert conversations == 2 and deflected == 1  # the balance: at the smart teller machine
    assert sum(latency["router"].values()) == 2 and sum(latency["turn"].values()) == 2
