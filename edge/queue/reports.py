"""Daily queue reports: waits and service times per service and hour, targets met, no-shows."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from edge.queue.model import State, Ticket
from edge.queue.settings import QueueSettings


class ReportRow(msgspec.Struct, kw_only=True):
    """One service in one hour of arrival (hour None: the whole day)."""

    day: str
    hour: int | None
    service: str
    issued: int
    called: int
    served: int
    no_shows: int
    cancelled: int
    avg_wait_s: float | None
    p90_wait_s: float | None
    max_wait_s: float | None
    avg_service_s: float | None
    within_target: float | None  # share of called tickets called within their class target
    no_show_share: float | None


class ClassRow(msgspec.Struct, kw_only=True):
    """One priority class over the day: did it get the waits it was promised?"""

    day: str
    cls: str
    target_wait_s: float
    called: int
    p50_wait_s: float | None
    p90_wait_s: float | None
    max_wait_s: float | None
    within_target: float | None


def wait_s(t: Ticket) -> float | None:
    """Seconds from arrival to the first call, or None if never called."""
    return None if t.first_called_at is None else max(0.0, t.first_called_at - t.arrival_at)


def service_s(t: Ticket) -> float | None:
    """Seconds at the counter for a completed ticket."""
    if t.state is not State.DONE or t.finished_at is None:
        return None
    began = t.started_at if t.started_at is not None else t.called_at
    return None if began is None else max(0.0, t.finished_at - began)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def report_rows(
    tickets: Iterable[Ticket], settings: QueueSettings, day: str | None = None
) -> list[ReportRow]:
    """Rows per service per local hour of arrival, then one whole-day row per service."""
    tz = ZoneInfo(settings.timezone)
    chosen = [t for t in tickets if day is None or t.day == day]
    groups: dict[tuple[str, int | None, str], list[Ticket]] = {}
    for t in chosen:
        hour = datetime.fromtimestamp(t.arrival_at, tz).hour
        groups.setdefault((t.day, hour, t.service), []).append(t)
        groups.setdefault((t.day, None, t.service), []).append(t)
    order = {s.id: i for i, s in enumerate(settings.services)}
    keys = sorted(groups, key=lambda k: (k[0], k[1] is None, k[1] or 0, order.get(k[2], 99)))
    targets = {c.id: c.target_wait_s for c in settings.classes}
    return [_row(k, groups[k], targets) for k in keys]


def _row(
    key: tuple[str, int | None, str], group: list[Ticket], targets: dict[str, float]
) -> ReportRow:
    waits = [w for t in group if (w := wait_s(t)) is not None]
    met = [1 for t in group if (w := wait_s(t)) is not None and w <= targets.get(t.cls, math.inf)]
    services = [s for t in group if (s := service_s(t)) is not None]
    no_shows = sum(1 for t in group if t.state is State.NO_SHOW)
    return ReportRow(
        day=key[0],
        hour=key[1],
        service=key[2],
        issued=len(group),
        called=len(waits),
        served=sum(1 for t in group if t.state is State.DONE),
        no_shows=no_shows,
        cancelled=sum(1 for t in group if t.state is State.CANCELLED),
        avg_wait_s=_mean(waits),
        p90_wait_s=percentile(waits, 90),
        max_wait_s=max(waits) if waits else None,
        avg_service_s=_mean(services),
        within_target=len(met) / len(waits) if waits else None,
        no_show_share=no_shows / len(group) if group else None,
    )


def class_rows(
    tickets: Iterable[Ticket], settings: QueueSettings, day: str | None = None
) -> list[ClassRow]:
    """Per priority class: waits and the share called within the class's target."""
    chosen = [t for t in tickets if day is None or t.day == day]
    rows: list[ClassRow] = []
    days = sorted({t.day for t in chosen})
    for d in days:
        for spec in settings.classes:
            waits = [
                w
                for t in chosen
                if t.day == d and t.cls == spec.id and (w := wait_s(t)) is not None
            ]
            if not waits:
                continue
            rows.append(
                ClassRow(
                    day=d,
                    cls=spec.id,
                    target_wait_s=spec.target_wait_s,
                    called=len(waits),
                    p50_wait_s=percentile(waits, 50),
                    p90_wait_s=percentile(waits, 90),
                    max_wait_s=max(waits),
                    within_target=sum(1 for w in waits if w <= spec.target_wait_s) / len(waits),
                )
            )
    return rows


def render_table(rows: Sequence[msgspec.Struct]) -> str:
    """Fixed-width text table for the terminal (`branch-teller report`)."""
    if not rows:
        return "(no tickets)\n"
    fields = list(type(rows[0]).__struct_fields__)
    cells = [[_cell(f, getattr(r, f)) for f in fields] for r in rows]
    widths = [max(len(f), *(len(c[i]) for c in cells)) for i, f in enumerate(fields)]
    lines = ["  ".join(f.ljust(w) for f, w in zip(fields, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append("  ".join(v.rjust(w) for v, w in zip(c, widths, strict=True)))
    return "\n".join(lines) + "\n"


def render_csv(rows: Sequence[msgspec.Struct]) -> str:
    """CSV with a header row; numbers unrounded so spreadsheets can aggregate them."""
    out = io.StringIO()
    if not rows:
        return ""
    fields = list(type(rows[0]).__struct_fields__)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for r in rows:
        writer.writerow(["" if (v := getattr(r, f)) is None else v for f in fields])
    return out.getvalue()


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _cell(field: str, value: object) -> str:
    if value is None:
        return "all" if field == "hour" else "-"
    if isinstance(value, float) and field in _SHARES:
        return f"{value * 100:.0f}%"
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value)


_SHARES = frozenset({"within_target", "no_show_share"})
