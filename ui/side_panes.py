"""Alerts awaiting second verification, live kiosk conversations, and service health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any, ClassVar

import msgspec
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from devices.console_messages import Alert, TurnLog
from ui.view import alert_line, clock_time, health_rows, timings

MAX_TURNS = 200


class AlertsPane(Vertical):
    """Open alerts, most urgent first; acknowledging one is a command, never a local dismissal."""

    SEVERITY_ORDER: ClassVar[dict[str, int]] = {"urgent": 0, "warning": 1, "info": 2}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        table.border_title = "Alerts needing acknowledgement"
        yield table
        yield Static("", id="alert-detail")

    def on_mount(self) -> None:
        self.query_one("#alerts", DataTable).add_columns(
            "Severity", "At", "Kind", "Ticket", "Where", "Alert")

    def show(self, alerts: Iterable[Alert], tz: tzinfo | None = None) -> None:
        """Redraw from the open alerts the app holds (as the service last described them)."""
        table: DataTable[str] = self.query_one("#alerts", DataTable)
        table.clear()
        ordered = sorted(alerts, key=lambda a: (self.SEVERITY_ORDER.get(a.severity, 3), a.at))
        for a in ordered:
            table.add_row(a.severity.upper(), clock_time(a.at, tz), a.kind, a.ticket or "-",
                          a.device or "-", a.text, key=a.alert)
        table.border_subtitle = f"{table.row_count} open" if ordered else "none open"
        self._texts = {a.alert: alert_line(msgspec.to_builtins(a)) for a in ordered}
        self._detail(self.selected())

    def _detail(self, alert_id: str | None) -> None:
        text = self._texts.get(alert_id or "", "")
        self.query_one("#alert-detail", Static).update(
            Text(f"{text} · a: ack" if text else "No open alerts.", style="bold"))

    @on(DataTable.RowHighlighted, "#alerts")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The table cuts long texts at 80 columns: the line below shows the whole alert."""
        self._detail(self.selected())  # the cursor now; the event may describe an older row

    def selected(self) -> str | None:
        """The highlighted alert id, or the first (most urgent) one."""
        table: DataTable[str] = self.query_one("#alerts", DataTable)
        if table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), table.row_count - 1)
        key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return key


class KiosksPane(Vertical):
    """Kiosk turns as they happen, already masked by the service, with per-turn latency."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[str, str] = {}
        self._serial = 0

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="turns", cursor_type="row", zebra_stripes=True)
        table.border_title = "Live kiosk conversations (masked)"
        yield table
        yield Static("", id="turn-detail")

    def on_mount(self) -> None:
        self.query_one("#turns", DataTable).add_columns(
            "Kiosk", "#", "Who", "Intent", "ms", "Text (masked)")

    def add(self, turn: TurnLog) -> None:
        """Append one turn, keeping the last MAX_TURNS and following the newest."""
        table: DataTable[str] = self.query_one("#turns", DataTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        self._serial += 1
        key = str(self._serial)
        table.add_row(turn.device, str(turn.turn), turn.speaker, turn.intent or "-",
                      timings(turn.timings_ms), turn.text, key=key)
        while table.row_count > MAX_TURNS:
            first = table.coordinate_to_cell_key(Coordinate(0, 0)).row_key
            table.remove_row(first)
            self._texts.pop(first.value or "", None)
        self._texts[key] = f"{turn.device} {turn.speaker}: {turn.text}"
        if follow:
            table.move_cursor(row=table.row_count - 1, animate=False)
            self._detail(key)
        table.border_subtitle = f"{table.row_count} turns"

    def _detail(self, key: str | None) -> None:
        self.query_one("#turn-detail", Static).update(Text(self._texts.get(key or "", "")))

    @on(DataTable.RowHighlighted, "#turns")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Long turns are cut in the table: the line below shows the whole (masked) text."""
        table: DataTable[str] = self.query_one("#turns", DataTable)
        if table.row_count:  # the cursor now, not the event's row: events lag behind trims
            row = min(max(table.cursor_row, 0), table.row_count - 1)
            self._detail(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)


class HealthPane(Vertical):
    """Model, bundle and service health as the service reports it, plus this console's link."""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="health", cursor_type="none", zebra_stripes=True)
        table.border_title = "Health and versions"
        yield table

    def on_mount(self) -> None:
        self.query_one("#health", DataTable).add_columns("Item", "Value")

    def show(self, health: Mapping[str, Any], console: Mapping[str, Any]) -> None:
        """Redraw: the service's `health` object (its bundle first: what runs, what waits
        to switch and why), then this console's own facts."""
        table: DataTable[str] = self.query_one("#health", DataTable)
        table.clear()
        rows = health_rows(health)
        for key, value in sorted(rows, key=lambda row: not row[0].startswith("bundle.")):
            table.add_row(key, value)
        for key, value in health_rows(console):
            table.add_row(f"console.{key}", value)
