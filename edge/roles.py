"""Staff roles: one permission table and one check that every console command goes through.

Pure and synchronous: the caller passes who is asking, what they ask and the facts the rule
needs (the counter a ticket is at, when the password was last re-entered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from devices.errors import ErrorCode

StaffRole = Literal["teller", "manager", "admin", "auditor"]
STAFF_ROLES: Final[tuple[str, ...]] = get_args(StaffRole)


@dataclass(frozen=True)
class Rule:
    """Who may run one console action."""

    roles: frozenset[str]
    own_counter: frozenset[str] = frozenset()  # roles limited to their own counter
    confirm: bool = False  # an override: the password re-entered within the confirm window


_DESK = frozenset({"teller", "manager"})
_MANAGER = frozenset({"manager"})
_TELLER = frozenset({"teller"})

# The one permission table. Actions missing here are denied to everyone.
PERMISSIONS: Final[dict[str, Rule]] = {
    # a teller's own counter: call, recall, no-show, start, done, transfer
    "call_next": Rule(_DESK, own_counter=_TELLER),
    "recall": Rule(_DESK, own_counter=_TELLER),
    "no_show": Rule(_DESK, own_counter=_TELLER),
    "start": Rule(_DESK, own_counter=_TELLER),
    "complete": Rule(_DESK, own_counter=_TELLER),
    "transfer": Rule(_DESK, own_counter=_TELLER),
    # the lobby manager: any counter, walk-ins, alerts, reports
    "walk_in": Rule(_MANAGER),
    "ack_alert": Rule(_MANAGER),
    # a large-value alert: the supervisor's second verification, password re-entered
    "verify_alert": Rule(_MANAGER, confirm=True),
    "report": Rule(_MANAGER),
    "appointments": Rule(_MANAGER),
    "what_if": Rule(_MANAGER),  # staffing the next hour is the lobby manager's call
    # overrides: a priority change or a cancelled ticket needs the password again
    "set_class": Rule(_MANAGER, confirm=True),
    "cancel": Rule(_MANAGER, confirm=True),
    # reading the board and the staff knowledge base
    "snapshot": Rule(frozenset({"teller", "manager", "admin"})),
    "kb_search": Rule(_DESK),
    # the auditor reads the audit log and nothing else
    "audit_log": Rule(frozenset({"auditor"})),
    # a one-time pairing code for a kiosk or display page (its credential stays on it)
    "pair_device": Rule(frozenset({"manager", "admin"})),
}


@dataclass(frozen=True)
class Staff:
    """Who is asking: a logged-in staff member."""

    user: str
    role: str
    counter: str | None
    confirmed_at: float | None = None  # last password re-entry (supervisor confirmation)


@dataclass(frozen=True)
class Denial:
    """Why a command is refused: a stable code and a sentence for the console."""

    code: ErrorCode
    message: str


def authorize(staff: Staff, action: str, counters: tuple[str | None, ...], now: float,
              confirm_window_s: float) -> Denial | None:
    """None when `staff` may run `action` on `counters` (the command's counter and the
    counter its ticket is at: None where no counter or ticket is named, "" for a ticket at
    no counter); else why not."""
    rule = PERMISSIONS.get(action)
    if rule is None or staff.role not in rule.roles:
        return Denial("forbidden", f"A {staff.role} may not {action.replace('_', ' ')}.")
    if staff.role in rule.own_counter:
        if staff.counter is None:
            return Denial("forbidden", f"{staff.user} has no counter of their own.")
        other = next((c for c in counters if c is not None and c != staff.counter), None)
        if other is not None:
            return Denial("not_your_counter",
                          f"A teller acts for counter {staff.counter} only ({other!r} asked).")
    if rule.confirm and (staff.confirmed_at is None
                         or not 0 <= now - staff.confirmed_at <= confirm_window_s):
        return Denial("confirm_required", f"{action.replace('_', ' ')} is an override: enter "
                      f"your password again to confirm (valid {confirm_window_s:.0f} s).")
    return None
