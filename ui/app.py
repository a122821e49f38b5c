"""The staff console: a Textual app over `ConsoleClient`, the lobby manager's cockpit."""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any, ClassVar

import msgspec
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from devices.console_messages import Alert, ConsoleSnapshot, QueueUpdate, Result, TurnLog
from devices.message_base import Message
from devices.protocol import PROTOCOL_VERSION
from devices.result_payloads import GuidanceData, SearchData, WhatIfData
from devices.session_messages import Bye, Error
from ui.appointments_pane import AppointmentsPane
from ui.client import ConsoleClient, LinkStatus, Reply
from ui.dialogs import HelpScreen, PasswordScreen
from ui.queue_pane import QueuePane
from ui.search_report import KnowledgePane, ReportPane
from ui.side_panes import AlertsPane, HealthPane, KiosksPane
from ui.staff_actions import (
    ask_ack_alert,
    ask_cancel,
    ask_pair_device,
    ask_priority,
    ask_transfer,
    ask_walk_in,
)
from ui.view import alert_line, status_line
from ui.whatif_pane import WhatIfPane

TABS = ("queue", "alerts", "kiosks", "knowledge", "report", "health", "appointments", "whatif")
REFRESH_DEBOUNCE_S = 0.3
REFRESH_EVERY_S = 10.0  # waited times tick even when nothing happens


class ConsoleApp(App[None]):
    """Shows what the service pushes and sends staff actions; owns no business state."""

    CSS_PATH = "console.tcss"
    TITLE = "Branch Teller console"
    ENABLE_COMMAND_PALETTE = False  # its footer slot is worth more to `? Help` at 80 columns
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "queue('call_next')", "Next"),
        Binding("r", "queue('recall')", "Recall"),
        Binding("x", "queue('no_show')", "No-show"),
        Binding("s", "queue('start')", "Start", show=False),
        Binding("d", "queue('complete')", "Done"),
        Binding("t", "transfer", "Transfer"),
        Binding("c", "cancel_ticket", "Cancel", show=False),
        Binding("w", "walk_in", "Walk-in", show=False),
        Binding("p", "priority", "Class"),
        Binding("a", "ack_alert", "Ack"),
        Binding("P", "pair_device", "Pair device", show=False),
        Binding("slash", "search", "Search", show=False),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        *(Binding(str(i), f"show_tab('{tab}')", tab.title(), show=False)
          for i, tab in enumerate(TABS, 1)),
    ]

    def __init__(self, url: str, user: str, credential: str, counter: str | None = None, *,
                 autoconnect: bool = True, command_timeout_s: float = 10.0,
                 tz: tzinfo | None = None, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.url = url
        self.user = user
        self.counter = counter
        self.autoconnect = autoconnect
        self.tz = tz  # None: the terminal's local time
        self.client = ConsoleClient(url, user, credential, on_message=self.handle,
                                    on_status=self.set_link, command_timeout_s=command_timeout_s,
                                    tls=tls)
        self.link = LinkStatus("stopped", "not connected")
        self.board: dict[str, Any] = {}
        self.counters: list[Mapping[str, Any]] = []
        self.alerts: dict[str, Alert] = {}
        self.health: dict[str, Any] = {}
        self.last_text = ""
        self.replies: deque[Reply] = deque(maxlen=100)  # recent answers, newest last
        self.replied = 0  # answers received so far (tests wait on it)
        self._refresh_timer: Timer | None = None

    @property
    def _base(self) -> Screen[Any]:
        """The screen the panes live on; `app.query_one` would search a dialog on top."""
        return self.screen_stack[0]

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with TabbedContent(id="tabs", initial="tab-queue"):
            with TabPane("1 Queue", id="tab-queue"):
                yield QueuePane(id="queue-pane")
            with TabPane("2 Alerts", id="tab-alerts"):
                yield AlertsPane(id="alerts-pane")
            with TabPane("3 Kiosks", id="tab-kiosks"):
                yield KiosksPane(id="kiosks-pane")
            with TabPane("4 Knowledge", id="tab-knowledge"):
                yield KnowledgePane(id="knowledge-pane")
            with TabPane("5 Report", id="tab-report"):
                yield ReportPane(id="report-pane")
            with TabPane("6 Health", id="tab-health"):
                yield HealthPane(id="health-pane")
            with TabPane("7 Bookings", id="tab-appointments"):
                yield AppointmentsPane(id="appointments-pane")
            with TabPane("8 What-if", id="tab-whatif"):
                yield WhatIfPane(id="whatif-pane")
        yield Static("Ready. Press ? for help.", id="last")
        yield Footer()

    def on_mount(self) -> None:
        self._draw_status()
        self._draw_health()
        if self.autoconnect:
            self.run_worker(self.client.run(), name="link", group="link", exclusive=True)
            self.set_interval(REFRESH_EVERY_S, self._schedule_refresh)

    async def on_unmount(self) -> None:
        # quitting ends the shift's token at the service: nobody reuses it on this terminal
        await self.client.logout()
        await self.client.stop()

    # ------------------------------------------------------------ from the service

    def set_link(self, status: LinkStatus) -> None:
        """The client's link changed: redraw the status line (OFFLINE is loud)."""
        self.link = status
        if status.state == "online" and status.counter and self.counter is None:
            self.counter = status.counter
        if self.is_running and self.screen_stack:
            self._draw_status()
            self._draw_health()

    def handle(self, msg: Message) -> None:
        """Every message from the service lands here (also fed directly by tests)."""
        if not self.is_running or not self.screen_stack:
            return  # the app is closing; nothing left to draw on
        if isinstance(msg, ConsoleSnapshot):
            # The panes format plain values; the structs were validated on decode.
            self.board = msgspec.to_builtins(msg.board)
            self.counters = msgspec.to_builtins(msg.counters)
            self.alerts = {a.alert: a for a in msg.alerts}
            self.health = msgspec.to_builtins(msg.health)
            self._base.query_one(QueuePane).show(self.board, self.counters, self.counter)
            self._draw_alerts()
            self._draw_health()
        elif isinstance(msg, QueueUpdate):
            if msg.waiting:
                self.board["waiting_counts"] = dict(msg.waiting)
            self._schedule_refresh()
            if (msg.ticket is not None and msg.ticket.cls == "appointment"
                    and self._showing("appointments")):
                self.load_appointments()  # a kiosk check-in: the booking changed too
        elif isinstance(msg, Alert):
            if msg.requires_ack:
                self.alerts[msg.alert] = msg
            self._draw_alerts()
            self.notify(alert_line(msgspec.to_builtins(msg)), title="Alert", timeout=15,
                        severity="error" if msg.severity == "urgent" else "warning")
        elif isinstance(msg, TurnLog):
            self._base.query_one(KiosksPane).add(msg)
        elif isinstance(msg, Error) and msg.ref is None:
            self._say(f"✗ service: {msg.code}: {msg.message}", error=True)
        elif isinstance(msg, Bye):
            self._say(f"service said bye: {msg.reason}", error=True)
        self._draw_status()

    # ------------------------------------------------------------ drawing

    def _draw_status(self) -> None:
        if not self.screen_stack:
            return  # a late event while the app shuts down
        s = self.link
        if self.counter:
            where = f"{self.user} @ {self.counter}"
        else:
            chosen = self._base.query_one(QueuePane).selected_counter()
            where = f"{self.user} → {chosen or 'pick a counter'}"
        line = status_line(s, where, len(self.alerts))
        self._base.query_one("#status", Static).update(line)
        self._base.query_one("#status", Static).set_class(s.state != "online", "offline")

    def _draw_alerts(self) -> None:
        self._base.query_one(AlertsPane).show(self.alerts.values(), self.tz)
        tabs = self._base.query_one(TabbedContent)
        label = f"2 Alerts ({len(self.alerts)})" if self.alerts else "2 Alerts"
        tabs.get_tab("tab-alerts").label = label

    def _draw_health(self) -> None:
        console = {"url": self.url, "user": self.user, "protocol": PROTOCOL_VERSION,
                   "link": self.link.state}
        self._base.query_one(HealthPane).show(self.health, console)

    def _say(self, text: str, error: bool = False) -> None:
        """The last outcome line above the footer; errors also pop up, never swallowed."""
        self.last_text = text
        last = self._base.query_one("#last", Static)
        last.update(Text(text, style="bold red" if error else "green"))
        if error:
            self.notify(text, severity="error", timeout=8)

    # ------------------------------------------------------------ sending

    def _schedule_refresh(self) -> None:
        if self._refresh_timer is None and self.client.online:
            self._refresh_timer = self.set_timer(REFRESH_DEBOUNCE_S, self._refresh)

    def _refresh(self) -> None:
        self._refresh_timer = None
        self.run_worker(self.client.command("snapshot"), group="refresh", exclusive=True)

    def send(self, action: str, on_ok: Callable[[Result], None] | None = None,
             **fields: Any) -> None:
        """Run one command in a worker so the UI never waits on the network."""
        fields = {k: v for k, v in fields.items() if v is not None}
        self.run_worker(self._send(action, on_ok, fields), group="commands")

    async def _send(self, action: str, on_ok: Callable[[Result], None] | None,
                    fields: dict[str, Any]) -> None:
        reply = await self.client.command(action, **fields)
        if isinstance(reply, Error) and reply.code == "confirm_required":
            password = await self.push_screen_wait(
                PasswordScreen(f"{action.replace('_', ' ')} is an override: your password"))
            if password and await self.client.confirm(password):
                reply = await self.client.command(action, **fields)
        self._record(reply)
        if isinstance(reply, Error):
            self._say(f"✗ {action}: {reply.code}: {reply.message}", error=True)
            return
        if isinstance(reply, Result):
            self._say(f"✓ {reply.text or action}")
            if on_ok is not None:
                on_ok(reply)
            self._schedule_refresh()

    def _record(self, reply: Reply) -> None:
        self.replies.append(reply)
        self.replied += 1

    def _counter_or_complain(self) -> str | None:
        counter = self.counter or self._base.query_one(QueuePane).selected_counter()
        if counter is None:
            self._say("✗ choose a counter in the Counters table first", error=True)
        return counter

    # ------------------------------------------------------------ actions

    def action_queue(self, action: str) -> None:
        """call_next / recall / no_show / start / complete at my (or the chosen) counter."""
        counter = self._counter_or_complain()
        if counter is not None:
            guided = action in ("call_next", "recall")
            self.send(action, on_ok=self._guidance if guided else None, counter=counter)

    def _guidance(self, result: Result) -> None:
        """The called ticket's operation guidance and risk flags, in the knowledge tab."""
        if not isinstance(result.data, GuidanceData):
            return
        data = msgspec.to_builtins(result.data)
        self._base.query_one(KnowledgePane).show_guidance(data)
        if result.data.risks:
            self.notify("\n".join(r.text for r in result.data.risks),
                        title=f"Risk: ticket {result.data.ticket}", severity="warning",
                        timeout=20)
            self.action_show_tab("knowledge")

    def action_transfer(self) -> None:
        ask_transfer(self)

    def action_walk_in(self) -> None:
        ask_walk_in(self)

    def action_cancel_ticket(self) -> None:
        ask_cancel(self)

    def action_priority(self) -> None:
        ask_priority(self)

    def action_ack_alert(self) -> None:
        ask_ack_alert(self)

    def action_pair_device(self) -> None:
        ask_pair_device(self)

    def action_show_tab(self, tab: str) -> None:
        self._base.query_one(TabbedContent).active = f"tab-{tab}"

    def action_search(self) -> None:
        self.action_show_tab("knowledge")
        self._base.query_one("#kb-input", Input).focus()

    def _showing(self, tab: str) -> bool:
        return self._base.query_one(TabbedContent).active == f"tab-{tab}"

    def action_refresh(self) -> None:
        self.run_worker(self.client.command("snapshot"), group="refresh", exclusive=True)
        if self._showing("report"):
            self.load_report()
        elif self._showing("appointments"):
            self.load_appointments()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    @on(DataTable.RowHighlighted, "#counters")
    def _counter_highlighted(self) -> None:
        """A manager acts on the highlighted counter: the status line names it."""
        if self.counter is None:
            self._draw_status()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-report" and self.client.online:
            self.load_report()
        elif event.pane.id == "tab-appointments" and self.client.online:
            self.load_appointments()

    @on(Input.Submitted, "#kb-input")
    def _search_submitted(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if query:
            self._base.query_one(KnowledgePane).searching(query)
            self.run_worker(self._search(query), group="search", exclusive=True)

    @on(Input.Submitted, "#whatif-change, #whatif-minutes")
    def _what_if_submitted(self) -> None:
        pane = self._base.query_one(WhatIfPane)
        change, minutes = pane.request()
        pane.running(change)
        self.run_worker(self._what_if(change, minutes), group="what_if", exclusive=True)

    async def _what_if(self, change: str, minutes: int | None) -> None:
        fields: dict[str, Any] = {"change": change or None, "horizon_min": minutes}
        reply = await self.client.command("what_if", **{k: v for k, v in fields.items()
                                                        if v is not None})
        self._record(reply)
        pane = self._base.query_one(WhatIfPane)
        if isinstance(reply, Result) and isinstance(reply.data, WhatIfData):
            pane.show(reply.data)
            self._say(f"✓ what-if {change or 'as things are'} (seed {reply.data.seed})")
        elif isinstance(reply, Error):
            pane.failed(reply.code, reply.message)
            self._say(f"✗ what_if: {reply.code}: {reply.message}", error=True)

    async def _search(self, query: str) -> None:
        reply = await self.client.command("kb_search", query=query)
        self._record(reply)
        pane = self._base.query_one(KnowledgePane)
        if isinstance(reply, Result):
            data = reply.data if isinstance(reply.data, SearchData) else None
            pane.show(msgspec.to_builtins(data))
            self._say(f"✓ {len(data.passages) if data else 0} passages for {query}")
        elif isinstance(reply, Error):
            pane.failed(reply.code, reply.message)
            self._say(f"✗ kb_search: {reply.code}: {reply.message}", error=True)

    def load_report(self) -> None:
        """Ask the service for today's report (in a worker)."""
        self.run_worker(self._fill("report", self._base.query_one(ReportPane)),
                        group="report", exclusive=True)

    def load_appointments(self) -> None:
        """Ask the service for today's appointment book (in a worker)."""
        pane = self._base.query_one(AppointmentsPane)
        pane.fetching()
        self.run_worker(self._fill("appointments", pane), group="appointments", exclusive=True)

    async def _fill(self, command: str, pane: ReportPane | AppointmentsPane) -> None:
        """Run a read-only command and redraw its pane from the answer, or say why not."""
        reply = await self.client.command(command)
        self._record(reply)
        if isinstance(reply, Result):
            pane.show(msgspec.to_builtins(reply.data))
        elif isinstance(reply, Error):
            pane.failed(reply.code, reply.message)
            self._say(f"✗ {command}: {reply.code}: {reply.message}", error=True)

