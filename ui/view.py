"""Pure formatting of service messages into console rows, so panes stay thin and testable."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from ui.client import LinkStatus

CLASS_LABELS: dict[str, str] = {"normal": "", "elderly": "elderly", "vip": "VIP",
                                "disabled": "disabled", "pregnant": "pregnant",
                                "appointment": "appt", "urgent": "urgent"}
SETTABLE_CLASSES: tuple[str, ...] = ("normal", "elderly", "vip")
BAR_CHARS = " ▏▎▍▌▋▊▉█"


def duration(seconds: float | None) -> str:
    """Waits as staff say them: 45s, 7m, 1h05."""
    if seconds is None or math.isnan(seconds):
        return "-"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}"
    return f"{s // 3600}h{(s % 3600) // 60:02d}"


def clock_time(at: float, tz: tzinfo | None = None) -> str:
    """HH:MM:SS of an epoch instant (local time unless a zone is given)."""
    if not at:
        return "--:--:--"
    return datetime.fromtimestamp(at, tz).strftime("%H:%M:%S")


def percent(share: float | None) -> str:
    """A share 0..1 as a whole percentage."""
    return "-" if share is None else f"{share * 100:.0f}%"


def bar(share: float | None, width: int = 10) -> str:
    """A horizontal bar of `share` (0..1) in eighth-blocks: the report's small chart."""
    if share is None:
        return " " * width
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, rest = divmod(eighths, 8)
    text = "█" * full + (BAR_CHARS[rest] if rest and full < width else "")
    return text.ljust(width)


@dataclass(frozen=True)
class WaitingRow:
    """One waiting ticket as the queue board lists it."""

    number: str
    service: str
    cls: str
    waited: str
    ahead: str
    estimate: str


def waiting_rows(board: Mapping[str, Any]) -> list[WaitingRow]:
    """Waiting tickets in call order, from the board's `waiting` views."""
    rows = []
    for v in board.get("waiting", []):
        ahead = v.get("people_ahead")
        rows.append(WaitingRow(
            number=str(v.get("number", "?")), service=str(v.get("service", "")),
            cls=CLASS_LABELS.get(str(v.get("cls", "")), str(v.get("cls", ""))),
            waited=duration(v.get("waited_s")),
            ahead="-" if ahead is None else str(ahead),
            estimate=wait_range(v)))
    return rows


def wait_range(view: Mapping[str, Any]) -> str:
    """The promise as a range, p50-p90 ("4m10-9m30"), or the single figure from an older
    service that sends no range."""
    p50, p90 = view.get("wait_p50_s"), view.get("wait_p90_s")
    if p50 is None or p90 is None:
        return duration(view.get("estimated_wait_s"))
    if round(p90 / 60) <= round(p50 / 60):
        return duration(p50)
    return f"{duration(p50)}-{duration(p90)}"


def service_summary(board: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """(service, waiting, longest wait) per service, services with nobody waiting included."""
    longest: dict[str, float] = {}
    for v in board.get("waiting", []):
        s = str(v.get("service", ""))
        longest[s] = max(longest.get(s, 0.0), float(v.get("waited_s") or 0.0))
    # The service's own figure covers tickets beyond those it sent.
    longest.update({s: float(w) for s, w in board.get("longest_wait_s", {}).items()})
    counts: Mapping[str, int] = board.get("waiting_counts", {})
    return [(s, int(n), duration(longest[s]) if s in longest else "-")
            for s, n in counts.items()]


def waiting_shown(board: Mapping[str, Any]) -> str:
    """`4 waiting`, or `300 of 5,812 waiting` when the service sent only the head of each
    service's queue (`waiting_per_service`)."""
    shown = len(board.get("waiting", []))
    total = sum(int(n) for n in board.get("waiting_counts", {}).values())
    if total > shown:
        return f"{shown:,} of {total:,} waiting"
    return f"{shown:,} waiting"


def counter_label(row: Mapping[str, Any]) -> str:
    """`c1 (1)`: the counter id staff type and its number on the wall."""
    return f"{row.get('id', '?')} ({row.get('number', '?')})"


def counter_state(row: Mapping[str, Any]) -> str:
    """What a counter is doing in one word."""
    if not row.get("open", True):
        return "closed"
    return str(row.get("state") or "idle")


def alert_line(alert: Mapping[str, Any]) -> str:
    """One alert for a notification: severity, kind, text and where it came from."""
    where = " ".join(str(x) for x in (alert.get("ticket"), alert.get("device")) if x)
    return f"[{alert.get('severity', '?')}] {alert.get('kind', '')}: {alert.get('text', '')}" + (
        f" ({where})" if where else "")


def timings(t: Mapping[str, float]) -> str:
    """Per-turn latency in ms, the whole turn first, its stages after: `19.9 (route 7.4)`."""
    if not t:
        return "-"
    total = t.get("turn")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(t.items()) if k != "turn")
    if total is None:
        return stages
    return f"{total:.1f}" + (f" ({stages})" if stages else "")


def passage_lines(p: Mapping[str, Any], index: int) -> list[str]:
    """A knowledge passage with its source, version and risk note, for staff to quote."""
    head = f"{index}. {p.get('title', '')} › {p.get('section', '')}"
    src = (f"   source {p.get('source', '?')} v{p.get('version', '?')}"
           f" effective {p.get('effective_date', '?')} · {p.get('audience', '')}"
           f" · score {float(p.get('score', 0.0)):.3f}")
    lines = [head, src, f"   {' '.join(str(p.get('text', '')).split())}"]
    if p.get("risk_note"):
        lines.append(f"   ⚠ {p['risk_note']}")
    return lines


def guidance_lines(g: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A called ticket's guidance as (line, style): risk flags first, then the passages."""
    lines = [(f"Ticket {g.get('ticket', '?')} · {g.get('business', '')}: operation guidance",
              "bold")]
    for r in g.get("risks", []):
        held = "  [awaiting supervisor verification]" if r.get("verify") else ""
        lines.append((f"⚠ RISK {r.get('rule', '')}: {r.get('text', '')}{held}", "bold red"))
    for i, p in enumerate(g.get("passages", []), 1):
        for j, line in enumerate(passage_lines(p, i)):
            lines.append((line, "bold" if j == 0 else "dim" if j == 1 else ""))
    if not g.get("passages"):
        lines.append(("No guidance document found for this business.", "dim"))
    return lines


@dataclass(frozen=True)
class ReportLine:
    """One service's day in the report table."""

    service: str
    issued: int
    served: int
    avg_wait: str
    p90_wait: str
    within: str
    chart: str
    no_shows: int


def report_lines(services: Sequence[Mapping[str, Any]], width: int = 10) -> list[ReportLine]:
    """Whole-day rows (hour None) of the report, with a bar of the share served within target."""
    out = []
    for r in services:
        if r.get("hour") is not None:
            continue
        share = r.get("within_target")
        out.append(ReportLine(
            service=str(r.get("service", "")), issued=int(r.get("issued", 0)),
            served=int(r.get("served", 0)), avg_wait=duration(r.get("avg_wait_s")),
            p90_wait=duration(r.get("p90_wait_s")), within=percent(share),
            chart=bar(share, width), no_shows=int(r.get("no_shows", 0))))
    return out


def hourly_issued(services: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """(hour, tickets issued) over all services: the day's arrival curve."""
    per: dict[int, int] = {}
    for r in services:
        hour = r.get("hour")
        if hour is not None:
            per[int(hour)] = per.get(int(hour), 0) + int(r.get("issued", 0))
    return sorted(per.items())


APPOINTMENT_STATUSES: tuple[str, ...] = ("booked", "checked_in", "cancelled", "expired")


def appointment_status(status: str) -> str:
    """A booking's status in staff words."""
    return status.replace("_", " ")


@dataclass(frozen=True)
class AppointmentRow:
    """One booking of the day as the Appointments tab lists it (never the customer hint)."""

    number: str
    window: str
    service: str
    cls: str
    status: str
    ticket: str


def appointment_rows(data: Mapping[str, Any] | None) -> list[AppointmentRow]:
    """Bookings of an `appointments` result, in the service's order (window, then number)."""
    rows = []
    for a in (data or {}).get("appointments", []):
        cls = str(a.get("priority_class") or "")
        rows.append(AppointmentRow(
            number=str(a.get("number", "?")), window=str(a.get("window", "")),
            service=str(a.get("service") or "-"), cls=CLASS_LABELS.get(cls, cls),
            status=appointment_status(str(a.get("status", "?"))),
            ticket=str(a.get("ticket") or "-")))
    return rows


def appointment_counts(data: Mapping[str, Any] | None) -> str:
    """`2026-11-25: 5 booked · 1 checked in · 1 cancelled · 0 expired` (any other status after)."""
    data = data or {}
    counts: Mapping[str, int] = data.get("counts", {})
    order = [*APPOINTMENT_STATUSES, *(k for k in counts if k not in APPOINTMENT_STATUSES)]
    parts = [f"{int(counts.get(k, 0))} {appointment_status(k)}" for k in order]
    return f"{data.get('day', '?')}: " + " · ".join(parts)


def health_rows(health: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Health and version facts as key/value pairs, nested dicts flattened with dots."""
    rows: list[tuple[str, str]] = []
    for key, value in health.items():
        if isinstance(value, Mapping):
            rows.extend((f"{key}.{k}", v) for k, v in health_rows(value))
        elif isinstance(value, float):
            rows.append((str(key), f"{value:g}"))
        else:
            rows.append((str(key), str(value)))
    return rows


def status_line(s: LinkStatus, where: str, alerts: int) -> Text:
    """The console's top line: link state (OFFLINE loud), who acts where, open alerts."""
    line = Text()
    if s.state == "online":
        line.append(" ● ONLINE ", style="bold black on green")
    elif s.state == "connecting" and s.attempt == 0:
        line.append(" ◌ CONNECTING ", style="bold black on yellow")
    else:
        line.append(f" ○ {'REFUSED' if s.state == 'refused' else 'OFFLINE'} ",
                    style="bold white on red")
    line.append(f" {where}")
    if s.state == "online":
        line.append(f" · {s.branch}")
    elif s.retry_in_s is not None:
        line.append(f" · retry {s.attempt} in {s.retry_in_s:.1f}s · {s.detail}")
    elif s.detail:
        line.append(f" · {s.detail}")
    if alerts:
        line.append(f"  ⚠ {alerts} alert{'s' if alerts > 1 else ''} ",
                    style="bold black on yellow")
    return line
