"""What a box and central say to each other (JSON, msgspec structs): the one contract that
`provisioning/central/server.py` (central) and `edge/central_link.py` (the box) both build on.

    POST /api/v1/report        BoxReport  -> Assignment   (Authorization: Bearer BOX_ID:SECRET)
    POST /api/v1/day           DayReport  -> {"ok": true}
    GET  /api/v1/link          websocket the box keeps open (same Authorization header):
                               box -> central: BoxReport;
                               central -> box: Nudge | Assignment | LinkError
    GET  /repo/metadata/...    the TUF repository's metadata   (static files; Range honoured)
    GET  /repo/targets/...     the TUF repository's targets    (static files; Range honoured)

Nothing here carries a customer: no transcript, ticket number, name or any customer field.
Day aggregates are counts, shares and percentiles over the whole day.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# A box's step in a rollout, as central's fleet table shows it.
#   targeted: central assigned the bundle, the box has not started on it yet
#   downloading: the box is fetching and verifying it (TUF)
#   installing: staged, verifying, smoke testing or waiting for a quiet lobby
#   applied: switched, on probation
#   succeeded: committed after probation
#   failed: refused (trust, verify or smoke failure) or could not be fetched
#   rolled_back: switched, then rolled back by itself during probation
BoxStep = Literal[
    "targeted", "downloading", "installing", "applied", "succeeded", "failed", "rolled_back"
]
STEPS: tuple[str, ...] = (
    "targeted", "downloading", "installing", "applied", "succeeded", "failed", "rolled_back"
)
FAILED_STEPS: frozenset[str] = frozenset({"failed", "rolled_back"})


class Part(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the parts inside a message."""


class Wire(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    """Base of every message; each carries its kind in "type" (a msgspec tagged union)."""


class UpdateReport(Part):
    """Where the box is with the bundle central assigned it."""

    rollout: str  # the rollout's id ("" when the box fetched on its own schedule)
    bundle: str  # the bundle index name (provisioning/repository.py: bundles/<bundle>.json)
    step: BoxStep
    reason: str = ""  # why it failed or rolled back, or why it waits


class BoxHealth(Part):
    """The box's own state (from /health), no customer data."""

    uptime_s: float = 0.0
    trust: str = ""  # "ok: ...", "stale: ...", "rejected: ..." (see devices/health_payloads.BundleStatus)
    turn_failures: int = 0  # customer turns that failed since start
    open_alerts: int = 0
    kiosks_online: int = 0


class BoxReport(Wire, kw_only=True, forbid_unknown_fields=True, tag="report"):
    """A box's report: sent on connect, on every update step, and every report_interval_s."""

    box_id: str
    service_version: str
    bundle: str  # the active bundle id, or "factory"
    components: dict[str, int] = msgspec.field(default_factory=dict)  # name -> version
    update: UpdateReport | None = None
    health: BoxHealth = msgspec.field(default_factory=BoxHealth)
    sent_at: float = 0.0  # the box's clock (central records its own receipt time too)


class Assignment(Wire, kw_only=True, forbid_unknown_fields=True, tag="assignment"):
    """Central's answer: which bundle this box should run now ("" = stay as you are)."""

    rollout: str = ""
    bundle: str = ""


class Nudge(Wire, kw_only=True, forbid_unknown_fields=True, tag="nudge"):
    """Central -> box over the link: a rollout concerns you; report now (and fetch)."""

    rollout: str
    bundle: str


# Central's link errors: their own small set (devices/errors.py registers the kiosk protocol's)
LinkErrorCode = Literal["bad_message", "box_id_mismatch", "binary_frame", "internal"]


class LinkError(Wire, kw_only=True, forbid_unknown_fields=True, tag="error"):
    """Central -> box over the link: a message central could not take, and why. The link
    stays open; the box may send a corrected report."""

    code: LinkErrorCode
    detail: str  # a human sentence


class WaitStats(Part):
    """Waits of one service and class over a day, in seconds."""

    served: int = 0
    p50_s: float = 0.0
    p90_s: float = 0.0
    within_target: float = 0.0  # share of tickets called within the class's target wait


class DayAggregates(Part):
    """One branch's day in numbers: what central may know, and nothing more."""

    # service -> customer class -> waits ("cash" -> "normal"/"priority"/"vip"...)
    waits: dict[str, dict[str, WaitStats]] = msgspec.field(default_factory=dict)
    within_target: float = 0.0  # share of all tickets called within their target wait
    tickets: int = 0
    conversations: int = 0
    deflected: float = 0.0  # share of conversations that ended at a self-service terminal
    turns: dict[str, int] = msgspec.field(default_factory=dict)  # channel (voice/text/touch) -> n
    # model ("stt", "router", "llm", "tts", "turn") -> {"p50_ms": .., "p95_ms": .., "n": ..}
    latency_ms: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)


class DayReport(Wire, kw_only=True, forbid_unknown_fields=True, tag="day"):
    """Sent once after the queue day closes (and resent until central acknowledges it)."""

    box_id: str
    day: str  # YYYY-MM-DD, the branch's business day
    aggregates: DayAggregates


# What central sends down the link; what a box sends up it.
LinkMessage = Nudge | Assignment | LinkError
LINK_DECODER = msgspec.json.Decoder(LinkMessage)
REPORT_DECODER = msgspec.json.Decoder(BoxReport)
DAY_DECODER = msgspec.json.Decoder(DayReport)
ENCODER = msgspec.json.Encoder()
