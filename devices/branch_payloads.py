"""Branch payloads: the branch as `describe` draws it (names, services, classes, counters,
terminals, features, page options) and the fields of a kiosk's form card.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from devices.payloads import Payload


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
