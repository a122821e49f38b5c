"""The websocket handshake's rules: one endpoint per role, which need a staff token, what a
first message must be, and how a refused or closed connection is counted."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from devices.message_base import Role
from devices.protocol import PROTOCOL_VERSION, ProtocolError, decode_client
from devices.session_messages import Hello

ENDPOINTS: dict[str, Role] = {"/kiosk": "kiosk", "/caller": "caller", "/console": "console"}
# HTTP answers to a websocket handshake that count as refused connections, by kind.
REFUSED_STATUS = {401: "unauthorized", 404: "unknown_endpoint", 503: "over_capacity"}
# Endpoints whose websocket upgrade needs a staff session token (`Authorization: Bearer`).
GATED: frozenset[Role] = frozenset({"console"})
# Close codes the websockets library sends when a client breaks the framing rules.
CLOSE_KINDS = {1002: "protocol_violation", 1007: "invalid_data", 1009: "frame_too_large"}


def source_of(ws: ServerConnection) -> str:
    """The client's address without its port (one source per host)."""
    addr = ws.remote_address
    return str(addr[0]) if addr else "unknown"


def closed_kind(closed: ConnectionClosed) -> str | None:
    """Why a client's connection ended badly; None for a clean close."""
    if closed.sent is not None and closed.sent.code in CLOSE_KINDS:
        return CLOSE_KINDS[closed.sent.code]
    if closed.rcvd is None and closed.sent is None:
        return "dropped"  # no close frame either way: reset, half-open, cut mid-frame
    return None


def check_hello(raw: str | bytes, role: Role, max_message_bytes: int) -> Hello:
    """A connection's first frame as a hello for this endpoint in this protocol version."""
    if len(raw) > max_message_bytes:
        raise ProtocolError("too_large", "A hello is limited to "
                            f"{max_message_bytes} bytes.")
    msg = decode_client(raw, role)
    if not isinstance(msg, Hello):
        raise ProtocolError("hello_required", "The first message must be a hello.", msg.id)
    if msg.role != role:
        raise ProtocolError("wrong_endpoint",
                            f"A {msg.role} must connect to /{msg.role}, not /{role}.", msg.id)
    if msg.protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            "protocol_version",
            f"Protocol version {msg.protocol} is not supported; this service speaks "
            f"version {PROTOCOL_VERSION}.", msg.id)
    return msg
