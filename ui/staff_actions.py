"""Staff actions that ask first: a dialog picks the service, class or device, or confirms the
step, then the console sends the command (transfer, walk-in, cancel, priority class, alert
acknowledgement or verification, device pairing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from devices.console_messages import Result
from ui.dialogs import ChoiceScreen, ConfirmScreen, DeviceScreen
from ui.queue_pane import QueuePane
from ui.side_panes import AlertsPane
from ui.view import CLASS_LABELS, SETTABLE_CLASSES, alert_line

if TYPE_CHECKING:
    from ui.app import ConsoleApp


def selected_target(app: ConsoleApp) -> tuple[str | None, str | None, str]:
    """(counter, ticket, label): a highlighted waiting ticket, else the counter's ticket."""
    ticket = app._base.query_one(QueuePane).selected_ticket()
    if ticket is not None:
        return app.counter, ticket, ticket
    counter = app.counter or app._base.query_one(QueuePane).selected_counter()
    row = next((c for c in app.counters if c.get("id") == counter), {})
    return counter, None, str(row.get("ticket") or f"the ticket at {counter}")


def ask_transfer(app: ConsoleApp) -> None:
    """Transfer the target ticket to another service."""
    counter, ticket, label = selected_target(app)
    services = [(s, s) for s in app.board.get("waiting_counts", {})]

    def chosen(service: str | None) -> None:
        if service:
            app.send("transfer", counter=counter, ticket=ticket, service=service)
    app.push_screen(ChoiceScreen(f"Transfer {label} to which service?", services), chosen)


def ask_walk_in(app: ConsoleApp) -> None:
    """A walk-in ticket at my (or the chosen) counter, for the service staff pick."""
    counter = app._counter_or_complain()
    services = [(s, s) for s in app.board.get("waiting_counts", {})]

    def chosen(service: str | None) -> None:
        if service and counter:
            app.send("walk_in", counter=counter, service=service)
    if counter:
        app.push_screen(ChoiceScreen("Walk-in ticket for which service?", services), chosen)


def ask_cancel(app: ConsoleApp) -> None:
    """Cancel the target ticket, once confirmed."""
    counter, ticket, label = selected_target(app)

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.send("cancel", counter=counter, ticket=ticket)
    app.push_screen(ConfirmScreen(f"Cancel {label}?", "The customer loses the place "
                                  "in the queue."), confirmed)


def ask_priority(app: ConsoleApp) -> None:
    """Move the target ticket to another priority class, once confirmed."""
    counter, ticket, label = selected_target(app)
    choices = [(c, CLASS_LABELS.get(c) or c) for c in SETTABLE_CLASSES]

    def chosen(cls: str | None) -> None:
        if cls is None:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                app.send("set_class", counter=counter, ticket=ticket, priority_class=cls)
        app.push_screen(ConfirmScreen(f"Set {label} to class {cls}?",
                                      "Changes the customer's place in the queue; "
                                      "the change is audited."), confirmed)
    app.push_screen(ChoiceScreen(f"Priority class for {label}", choices), chosen)


def ask_ack_alert(app: ConsoleApp) -> None:
    """Acknowledge the selected alert, or verify it as a supervisor, once confirmed."""
    alert_id = app._base.query_one(AlertsPane).selected()
    alert = app.alerts.get(alert_id or "")
    if alert is None:
        app._say("✗ no open alert to acknowledge", error=True)
        return

    def done(_: Result) -> None:
        app.alerts.pop(alert.alert, None)
        app._draw_alerts()
        app._draw_status()

    # A large-value alert is a supervisor's verification: the service asks the password
    action = "verify_alert" if alert.verify else "ack_alert"
    question = ("Supervisor verification: identity and purpose checked, let the counter "
                "go on?" if alert.verify else "Second verification: acknowledge this alert?")

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.send(action, on_ok=done, alert=alert.alert)
    app.push_screen(ConfirmScreen(question, alert_line(msgspec.to_builtins(alert))),
                    confirmed)


def ask_pair_device(app: ConsoleApp) -> None:
    """A one-time pairing code and link for a kiosk or display page (manager, admin)."""

    def chosen(device: str | None) -> None:
        if device:
            app.send("pair_device", device=device.strip())
    app.push_screen(DeviceScreen("Pair which device? (its id in branch.toml)"), chosen)
