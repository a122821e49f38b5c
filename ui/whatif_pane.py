"""What-if staffing for the lobby manager: type a change, see the next hour now and with it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from devices.result_payloads import WhatIfData, WhatIfGroup, WhatIfScenario
from ui.view import duration, percent

PLACEHOLDER = "open c6 · close c3 · serve c4 wealth · prefer c4 vip · break c2 20 (Enter)"
COLUMNS = ("", "Customers", "P50", "P90", "In target", "P50'", "P90'", "In target'")


def comparison_rows(base: Sequence[WhatIfGroup],
                    changed: Sequence[WhatIfGroup] | None) -> list[tuple[str, ...]]:
    """One row per service or class: now, then with the change (' columns) when there is one."""
    theirs = {g.key: g for g in changed or []}
    rows: list[tuple[str, ...]] = []
    for g in base:
        h = theirs.get(g.key)
        after: tuple[str, ...] = ("", "", "")
        if changed is not None:
            after = ("-", "-", "-") if h is None else (
                duration(h.p50_s), duration(h.p90_s), percent(h.within_target))
        rows.append((g.key, f"{g.customers:.1f}", duration(g.p50_s), duration(g.p90_s),
                     percent(g.within_target), *after))
    return rows


def summary_lines(data: WhatIfData) -> list[str]:
    """When the queue empties, which classes are late, the suggestion, the seed."""
    horizon = data.horizon_min

    def empties(s: WhatIfScenario) -> str:
        return (f"not within {horizon} min" if s.empty_at_s is None
                else f"in {duration(s.empty_at_s)}")

    changed = data.changed
    line = f"Queue empties now {empties(data.base)}"
    if changed is not None:
        line += f", with {'; '.join(changed.changes)} {empties(changed)}"
    lines = [line]
    late = data.late_classes
    if late:
        lines.append(f"Late now (p90 over target): {', '.join(late)}")
    if data.suggestion is not None:
        lines.append(f"Suggestion: {data.suggestion.text}")
    elif late:
        lines.append("No single change tried brings them within target.")
    lines.append(f"Next {horizon} min, {data.replications} runs, seed {data.seed} (audited)")
    return lines


class WhatIfPane(Vertical):
    """Sends `what_if` with the typed change and shows the service's comparison."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="whatif-bar"):
            yield Input(placeholder=PLACEHOLDER, id="whatif-change")
            yield Input(value="60", placeholder="min", id="whatif-minutes", type="integer")
        services: DataTable[str] = DataTable(id="whatif-services", cursor_type="none",
                                             zebra_stripes=True)
        services.border_title = "Per service (' = with the change)"
        yield services
        classes: DataTable[str] = DataTable(id="whatif-classes", cursor_type="none")
        classes.border_title = "Per priority class"
        yield classes
        yield Static("Type a change and press Enter; empty: the next hour as things are.",
                     id="whatif-summary")

    def on_mount(self) -> None:
        self.query_one("#whatif-services", DataTable).add_columns("Service", *COLUMNS[1:])
        self.query_one("#whatif-classes", DataTable).add_columns("Class", *COLUMNS[1:])

    def request(self) -> tuple[str, int | None]:
        """The change typed and the minutes asked for (None: the branch's default)."""
        change = self.query_one("#whatif-change", Input).value.strip()
        minutes = self.query_one("#whatif-minutes", Input).value.strip()
        return change, int(minutes) if minutes.isdigit() else None

    def running(self, change: str) -> None:
        """Say what is being simulated while the service works."""
        self.query_one("#whatif-summary", Static).update(
            Text(f"Simulating: {change or 'as things are'} …"))

    def show(self, data: WhatIfData) -> None:
        """Redraw from a `what_if` result's data."""
        changed = data.changed
        for table_id, base, other in (
            ("#whatif-services", data.base.services, changed.services if changed else None),
            ("#whatif-classes", data.base.classes, changed.classes if changed else None),
        ):
            table: DataTable[str] = self.query_one(table_id, DataTable)
            table.clear()
            for row in comparison_rows(base, other):
                table.add_row(*row)
        late = bool(data.late_classes)
        text = Text()
        for i, line in enumerate(summary_lines(data)):
            style = "bold yellow" if line.startswith("Suggestion") else (
                "red" if late and line.startswith("Late") else "")
            text.append(("\n" if i else "") + line, style=style)
        self.query_one("#whatif-summary", Static).update(text)

    def failed(self, code: str, message: str) -> None:
        """The service refused the change: say why in the pane."""
        self.query_one("#whatif-summary", Static).update(
            Text(f"What-if failed: {code}: {message}", style="bold red"))
