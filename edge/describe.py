"""The `describe` message: the branch as a page or console needs it to draw, from config."""

from __future__ import annotations

from devices.branch_payloads import (
    ClassInfo,
    CounterInfo,
    Features,
    Names,
    PageOptions,
    ServiceInfo,
    TerminalInfo,
)
from devices.message_base import Role
from devices.payloads import Language
from devices.session_messages import Describe
from edge.config import BranchConfig

LANGUAGES: tuple[Language, ...] = ("zh", "en")


def counter_names(number: int) -> Names:
    """How the number-caller names a counter (the announcement's words)."""
    return Names(zh=f"{number}号窗口", en=f"Counter {number}")


def describe_branch(config: BranchConfig, role: Role, features: Features,
                    ref: str | None = None) -> Describe:
    """Services, classes, counters and (for kiosks) terminals of this branch; pure."""
    q = config.queue
    services = [ServiceInfo(id=s.id, prefix=s.prefix, name=Names(zh=s.name_zh, en=s.name_en))
                for s in q.services]
    classes = [ClassInfo(id=c.id, name=Names(zh=c.name_zh or c.id, en=c.name_en or c.id),
                         target_wait_s=c.target_wait_s) for c in q.classes]
    counters = [CounterInfo(id=c.id, number=c.number, name=counter_names(c.number),
                            services=list(c.services), prefer_classes=list(c.prefer_classes))
                for c in q.counters]
    terminals = [] if role != "kiosk" else [
        TerminalInfo(id=t.id, name=Names(zh=t.name_zh, en=t.name_en),
                     location=Names(zh=t.location_zh, en=t.location_en), intents=list(t.intents))
        for t in config.terminals]
    b = config.branch
    return Describe(id=ref, branch=b.id, name=Names(zh=b.name_zh, en=b.name_en), role=role,
                    languages=list(LANGUAGES), services=services, classes=classes,
                    counters=counters, terminals=terminals, features=features,
                    page=PageOptions(barge_in=config.pages.barge_in,
                                     barge_in_min_rms=config.pages.barge_in_min_rms,
                                     barge_in_echo_gain=config.pages.barge_in_echo_gain,
                                     barge_in_hold_ms=config.pages.barge_in_hold_ms))
