"""Session messages every role exchanges: hello and welcome, describe, error, bye.
"""

from __future__ import annotations

import msgspec

from devices.branch_payloads import (
    ClassInfo,
    CounterInfo,
    Features,
    Names,
    PageOptions,
    ServiceInfo,
    TerminalInfo,
)
from devices.errors import ErrorCode
from devices.message_base import Message, Role
from devices.payloads import Language


class Hello(Message, tag="hello"):
    """First message of every connection: who the device is and what it can do."""

    device_id: str
    role: Role
    credential: str
    protocol: int
    capabilities: list[str] = msgspec.field(default_factory=list)


class Welcome(Message, tag="welcome"):
    """Hello accepted."""

    session: str
    protocol: int
    role: Role
    branch: str
    server_time: float
    counter: str | None = None


class Error(Message, tag="error"):
    """Something the device sent could not be done; `code` is stable, `message` is for people."""

    code: ErrorCode
    message: str
    ref: str | None = None
    fatal: bool = False
    turn: int | None = None  # the customer turn this error closes (instead of its `reply`)


class Describe(Message, tag="describe"):
    """The branch as a page or console draws it; sent right after `welcome` and on request.

    `terminals` are listed for kiosks only; `features` say what works right now."""

    branch: str
    name: Names
    role: Role
    languages: list[Language]
    services: list[ServiceInfo]
    classes: list[ClassInfo]
    counters: list[CounterInfo]
    terminals: list[TerminalInfo] = msgspec.field(default_factory=list)
    features: Features = msgspec.field(default_factory=Features)
    page: PageOptions = msgspec.field(default_factory=PageOptions)


class DescribeRequest(Message, tag="describe_request"):
    """Ask for `describe` again (answered with the same `id`)."""


class Bye(Message, tag="bye"):
    """The service is closing this connection (shutdown, replaced by a newer login...)."""

    reason: str
    reconnect_after_s: float = 1.0
