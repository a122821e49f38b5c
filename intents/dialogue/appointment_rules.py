"""Appointment check-in rules: what the book says about a number, and what that means now.

Pure: the session looks the number up in the appointment book and hands the record in as a
`Booking` with the current time; `classify` says whether the customer is checked in, too
early, too late, or has no valid booking today.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal[
    "due", "early", "late", "unknown", "cancelled", "expired", "other_day", "checked_in"
]


@dataclass(frozen=True)
class AppointmentRules:
    """Check-in window around the booked time (from config: [appointments])."""

    early_s: float = 1800.0  # check-in opens this long before the booked window starts
    late_s: float = 900.0  # and closes this long after it ends; later = a normal ticket
    ask_hint: bool = False  # confirm the booking's hint (phone digits) before checking in
    min_chars: int = 6
    max_chars: int = 8


@dataclass(frozen=True)
class Booking:
    """One appointment number as looked up in the book at `now` (found or not)."""

    number: str
    today: str  # the branch's business day, YYYY-MM-DD
    now: float
    found: bool = False
    status: str = "unknown"  # booked / checked_in / cancelled / expired
    day: str = ""
    start: str = ""  # "10:00", branch time
    end: str = ""
    start_at: float = 0.0  # the same, as epoch seconds
    end_at: float = 0.0
    service: str | None = None
    intent: str | None = None
    priority_class: str | None = None
    hint: str | None = None  # masked hint from the booking; compared, never shown or logged
    ticket: str | None = None  # the ticket a checked-in appointment got

    @property
    def window(self) -> str:
        """'10:00-10:30' as the customer sees it."""
        return f"{self.start}-{self.end}"


def classify(booking: Booking, rules: AppointmentRules) -> Verdict:
    """What this appointment number means at the kiosk right now."""
    if not booking.found:
        return "unknown"
    if booking.status == "cancelled":
        return "cancelled"
    if booking.day < booking.today or booking.status == "expired":
        return "expired"
    if booking.day > booking.today:
        return "other_day"
    if booking.status == "checked_in":
        return "checked_in"
    if booking.now < booking.start_at - rules.early_s:
        return "early"
    if booking.now > booking.end_at + rules.late_s:
        return "late"
    return "due"


def due_at(booking: Booking) -> float:
    """The booked time the queue ranks the ticket by: the window's start if the customer is
    early, their arrival inside the window, the window's end when they come a little late."""
    return min(max(booking.now, booking.start_at), booking.end_at)


def opens_at(booking: Booking, rules: AppointmentRules) -> str:
    """'09:30': the earliest check-in time for this booking, branch time."""
    hours, minutes = (int(x) for x in booking.start.split(":"))
    total = max(0, hours * 60 + minutes - int(rules.early_s // 60))
    return f"{total // 60:02d}:{total % 60:02d}"
