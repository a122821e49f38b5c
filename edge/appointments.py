"""The appointment book: bookings exported by the bank's booking systems, checked in at the kiosk.

The central side exports bookings (mobile app, phone) as CSV; `parse_book` validates every row
and `import_book` stores them in SQLite in one transaction, so a bad file imports nothing.
`look_up` turns one appointment number into the dialogue's `Booking` at a given moment.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.config import AppointmentSettings
from edge.queue.settings import QueueSettings
from edge.store import Store
from intents.dialogue.appointment_rules import Booking
from intents.understanding.catalog import INTENTS
from intents.understanding.slot_appointment import is_appointment_number, normalize_number

COLUMNS = (
    "number",
    "date",
    "start",
    "end",
    "service",
    "intent",
    "priority_class",
    "hint",
    "status",
)
REQUIRED = ("number", "date", "start", "end")
MAX_HINT_CHARS = 24
MAX_HINT_DIGITS = 4  # a hint is masked: the last four phone digits at most, never the number
IMPORT_STATUSES = ("booked", "cancelled")
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class BookFileError(Exception):
    """The file cannot be imported; `problems` name the line and field of each bad value."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(
            f"{source}: "
            + "; ".join(problems[:5])
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        )
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class BookRules:
    """What a valid booking may name: this branch's queue services and classes."""

    services: frozenset[str]
    classes: frozenset[str]
    min_chars: int
    max_chars: int

    @classmethod
    def of(cls, queue: QueueSettings, appointments: AppointmentSettings) -> BookRules:
        """The rules for this branch's config."""
        return cls(
            services=frozenset(s.id for s in queue.services) - {queue.urgent_class},
            classes=frozenset(c.id for c in queue.classes) - {queue.urgent_class},
            min_chars=appointments.number_min_chars,
            max_chars=appointments.number_max_chars,
        )


def _row(raw: dict[str, str], rules: BookRules) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One CSV row as a book row, and its problems as (field, what is wrong)."""
    v = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    bad: list[tuple[str, str]] = []
    for name in REQUIRED:
        if not v[name]:
            bad.append((name, "is empty"))
    number = normalize_number(v["number"])
    if v["number"] and not is_appointment_number(number, rules.min_chars, rules.max_chars):
        bad.append(
            (
                "number",
                f"{v['number']!r} is not up to two letters then digits, "
                f"{rules.min_chars}-{rules.max_chars} characters",
            )
        )
    if v["date"]:
        try:
            dt.date.fromisoformat(v["date"])
        except ValueError:
            bad.append(("date", f"{v['date']!r} is not YYYY-MM-DD"))
    for name in ("start", "end"):
        if v[name] and not _TIME.fullmatch(v[name]):
            bad.append((name, f"{v[name]!r} is not HH:MM (24-hour)"))
    if _TIME.fullmatch(v["start"]) and _TIME.fullmatch(v["end"]) and v["end"] <= v["start"]:
        bad.append(("end", f"{v['end']} is not after start {v['start']}"))
    service = v["service"] or None
    intent = v["intent"] or None
    if intent is not None and intent not in INTENTS:
        bad.append(("intent", f"unknown intent id {intent!r}"))
    elif intent is not None and service is None:
        service = INTENTS[intent].service
        if service not in rules.services:
            bad.append(("intent", f"{intent!r} has no counter service to book"))
    if service is None and intent is None:
        bad.append(("service", "give a service or an intent"))
    elif v["service"] and service not in rules.services:
        bad.append(
            (
                "service",
                f"unknown queue service {service!r} (one of {', '.join(sorted(rules.services))})",
            )
        )
    if v["priority_class"] and v["priority_class"] not in rules.classes:
        bad.append(("priority_class", f"unknown priority class {v['priority_class']!r}"))
    digits = sum(ch.isdigit() for ch in v["hint"])
    if len(v["hint"]) > MAX_HINT_CHARS or digits > MAX_HINT_DIGITS:
        bad.append(
            (
                "hint",
                f"must be masked: at most {MAX_HINT_DIGITS} digits and "
                f"{MAX_HINT_CHARS} characters (value not shown)",
            )
        )
    status = v["status"] or "booked"
    if status not in IMPORT_STATUSES:
        bad.append(("status", f"{status!r} is not booked or cancelled"))
    row = {
        "number": number,
        "day": v["date"],
        "start": v["start"],
        "end": v["end"],
        "service": service,
        "intent": intent,
        "priority_class": v["priority_class"] or None,
        "hint": v["hint"] or None,
        "status": status,
    }
    return row, bad


def parse_book(text: str, rules: BookRules, source: str = "<csv>") -> list[dict[str, Any]]:
    """Every row of an exported CSV, validated; BookFileError lists every bad line and field."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    problems = [
        f"line 1, field {h!r}: unknown column (expected {', '.join(COLUMNS)})"
        for h in header
        if h not in COLUMNS
    ]
    problems += [f"line 1, field {c!r}: missing column" for c in REQUIRED if c not in header]
    if problems:
        raise BookFileError(source, problems)
    reader.fieldnames = header
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        if None in raw:
            problems.append(f"line {line}: more values than columns")
            continue
        row, bad = _row(raw, rules)
        problems += [f"line {line}, field {name!r}: {what}" for name, what in bad]
        if row["number"] in seen:
            problems.append(
                f"line {line}, field 'number': {row['number']} already on line "
                f"{seen[row['number']]}"
            )
        seen.setdefault(row["number"], line)
        rows.append(row)
    if problems:
        raise BookFileError(source, problems)
    return rows


def read_book(path: Path, rules: BookRules) -> list[dict[str, Any]]:
    """Read and validate an exported file (BookFileError if unreadable or any row is bad)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BookFileError(str(path), [f"cannot read the file: {err}"]) from None
    return parse_book(text, rules, str(path))


def _epoch(day: str, hhmm: str, tz: ZoneInfo) -> float:
    return dt.datetime.combine(
        dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=tz
    ).timestamp()


def booking_of(
    row: dict[str, Any] | None, number: str, today: str, now: float, timezone: str
) -> Booking:
    """The dialogue's view of a book row (or of a number the book does not hold)."""
    if row is None:
        return Booking(number=number, today=today, now=now)
    tz = ZoneInfo(timezone)
    return Booking(
        number=number,
        today=today,
        now=now,
        found=True,
        status=row["status"],
        day=row["day"],
        start=row["start"],
        end=row["end"],
        start_at=_epoch(row["day"], row["start"], tz),
        end_at=_epoch(row["day"], row["end"], tz),
        service=row["service"],
        intent=row["intent"],
        priority_class=row["priority_class"],
        hint=row["hint"],
        ticket=row["ticket"],
    )


async def look_up(store: Store, number: str, today: str, now: float, timezone: str) -> Booking:
    """What the book says about this number at `now`."""
    return booking_of(await store.appointment(number), number, today, now, timezone)


def listing(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as staff see them: whether a hint exists, never the hint itself."""
    return [
        {
            "number": r["number"],
            "date": r["day"],
            "window": f"{r['start']}-{r['end']}",
            "service": r["service"],
            "intent": r["intent"],
            "priority_class": r["priority_class"],
            "status": r["status"],
            "ticket": r["ticket"],
            "hint": bool(r["hint"]),
        }
        for r in rows
    ]


def counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Bookings per status, for the console."""
    out = {"booked": 0, "checked_in": 0, "cancelled": 0, "expired": 0}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out
