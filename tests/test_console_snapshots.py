"""Snapshot tests of the console's main screens, fed a recorded demo-branch session.

No live service here: the app gets the same messages a service sent (recorded from the demo
branch, times frozen) so every pixel is reproducible. Update after a deliberate change with
`pytest tests/test_console_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation
from textual.widgets import DataTable, Static

from devices.console_messages import Result
from devices.protocol import decode_server
from devices.result_payloads import WhatIfData
from ui.app import ConsoleApp
from ui.appointments_pane import AppointmentsPane
from ui.client import LinkStatus
from ui.search_report import KnowledgePane, ReportPane
from ui.side_panes import MAX_TURNS
from ui.whatif_pane import WhatIfPane

SNAPSHOTS = Path(__file__).parent / "snapshots"
FEED: dict[str, Any] = json.loads((SNAPSHOTS / "console_feed.json").read_text("utf-8"))


class ConsoleSVG(SVGImageExtension):
    """SVG snapshots kept under tests/snapshots/ (the house's place for them)."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / test_location.basename)


@pytest.fixture
def svg(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(ConsoleSVG)


async def screenshot(keys: tuple[str, ...], size: tuple[int, int],
                     link: LinkStatus | None = None, user: str = "teller-1") -> str:
    """Run the app headless, feed it the recorded session, press keys, return its SVG."""
    app = ConsoleApp("ws://127.0.0.1:8765", user, "unused", autoconnect=False, tz=UTC)
    async with app.run_test(size=size) as pilot:
        app.set_link(link or LinkStatus("online", counter="c1", branch=FEED["welcome_branch"]))
        app.handle(decode_server(json.dumps(FEED["snapshot"])))
        for turn in FEED["turns"]:
            app.handle(decode_server(json.dumps(turn)))
        app.query_one(KnowledgePane).show(FEED["kb_search"]["data"])
        app.query_one(ReportPane).show(FEED["report"]["data"])
        app.query_one(AppointmentsPane).show(FEED["appointments"]["data"])
        what_if = decode_server(json.dumps(FEED["what_if"]))
        assert isinstance(what_if, Result) and isinstance(what_if.data, WhatIfData)
        app.query_one(WhatIfPane).show(what_if.data)
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        return app.export_screenshot()


SCREENS = {
    "queue_100x30": (("1",), (100, 30)),
    "queue_80x24": (("1",), (80, 24)),
    "alerts_80x24": (("2",), (80, 24)),
    "kiosks_100x30": (("3",), (100, 30)),
    "knowledge_100x30": (("4",), (100, 30)),
    "report_100x30": (("5",), (100, 30)),
    "health_80x24": (("6",), (80, 24)),
    "appointments_80x24": (("7",), (80, 24)),
    "whatif_100x30": (("8",), (100, 30)),
    "help_80x24": (("question_mark",), (80, 24)),
    "ack_confirm_80x24": (("2", "a"), (80, 24)),
}


@pytest.mark.parametrize("name", list(SCREENS))
async def test_screen(name: str, svg: SnapshotAssertion) -> None:
    keys, size = SCREENS[name]
    assert await screenshot(keys, size) == svg


async def test_offline_status_line(svg: SnapshotAssertion) -> None:
    offline = LinkStatus("offline", "ConnectionRefusedError", attempt=3, retry_in_s=2.0)
    assert await screenshot(("1",), (80, 24), offline, user="manager") == svg


async def test_status_line_text_at_80_columns() -> None:
    """Not only pixels: the facts a teller needs are on the first line."""
    app = ConsoleApp("ws://127.0.0.1:8765", "teller-1", "unused", autoconnect=False, tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        app.set_link(LinkStatus("online", counter="c1", branch="branch"))
        app.handle(decode_server(json.dumps(FEED["snapshot"])))
        await pilot.pause()
        status = str(app.query_one("#status", Static).render())
        assert "ONLINE" in status and "teller-1 @ c1" in status and "2 alerts" in status


async def test_kiosk_turns_keep_the_latest_and_show_the_whole_text() -> None:
    app = ConsoleApp("ws://127.0.0.1:8765", "manager", "unused", autoconnect=False, tz=UTC)
    turn: dict[str, Any] = dict(FEED["turns"][0])
    async with app.run_test(size=(80, 24)) as pilot:
        for i in range(MAX_TURNS + 5):
            app.handle(decode_server(json.dumps({**turn, "turn": i, "text": f"turn {i} " * 9})))
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one("#turns", DataTable)
        assert table.row_count == MAX_TURNS
        assert table.get_row_at(0)[1] == "5"
        detail = str(app.query_one("#turn-detail", Static).render())
        assert detail.endswith(f"turn {MAX_TURNS + 4} ")
