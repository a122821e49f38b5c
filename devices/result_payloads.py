"""Command result payloads: what a staff command's `result` carries, tagged by `kind`
(search, report, appointments, what-if, audit log, guidance).
"""

from __future__ import annotations

import msgspec

from devices.payloads import Payload


class Passage(Payload):
    """A knowledge passage found by a staff search, with what staff need to quote it."""

    source: str
    section: str
    title: str
    text: str
    risk_note: str = ""
    audience: str = ""
    version: str = ""
    effective_date: str = ""
    score: float = 0.0


class SearchData(Payload, tag="kb_search", tag_field="kind"):
    """`kb_search`: the best passages for the query."""

    query: str
    passages: list[Passage]


class ServiceReportRow(Payload):
    """One service in one hour of arrival (hour None: the whole day)."""

    day: str
    hour: int | None
    service: str
    issued: int
    called: int
    served: int
    no_shows: int
    cancelled: int
    avg_wait_s: float | None = None
    p90_wait_s: float | None = None
    max_wait_s: float | None = None
    avg_service_s: float | None = None
    within_target: float | None = None  # share called within the class's target wait
    no_show_share: float | None = None


class ClassReportRow(Payload):
    """One priority class over the day: did it get the waits it was promised?"""

    day: str
    cls: str
    target_wait_s: float
    called: int
    p50_wait_s: float | None = None
    p90_wait_s: float | None = None
    max_wait_s: float | None = None
    within_target: float | None = None


class ReportData(Payload, tag="report", tag_field="kind"):
    """`report`: the day per service and hour, and per priority class."""

    day: str
    services: list[ServiceReportRow]
    classes: list[ClassReportRow]


class Booking(Payload):
    """One appointment as staff see it: whether a hint is on file, never the hint."""

    number: str
    date: str
    window: str  # "09:30-10:00"
    service: str
    status: str  # booked, checked_in, cancelled, expired
    intent: str | None = None
    priority_class: str | None = None
    ticket: str | None = None
    hint: bool = False


class AppointmentsData(Payload, tag="appointments", tag_field="kind"):
    """`appointments`: the day's book, counts per status first."""

    day: str
    counts: dict[str, int]
    appointments: list[Booking]


class WhatIfGroup(Payload):
    """Simulated waits of one service or one priority class (over all replications)."""

    key: str
    customers: float  # per replication, on average
    p50_s: float | None = None
    p90_s: float | None = None
    within_target: float | None = None  # share called within their class's target wait
    target_s: float | None = None  # classes only
    unserved: float = 0.0  # per replication: still waiting when the simulation stopped


class WhatIfScenario(Payload):
    """One staffing plan's simulated next hour."""

    label: str
    changes: list[str]
    services: list[WhatIfGroup]
    classes: list[WhatIfGroup]
    empty_at_s: float | None = None  # median seconds until nobody waits (None: not in horizon)
    empty_share: float = 0.0  # share of replications in which the queue emptied


class WhatIfSuggestion(Payload):
    """One change that brings the late classes back within their targets."""

    change: str
    fixes: list[str]
    p90_s: dict[str, float]  # the fixed classes' p90 wait under the change
    text: str


class WhatIfData(Payload, tag="what_if", tag_field="kind"):
    """`what_if`: the next `horizon_min` minutes as things are (`base`) and with the change
    (`changed`, None without one); `seed` repeats the run, and is in the audit log."""

    now: float
    seed: int
    horizon_min: int
    replications: int
    base: WhatIfScenario
    changed: WhatIfScenario | None = None
    late_classes: list[str] = msgspec.field(default_factory=list)  # p90 over target now
    suggestion: WhatIfSuggestion | None = None
    arrivals_per_h: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)
    service_mean_s: dict[str, float] = msgspec.field(default_factory=dict)


class AuditEntry(Payload):
    """One audit-log row: who did what, when; `detail` is the action's JSON detail."""

    id: int
    at: float
    actor: str
    action: str
    detail: str


class AuditLogData(Payload, tag="audit_log", tag_field="kind"):
    """`audit_log`: the newest `server.console_audit_rows` entries, newest first."""

    rows: list[AuditEntry]


class RiskFlag(Payload):
    """A risk the kiosk raised while the customer talked to it (masked, codes and amounts)."""

    rule: str  # "scam", "large_cash", "large_transfer", "cross_border", "splitting"
    detail: str  # the scam pattern, or the amount in CNY
    text: str  # how staff read it
    verify: bool = False  # a supervisor's second verification is still open


class GuidanceData(Payload, tag="guidance", tag_field="kind"):
    """`call_next`, `recall`: how to serve the called ticket, from the knowledge hub (documents
    to check, identity verification standard, compliance wording) and its risk flags."""

    ticket: str
    intent: str | None
    business: str
    passages: list[Passage]
    risks: list[RiskFlag] = msgspec.field(default_factory=list)


ResultData = (SearchData | ReportData | AppointmentsData | WhatIfData | AuditLogData
              | GuidanceData)
