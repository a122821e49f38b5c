"""The queue's own views and the wire's payloads name the same fields (no silent drift)."""

from __future__ import annotations

import msgspec
import pytest

from devices.queue_payloads import Board, TicketInfo
from devices.result_payloads import ClassReportRow, ServiceReportRow
from edge.queue.engine import QueueEngine
from edge.queue.model import TicketView
from edge.queue.reports import ClassRow, ReportRow
from edge.queue.settings import QueueSettings


def _fields(cls: type[msgspec.Struct]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(cls)}


@pytest.mark.parametrize(("engine_side", "wire_side"), [
    (TicketView, TicketInfo), (ReportRow, ServiceReportRow), (ClassRow, ClassReportRow)])
def test_engine_structs_match_their_payloads(engine_side: type[msgspec.Struct],
                                             wire_side: type[msgspec.Struct]) -> None:
    assert _fields(engine_side) == _fields(wire_side)


def test_a_busy_board_converts_to_the_typed_board() -> None:
    now = [1_795_600_000.0]
    engine = QueueEngine(QueueSettings(), lambda: now[0])
    for service in ("personal", "cash", "personal", "fx"):
        engine.issue(service)
        now[0] += 30.0
    called = engine.call_next("c1")
    engine.start(called.ticket.id)
    board = msgspec.convert(engine.board(per_service=1), Board)
    assert board.waiting_per_service == 1 and sum(board.waiting_counts.values()) == 3
    assert [c.ticket for c in board.counters if c.ticket] == [called.ticket.number]
    assert board.counters[0].state == "serving"
    assert board.recent[0].number == called.ticket.number
    shown = [t.service for t in board.waiting]  # one per service with anyone waiting
    assert sorted(shown) == sorted(s for s, n in board.waiting_counts.items() if n)
