"""Modal screens: confirmations (second verification), one-of-many choices, and `?` help."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option


class ConfirmScreen(ModalScreen[bool]):
    """Ask before an action that changes a customer's standing; `y` confirms, `n`/Esc not."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "Cancel", show=False)]

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.detail:
                yield Static(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", variant="warning", id="yes")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ChoiceScreen(ModalScreen[str | None]):
    """Pick one of a few values (a service to transfer to, a priority class); Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*(Option(label, id=key) for key, label in self.choices),
                             id="choices")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PasswordScreen(ModalScreen[str | None]):
    """Re-enter the password to confirm an override (supervisor confirmation); Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    secret = True
    placeholder = "password"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(password=self.secret, placeholder=self.placeholder, id="password")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DeviceScreen(PasswordScreen):
    """Type a device id from branch.toml (kiosk-1, display-1) to pair; Esc cancels."""

    secret = False
    placeholder = "device id, e.g. kiosk-1"


HELP_TEXT = """\
[b]Branch Teller staff console[/b]: every action goes through the service
and its audit log; errors from the service show on the bottom line.

[b]Queue[/b] (your counter; a manager picks one in the Counters table)
  n  call next        r  recall            x  no-show
  s  start serving    d  done (complete)   c  cancel ticket (confirm)
  t  transfer to another service           w  walk-in at this counter
  p  priority class: normal / elderly / VIP (confirm)
  t, c and p act on the ticket highlighted in Waiting while that table
  has focus (tab to it), otherwise on the ticket at the counter.

[b]Alerts[/b]  a  acknowledge the highlighted alert (second verification)
[b]Panes[/b]   1 queue  2 alerts  3 kiosks  4 knowledge  5 report  6 health
        7 bookings (today's appointments)   8 what-if (staffing: type a
        change such as 'serve c4 wealth', Enter)   /  search the knowledge hub
        f5 refresh   tab next table   P pair a page   ? this help   q quit

OFFLINE on the top line: actions are not sent; it reconnects by itself.
Esc or ? closes this help.
"""


class HelpScreen(ModalScreen[None]):
    """Every key binding, reachable with `?` from anywhere."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close"), Binding("question_mark", "close", "Close"),
                Binding("q", "close", "Close", show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(HELP_TEXT, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
