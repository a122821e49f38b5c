"""What the service hands the device server: its limits, the `Handler` that authenticates
devices and acts on their messages, and the staff login `Gate`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from websockets.datastructures import Headers
from websockets.http11 import Response

from devices.health_payloads import Health
from devices.message_base import Message, Role
from devices.peer import Identity, Peer
from devices.protocol import ProtocolError
from devices.ratelimit import RateSettings
from devices.session_messages import Hello


@dataclass(frozen=True)
class Limits:
    """Per-connection limits (from the service's config)."""

    max_message_bytes: int = 65_536
    hard_max_message_bytes: int = 1_048_576
    send_queue: int = 256
    hello_timeout_s: float = 10.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    max_connections: int = 200  # open websockets, logged in or still before hello
    max_pending_hello: int = 64  # of those, connections that have not said hello yet
    log_interval_s: float = 60.0  # refusals and bad messages: one summary line per source
    log_sources: int = 1024  # sources counted apart; the rest are summed as "other"
    max_per_source: int = 100  # open websockets from one address
    max_kiosks: int = 64  # logged-in connections per role
    max_callers: int = 16
    max_consoles: int = 32
    rates: RateSettings | None = None  # per-connection budgets; None: unlimited (harnesses)
    abuse_cooloff_s: float = 10.0  # a device closed for abuse is refused at hello this long

    def role_cap(self, role: Role) -> int:
        return {"kiosk": self.max_kiosks, "caller": self.max_callers,
                "console": self.max_consoles}[role]


class Handler(Protocol):
    """What the service provides to the device server."""

    def authenticate(self, hello: Hello) -> Identity | ProtocolError: ...
    async def on_connect(self, peer: Peer) -> None: ...
    async def on_message(self, peer: Peer, msg: Message) -> None: ...
    async def on_audio(self, peer: Peer, stream: int, seq: int, pcm: bytes) -> None: ...
    async def on_disconnect(self, peer: Peer) -> None: ...
    def health(self) -> Health: ...


class Gate(Protocol):
    """Staff login over HTTP and the token check at a console's websocket upgrade."""

    async def http(self, path: str, headers: Headers, source: str) -> Response | None: ...
    def upgrade(self, headers: Headers) -> Identity | None: ...
