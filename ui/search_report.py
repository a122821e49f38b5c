"""Knowledge-hub search with sources, and today's report with a small chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Sparkline, Static

from ui.view import (
    duration,
    guidance_lines,
    hourly_issued,
    passage_lines,
    percent,
    report_lines,
)


class KnowledgePane(Vertical):
    """Staff search the branch's documents; every passage names its source and version."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search the knowledge hub (Enter)…", id="kb-input")
        with VerticalScroll(id="kb-scroll"):
            yield Static("Type a question and press Enter.", id="kb-results")

    def searching(self, query: str) -> None:
        """Say what is being searched while the service works."""
        self.query_one("#kb-results", Static).update(Text(f"Searching: {query} …"))

    def show(self, data: Mapping[str, Any] | None) -> None:
        """Render the `kb_search` result's passages, or say there were none."""
        passages: Sequence[Mapping[str, Any]] = (data or {}).get("passages", [])
        text = Text()
        if not passages:
            text.append("No passage matched.")
        for i, p in enumerate(passages, 1):
            for j, line in enumerate(passage_lines(p, i)):
                style = ("bold" if j == 0 else "dim" if j == 1
                         else "yellow" if line.lstrip().startswith("⚠") else "")
                text.append(line + "\n", style=style)
        self.query_one("#kb-results", Static).update(text)
        self.query_one("#kb-scroll", VerticalScroll).scroll_home(animate=False)

    def show_guidance(self, data: Mapping[str, Any]) -> None:
        """A called ticket's operation guidance and risk flags (from `call_next`)."""
        text = Text()
        for line, style in guidance_lines(data):
            text.append(line + "\n", style=style)
        self.query_one("#kb-results", Static).update(text)
        self.query_one("#kb-scroll", VerticalScroll).scroll_home(animate=False)

    def failed(self, code: str, message: str) -> None:
        """Show the service's refusal in the pane itself, not only as a toast."""
        self.query_one("#kb-results", Static).update(
            Text(f"Search failed: {code}: {message}", style="bold red"))


class ReportPane(Vertical):
    """Waits and service levels per service and per class; arrivals per hour as a sparkline."""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="report-services", cursor_type="none",
                                          zebra_stripes=True)
        table.border_title = "Today per service"
        yield table
        classes: DataTable[str] = DataTable(id="report-classes", cursor_type="none")
        classes.border_title = "Per priority class"
        yield classes
        yield Static("", id="report-caption")
        yield Sparkline([], id="report-chart")

    def on_mount(self) -> None:
        self.query_one("#report-services", DataTable).add_columns(
            "Service", "Issued", "Served", "Avg", "P90", "In target", "", "No-show")
        self.query_one("#report-classes", DataTable).add_columns(
            "Class", "Target", "Called", "P50", "P90", "In target")

    def show(self, data: Mapping[str, Any] | None) -> None:
        """Redraw from a `report` result's data (services per hour and per day, classes)."""
        data = data or {}
        services: Sequence[Mapping[str, Any]] = data.get("services", [])
        table: DataTable[str] = self.query_one("#report-services", DataTable)
        table.clear()
        for r in report_lines(services):
            table.add_row(r.service, str(r.issued), str(r.served), r.avg_wait, r.p90_wait,
                          r.within, r.chart, str(r.no_shows))
        table.border_title = f"Report {data.get('day', '')} per service"
        classes: DataTable[str] = self.query_one("#report-classes", DataTable)
        classes.clear()
        for c in data.get("classes", []):
            classes.add_row(str(c.get("cls", "")), duration(c.get("target_wait_s")),
                            str(c.get("called", 0)), duration(c.get("p50_wait_s")),
                            duration(c.get("p90_wait_s")), percent(c.get("within_target")))
        hours = hourly_issued(services)
        caption = ("Arrivals per hour " + " ".join(f"{h:02d}h:{n}" for h, n in hours)
                   if hours else "No tickets yet today.")
        self.query_one("#report-caption", Static).update(Text(caption, style="dim"))
        self.query_one("#report-chart", Sparkline).data = [float(n) for _, n in hours]

    def failed(self, code: str, message: str) -> None:
        """The service could not report: say why where the report would be."""
        self.query_one("#report-caption", Static).update(
            Text(f"Report failed: {code}: {message}", style="bold red"))
