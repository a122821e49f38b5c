"""Test helpers: raw websocket clients with a timeout on every wait."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from devices.protocol import PROTOCOL_VERSION
from devices.staff_login import login as staff_login

TIMEOUT = 10.0

CREDENTIALS = {"kiosk-1": ("kiosk", "demo-kiosk-1"), "kiosk-2": ("kiosk", "demo-kiosk-2"),
               "caller-1": ("caller", "demo-caller-1"), "manager": ("console", "demo-manager"),
               "teller-1": ("console", "demo-teller-1"), "teller-2": ("console", "demo-teller-2"),
               "admin": ("console", "demo-admin"), "auditor": ("console", "demo-auditor")}


async def recv_json(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Next JSON message, failing the test after `timeout` seconds."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    data: dict[str, Any] = json.loads(raw)
    return data


async def recv_until(ws: ClientConnection, kind: str, timeout: float = TIMEOUT,
                     **match: Any) -> dict[str, Any]:
    """Skip messages until one of `kind` (with the given field values) arrives."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await recv_json(ws, timeout)
            if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
                return msg


async def login(url: str, device: str, secret: str | None = None,
                describe: bool = True) -> ClientConnection:
    """Connect as a demo device (or with `secret`) and consume the welcome and (unless
    `describe` is False) the `describe` that always follows it."""
    role, credential = CREDENTIALS[device]
    credential = secret or credential
    headers: dict[str, str] = {}
    if role == "console":  # staff: a shift token from /login, checked at the upgrade
        headers = (await staff_login(url, device, credential, timeout=TIMEOUT)).header()
    ws = await connect(f"{url}/{role}", open_timeout=TIMEOUT, additional_headers=headers)
    await ws.send(json.dumps({"type": "hello", "device_id": device, "role": role,
                              "credential": credential, "protocol": PROTOCOL_VERSION}))
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome", welcome
    if describe:
        described = await recv_json(ws)
        assert described["type"] == "describe", described
    return ws


async def command(ws: ClientConnection, ref: str, action: str, **fields: Any) -> dict[str, Any]:
    """Send a console command and return its result or error."""
    await ws.send(json.dumps({"type": "command", "id": ref, "action": action, **fields}))
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await recv_json(ws)
            if msg.get("ref") == ref and msg["type"] in ("result", "error"):
                return msg


async def alert_of_kind(ws: ClientConnection, alert_kind: str,
                        timeout: float = TIMEOUT) -> dict[str, Any]:
    """Skip messages until an `alert` of this kind (large_cash, urgent_ticket...) arrives."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await recv_until(ws, "alert", timeout)
            if msg.get("kind") == alert_kind:
                return msg
