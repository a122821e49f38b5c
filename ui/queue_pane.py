"""The live queue board: counters and what each serves, waiting per service, each ticket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable

from ui.view import counter_label, counter_state, service_summary, waiting_rows, waiting_shown


def _keep_cursor(table: DataTable[str], key: str | None) -> None:
    """Put the cursor back on the row it was on before a redraw, if that row still exists."""
    if key is None:
        return
    try:
        table.move_cursor(row=table.get_row_index(key), animate=False)
    except Exception:  # the row went away (ticket called elsewhere): leave the cursor be
        return


def _cursor_key(table: DataTable[str]) -> str | None:
    if table.row_count == 0:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:
        return None
    return key


class QueuePane(Vertical):
    """Redraws from each board the service sends; owns no queue state of its own."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="queue-top"):
            with Vertical(id="queue-left"):
                counters: DataTable[str] = DataTable(id="counters", cursor_type="row",
                                                     zebra_stripes=True)
                counters.border_title = "Counters"
                yield counters
                services: DataTable[str] = DataTable(id="services", cursor_type="none")
                services.border_title = "Waiting per service"
                yield services
            waiting: DataTable[str] = DataTable(id="waiting", cursor_type="row",
                                                zebra_stripes=True)
            waiting.border_title = "Waiting (call order)"
            yield waiting

    def on_mount(self) -> None:
        self.query_one("#counters", DataTable).add_columns("Counter", "State", "Ticket")
        self.query_one("#services", DataTable).add_columns("Service", "Wait", "Longest")
        self.query_one("#waiting", DataTable).add_columns(
            "Ticket", "Service", "Class", "Waited", "Ahead", "Est")

    def show(self, board: Mapping[str, Any], counters: Sequence[Mapping[str, Any]],
             mine: str | None) -> None:
        """Redraw every table from a snapshot's board and counters (the service may send only
        the head of each service's queue: the subtitle then says how many wait in all)."""
        table: DataTable[str] = self.query_one("#counters", DataTable)
        at = _cursor_key(table) or mine
        table.clear()
        for row in counters:
            label = counter_label(row)
            if row.get("id") == mine:
                label = f"▶{label}"
            table.add_row(label, counter_state(row), str(row.get("ticket") or "-"),
                          key=str(row.get("id")))
        _keep_cursor(table, at)
        services: DataTable[str] = self.query_one("#services", DataTable)
        services.clear()
        for service, count, longest in service_summary(board):
            services.add_row(service, str(count), longest, key=service)
        waiting: DataTable[str] = self.query_one("#waiting", DataTable)
        at = _cursor_key(waiting)
        waiting.clear()
        for w in waiting_rows(board):
            waiting.add_row(w.number, w.service, w.cls, w.waited, w.ahead, w.estimate,
                            key=w.number)
        _keep_cursor(waiting, at)
        waiting.border_subtitle = waiting_shown(board)

    def selected_counter(self) -> str | None:
        """The counter highlighted in the Counters table (for a manager without a counter)."""
        return _cursor_key(self.query_one("#counters", DataTable))

    def selected_ticket(self) -> str | None:
        """The waiting ticket highlighted, but only while the Waiting table has focus."""
        waiting: DataTable[str] = self.query_one("#waiting", DataTable)
        return _cursor_key(waiting) if waiting.has_focus else None
