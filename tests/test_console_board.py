"""A console snapshot stays small with thousands waiting: the head of each service's queue,
every count, each service's longest wait."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import DataTable

from devices.protocol import decode_server, encode
from edge.config import ConfigError
from edge.queue.engine import QueueEngine
from edge.queue.events import QueueEvent
from edge.queue.model import QueueError
from edge.queue.settings import QueueSettings
from edge.service import Service
from tests.conftest import make_config
from tests.test_console_pilot import until
from tests.wsclient import login, recv_until
from ui.app import ConsoleApp
from ui.client import LinkStatus

SERVICES = ("personal", "cash", "fx", "loan", "urgent")
START = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()

arrivals = st.lists(
    st.tuples(
        st.sampled_from(SERVICES),
        st.sampled_from([None, "elderly", "vip"]),
        st.floats(min_value=0.0, max_value=600.0),  # seconds after the previous arrival
        st.booleans(),  # a counter calls next right after
    ),
    max_size=60,
)


@given(arrivals, st.integers(min_value=0, max_value=6))
def test_the_head_of_each_queue_is_what_the_whole_board_lists_first(
    steps: list[tuple[str, str | None, float, bool]], per_service: int
) -> None:
    now = [START]
    engine = QueueEngine(QueueSettings(), lambda: now[0])
    for i, (service, care, gap, call) in enumerate(steps):
        now[0] += gap
        engine.issue(
            service,
            flags=[care] if care == "elderly" else [],
            vip_tier=care if care == "vip" else None,
        )
        counter = f"c{i % 6 + 1}"
        if call and engine.counter_ticket(counter) is None:
            with contextlib.suppress(QueueError):
                engine.call_next(counter)
    now[0] += 60.0
    whole = engine.board()
    head = engine.board(per_service)
    everyone = whole["waiting"]
    if per_service == 0:
        assert head == whole and head["waiting_per_service"] is None
    else:
        assert head["waiting_per_service"] == per_service
        kept = {s: [v for v in everyone if v["service"] == s][:per_service] for s in SERVICES}
        # Same tickets, same call order, same people ahead and estimates as the whole board.
        assert head["waiting"] == [v for v in everyone if v in kept[v["service"]]]
    assert head["waiting_counts"] == whole["waiting_counts"]
    assert sum(head["waiting_counts"].values()) == len(everyone)
    for s in SERVICES:
        waits = [v["waited_s"] for v in everyone if v["service"] == s]
        assert head["longest_wait_s"].get(s) == (max(waits) if waits else None)


def test_a_negative_limit_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="console_waiting_per_service"):
        make_config(tmp_path, **{"server.console_waiting_per_service": -1})


async def test_a_console_gets_the_head_of_a_long_queue_and_says_how_many_wait(
    tmp_path: Path,
) -> None:
    service = Service(make_config(tmp_path, **{"server.console_waiting_per_service": 3}), demo=True)
    host, port = await service.start()
    try:
        desk = service.desk
        assert desk is not None
        for _ in range(10):
            await desk.run("issue", "personal")
        for _ in range(2):
            await desk.run("issue", "cash")
        staff = await login(f"ws://{host}:{port}", "manager")
        snap = await recv_until(staff, "snapshot")
        await staff.close()
        board = snap["board"]
        assert [v["number"] for v in board["waiting"]] == ["A001", "A002", "A003", "B001", "B002"]
        assert board["waiting_counts"]["personal"] == 10 and board["waiting_counts"]["cash"] == 2
        assert board["waiting_per_service"] == 3
        assert set(board["longest_wait_s"]) == {"personal", "cash"}
        assert snap["health"]["waiting"] == 12
        app = ConsoleApp(f"ws://{host}:{port}", "manager", "unused", autoconnect=False)
        async with app.run_test(size=(100, 30)) as pilot:
            app.set_link(LinkStatus("online", branch="b"))
            app.handle(decode_server(json.dumps(snap)))
            table: DataTable[str] = app.query_one("#waiting", DataTable)
            await until(pilot, lambda: table.row_count == 5)
            assert table.border_subtitle == "5 of 12 waiting"
            services = app.query_one("#services", DataTable)
            assert [str(services.get_row_at(i)[1]) for i in range(2)] == ["10", "2"]
    finally:
        await service.stop()


async def test_the_snapshot_stays_small_with_thousands_waiting(tmp_path: Path) -> None:
    service = Service(make_config(tmp_path), demo=True)
    await service.start()
    try:
        desk = service.desk
        assert desk is not None
        rnd = random.Random(7)
        events: list[QueueEvent] = []
        for _ in range(3000):
            events += desk.engine.issue(rnd.choice(["personal", "cash", "fx", "loan"])).events
        await desk.store.append_events(desk.engine.day_of(desk.clock()), events)
        snap = service.console_snapshot()
        size = len(encode(snap).encode())
        assert len(snap.board.waiting) == 4 * 50
        assert sum(snap.board.waiting_counts.values()) == 3000
        assert size < 80_000, size  # every ticket would be ~650 KB
        assert json.loads(encode(snap))["board"]["waiting_per_service"] == 50
    finally:
        await service.stop()
