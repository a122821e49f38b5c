"""Today's appointment book for the lobby manager: who is booked, who checked in, with what ticket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ui.view import appointment_counts, appointment_rows


class AppointmentsPane(Vertical):
    """Redraws from each `appointments` result; the customer hint never reaches this pane."""

    def compose(self) -> ComposeResult:
        yield Static("Appointments load when this tab opens (f5 refreshes).", id="appt-counts")
        table: DataTable[str] = DataTable(id="appointments", cursor_type="row", zebra_stripes=True)
        table.border_title = "Appointments today"
        yield table

    def on_mount(self) -> None:
        self.query_one("#appointments", DataTable).add_columns(
            "Number", "Window", "Service", "Class", "Status", "Ticket"
        )

    def fetching(self) -> None:
        """Say the book is being fetched (the rows stay until the answer comes)."""
        table: DataTable[str] = self.query_one("#appointments", DataTable)
        table.border_subtitle = "loading…"

    def show(self, data: Mapping[str, Any] | None) -> None:
        """Redraw from an `appointments` result's data: counts per status, then each booking."""
        table: DataTable[str] = self.query_one("#appointments", DataTable)
        table.clear()
        for r in appointment_rows(data):
            table.add_row(r.number, r.window, r.service, r.cls, r.status, r.ticket, key=r.number)
        day = (data or {}).get("day", "")
        table.border_title = f"Appointments {day}".strip()
        table.border_subtitle = f"{table.row_count} bookings" if table.row_count else "none"
        text = Text(appointment_counts(data), style="bold")
        if not table.row_count:
            text.append("  No bookings for this day.", style="dim")
        self.query_one("#appt-counts", Static).update(text)

    def failed(self, code: str, message: str) -> None:
        """The service could not list the book: say why here, and show no stale rows."""
        table: DataTable[str] = self.query_one("#appointments", DataTable)
        table.clear()
        table.border_subtitle = "not loaded"
        self.query_one("#appt-counts", Static).update(
            Text(f"Appointments failed: {code}: {message}", style="bold red")
        )
