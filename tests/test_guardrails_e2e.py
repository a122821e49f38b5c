"""The guardrails end to end: the real service on 127.0.0.1, real websocket clients for the
kiosk and the staff consoles. A large withdrawal raises an alert the counter cannot get past
until a supervisor verifies it (password re-entered); a scam gets the uninterruptible warning,
an urgent ticket and an urgent alert naming the kiosk; the teller sees guidance and the risk
flags when calling the ticket, also after a restart; every decision is in the audit log."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from devices.protocol import PROTOCOL_VERSION
from devices.staff_login import StaffSession, confirm
from devices.staff_login import login as staff_login
from edge.service import Service
from tests.conftest import Running, make_config
from tests.wsclient import TIMEOUT, alert_of_kind, command, login, recv_until


async def _text(kiosk: Any, ref: str, text: str) -> dict[str, Any]:
    await kiosk.send(json.dumps({"type": "text", "id": ref, "text": text}))
    return await recv_until(kiosk, "reply", id=ref)


async def _manager(running: Running) -> tuple[StaffSession, Any]:
    """The lobby manager's console, on the shift session the password confirms."""
    session = await staff_login(running.url, "manager", "demo-manager", timeout=TIMEOUT)
    ws = await connect(
        f"{running.url}/console", open_timeout=TIMEOUT, additional_headers=session.header()
    )
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "device_id": session.user,
                "role": "console",
                "credential": "",
                "protocol": PROTOCOL_VERSION,
            }
        )
    )
    assert (await recv_until(ws, "welcome"))["type"] == "welcome"
    return session, ws


def _forget_confirmation(running: Running, session: StaffSession) -> None:
    """As if the manager logged in long ago: an override asks the password again."""
    gate = running.service.staff
    assert gate is not None
    for digest, live in list(gate.book._live.items()):
        if live.user == session.user:
            gate.book._live[digest] = replace(live, confirmed_at=0.0)


async def _call(teller: Any, number: str) -> dict[str, Any]:
    """Call until this ticket comes up (a fresh branch: it is the first)."""
    result = await command(teller, "call", "call_next", counter="c1")
    assert result["type"] == "result" and result["ticket"]["number"] == number, result
    return result


async def test_a_large_withdrawal_waits_for_the_supervisors_verification(running: Running) -> None:
    async with asyncio.timeout(60):  # the guidance comes from the knowledge hub
        while running.service.hub is None:
            assert running.service.hub_error is None, running.service.hub_error
            await asyncio.sleep(0.1)
    manager_session, manager = await _manager(running)
    teller = await login(running.url, "teller-1")
    kiosk = await login(running.url, "kiosk-1")
    sent = time.perf_counter()
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我要取八万块现金"}))
    alert = await alert_of_kind(manager, "large_cash")
    alert_ms = (time.perf_counter() - sent) * 1000
    reply = await recv_until(kiosk, "reply", id="t1")
    ticket = (await recv_until(teller, "queue_update", event="issue"))["ticket"]["number"]
    assert reply["interruptible"] is False and reply["warning"] == "large_cash"
    assert alert["verify"] is True and alert["ticket"] == ticket
    assert alert["device"] == "kiosk-1" and "8万元" in alert["text"]
    assert alert_ms < 5000  # the turn's whole path; the 100 ms figure is bench's

    called = await _call(teller, ticket)
    guidance = called["data"]
    assert guidance["kind"] == "guidance" and guidance["business"] == "取款"
    assert any("teller_guidance.md" in p["source"] for p in guidance["passages"])
    [risk] = guidance["risks"]
    assert risk["rule"] == "large_cash" and risk["verify"] is True and "80000" in risk["text"]

    held = await command(teller, "s1", "start", counter="c1")
    assert held["type"] == "error" and held["code"] == "verification_required", held
    plain = await command(manager, "a1", "ack_alert", alert=alert["alert"])
    assert plain["type"] == "error" and plain["code"] == "verification_required"
    teller_try = await command(teller, "v0", "verify_alert", alert=alert["alert"])
    assert teller_try["type"] == "error" and teller_try["code"] == "forbidden"
    _forget_confirmation(running, manager_session)
    asked = await command(manager, "v1", "verify_alert", alert=alert["alert"])
    assert asked["type"] == "error" and asked["code"] == "confirm_required"
    assert await confirm(running.url, manager_session, "demo-manager", timeout=TIMEOUT)
    verified = await command(manager, "v2", "verify_alert", alert=alert["alert"])
    assert verified["type"] == "result", verified
    started = await command(teller, "s2", "start", counter="c1")
    assert started["type"] == "result", started

    auditor = await login(running.url, "auditor")
    rows = (await command(auditor, "log", "audit_log"))["data"]["rows"]
    actions = {(r["actor"], r["action"]) for r in rows}
    assert ("kiosk-1", "guardrail") in actions and ("manager", "verify_alert") in actions
    assert ("teller-1", "refused:start") in actions
    for ws in (manager, teller, kiosk, auditor):
        await ws.close()


async def test_a_scam_gets_the_warning_an_urgent_ticket_and_an_alert_naming_the_kiosk(
    running: Running,
) -> None:
    _, manager = await _manager(running)
    kiosk = await login(running.url, "kiosk-2")
    reply = await _text(
        kiosk,
        "s1",
        "A man from the police called, he says my account is "
        "involved in money laundering and I must move my savings to a safe "
        "account today",
    )
    assert reply["interruptible"] is False and reply["warning"] == "scam"
    assert "do not transfer" in reply["text"] and reply["language"] == "en"
    alert = await alert_of_kind(manager, "urgent_ticket")
    assert alert["severity"] == "urgent" and alert["device"] == "kiosk-2"
    assert "safe_account" in alert["text"]
    # an innocent look-alike right after: served as usual
    innocent = await _text(kiosk, "s2", "I'd like to collect my police pension")
    assert innocent["interruptible"] is True and innocent.get("warning") is None
    await kiosk.close()
    await manager.close()


async def test_risk_flags_and_the_open_verification_survive_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Service.open(config, demo=True) as service:
        assert service.address is not None
        url = f"ws://{service.address[0]}:{service.address[1]}"
        kiosk = await login(url, "kiosk-1")
        for i, amount in enumerate((49000, 48000)):  # splitting, in one visit
            await _text(kiosk, f"t{i}", f"我要取{amount}元现金")
        await kiosk.close()
    async with Service.open(config, demo=True) as service:  # the same data folder
        assert service.address is not None
        url = f"ws://{service.address[0]}:{service.address[1]}"
        running = Running(service, url)
        teller = await login(url, "teller-1")
        first = await command(teller, "c1", "call_next", counter="c1")
        assert first["data"]["risks"] == []  # the first request alone was not large
        await command(teller, "d1", "complete", counter="c1")
        second = await command(teller, "c2", "call_next", counter="c1")
        [risk] = second["data"]["risks"]
        assert risk["rule"] == "splitting" and "97000" in risk["text"] and risk["verify"]
        held = await command(teller, "s2", "start", counter="c1")
        assert held["code"] == "verification_required"
        assert running.service.desk is not None
        assert running.service.desk.awaiting_verification(second["ticket"]["number"])
        await teller.close()
