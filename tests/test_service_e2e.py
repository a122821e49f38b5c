"""The real service on 127.0.0.1 port 0 with real websocket clients."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devices.frames import KIND_AUDIO_IN, AudioFrame
from devices.protocol import PROTOCOL_VERSION
from tests.conftest import Running
from tests.wsclient import TIMEOUT, command, login, recv_json, recv_until


def hello(device: str, role: str, credential: str, protocol: int = PROTOCOL_VERSION) -> str:
    return json.dumps({"type": "hello", "device_id": device, "role": role,
                       "credential": credential, "protocol": protocol})


@pytest.mark.parametrize(("path", "message", "code"), [
    ("kiosk", hello("kiosk-9", "kiosk", "whatever-long"), "unknown_device"),
    ("kiosk", hello("kiosk-1", "kiosk", "demo-kiosk-2"), "bad_credential"),
    ("kiosk", hello("kiosk-1", "kiosk", "demo-kiosk-1", protocol=99), "protocol_version"),
    ("caller", hello("kiosk-1", "kiosk", "demo-kiosk-1"), "wrong_endpoint"),
    ("caller", hello("kiosk-1", "caller", "demo-kiosk-1"), "wrong_role"),
    ("kiosk", json.dumps({"type": "text", "text": "hi"}), "hello_required"),
    ("kiosk", "{{{", "malformed"),
])
async def test_refused_hello_gets_a_fatal_error_then_close(running: Running, path: str,
                                                           message: str, code: str) -> None:
    async with connect(f"{running.url}/{path}", open_timeout=TIMEOUT) as ws:
        await ws.send(message)
        err = await recv_json(ws)
        assert err["type"] == "error" and err["code"] == code and err["fatal"] is True
        assert err["message"]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert ws.close_code == 1008


async def test_unknown_path_is_404_and_health_answers(running: Running) -> None:
    with pytest.raises(Exception, match="404"):
        await connect(f"{running.url}/nowhere", open_timeout=TIMEOUT)
    url = running.url.replace("ws://", "http://") + "/health"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=TIMEOUT).read())
    health = json.loads(body)
    assert health["status"] == "ok" and health["protocol"] == PROTOCOL_VERSION
    assert health["router"] == "loaded"


async def test_bad_messages_get_errors_and_the_connection_stays(running: Running) -> None:
    ws = await login(running.url, "kiosk-1")
    bad = [
        ("not json", "malformed"),
        (json.dumps({"type": "fly", "id": "x1"}), "unknown_type"),
        (json.dumps({"type": "ack", "call": "c"}), "not_allowed"),
        (json.dumps({"type": "text", "id": "x2", "text": 42}), "invalid"),
        (json.dumps({"type": "text", "id": "x3", "text": "x" * 70_000}), "too_large"),
        (json.dumps({"type": "text", "id": "x4", "text": "字" * 2_001}), "text_too_long"),
        (hello("kiosk-1", "kiosk", "demo-kiosk-1"), "already_welcomed"),
        (b"\x00\x01garbage", "bad_frame"),
        (AudioFrame(KIND_AUDIO_IN, 1, 0, b"\x00\x00" * 160).encode(), "speech_unavailable"),
    ]
    for raw, code in bad:
        await ws.send(raw)
        err = await recv_until(ws, "error")
        assert err["code"] == code, (raw[:40], err)
        assert err["fatal"] is False
    await ws.send(json.dumps({"type": "text", "id": "ok1", "text": "营业时间是几点"}))
    reply = await recv_until(ws, "reply", id="ok1")
    assert "9:00" in reply["text"]
    await ws.close()


async def test_text_turn_to_ticket_to_call_and_ack(running: Running) -> None:
    kiosk = await login(running.url, "kiosk-2")
    caller = await login(running.url, "caller-1")
    board = await recv_until(caller, "board")
    assert board["serving"] == []
    teller = await login(running.url, "teller-1")
    await recv_until(teller, "snapshot")

    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "I'd like to open a new bank account"}))
    ticket = await recv_until(kiosk, "ticket", id="t1")
    reply = await recv_until(kiosk, "reply", id="t1")
    assert ticket["service"] == "personal" and ticket["number"].startswith("A")
    assert ticket["language"] == "en" and ticket["number"] in reply["text"]
    assert reply["ends_session"] is True

    result = await command(teller, "r1", "call_next")
    assert result["type"] == "result" and result["ticket"]["number"] == ticket["number"]
    call = await recv_until(caller, "call")
    assert call["number"] == ticket["number"] and call["counter"] == "1"
    assert call["text_zh"] == f"请{ticket['number']}号到1号窗口办理业务"
    assert call["text"] == f"Ticket {ticket['number']}, please go to counter 1"
    await caller.send(json.dumps({"type": "ack", "call": call["call"]}))
    await asyncio.sleep(0.2)
    assert running.service.desk is not None
    assert call["call"] not in running.service.desk.pending_calls

    done = await command(teller, "r2", "complete")
    assert done["type"] == "result" and done["ticket"]["state"] == "done"
    again = await command(teller, "r3", "complete")
    assert again["type"] == "error" and again["code"] == "no_ticket"
    audit = await running.service.store.audit_rows()  # type: ignore[union-attr]
    assert [r["action"] for r in audit[:3]] == ["refused:complete", "complete", "call_next"]
    for ws in (kiosk, caller, teller):
        await ws.close()


async def test_unacknowledged_call_is_resent_and_replayed_on_reconnect(running: Running) -> None:
    assert running.service.desk is not None
    running.service.desk.resend_s = 0.5
    kiosk = await login(running.url, "kiosk-1")
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我想办一张新的银行卡开户"}))
    ticket = await recv_until(kiosk, "ticket", id="t1")
    teller = await login(running.url, "teller-2")
    assert (await command(teller, "r1", "call_next"))["type"] == "result"
    # No caller was connected: the call waits; a caller that connects gets it.
    caller = await login(running.url, "caller-1")
    first = await recv_until(caller, "call", number=ticket["number"])
    resent = await recv_until(caller, "call", number=ticket["number"], timeout=5)
    assert resent["call"] == first["call"] and resent["attempt"] > first["attempt"]
    await caller.send(json.dumps({"type": "ack", "call": first["call"]}))
    await asyncio.sleep(1.5)
    assert first["call"] not in running.service.desk.pending_calls
    for ws in (kiosk, teller, caller):
        await ws.close()


async def test_two_tellers_calling_at_once_never_get_the_same_ticket(running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1")
    for i in range(6):
        await kiosk.send(json.dumps({"type": "text", "id": f"t{i}", "text": "我想换点美元外币"}))
        await recv_until(kiosk, "reply", id=f"t{i}")
    one = await login(running.url, "teller-1")
    two = await login(running.url, "teller-2")
    got: list[str] = []
    for round_ in range(3):
        a, b = await asyncio.gather(command(one, f"a{round_}", "call_next"),
                                    command(two, f"b{round_}", "call_next"))
        got += [a["ticket"]["number"], b["ticket"]["number"]]
        await asyncio.gather(command(one, f"ac{round_}", "complete"),
                             command(two, f"bc{round_}", "complete"))
    assert len(got) == len(set(got)) == 6
    for ws in (kiosk, one, two):
        await ws.close()


async def test_a_stuck_client_is_disconnected_without_hurting_others() -> None:
    from devices.server import Identity, Peer
    from devices.session_messages import Bye

    class NeverReads:
        """A socket whose peer stopped reading: send blocks forever."""

        def __init__(self) -> None:
            self.closed: tuple[int, str] | None = None

        async def send(self, item: object) -> None:
            await asyncio.Event().wait()

        async def close(self, code: int, reason: str) -> None:
            self.closed = (code, reason)

    ws = NeverReads()
    peer = Peer(Identity("manager", "console"), ws, queue_size=4)  # type: ignore[arg-type]
    peer.start()
    sent = [peer.send(Bye(reason=str(i))) for i in range(8)]
    assert sent[:4] == [True] * 4 and not any(sent[6:])
    assert peer.stuck
    await peer.finish()


async def test_console_searches_the_knowledge_hub_and_gets_the_report(running: Running) -> None:
    await asyncio.wait_for(running.service.hub_ready.wait(), 60)
    assert running.service.hub_error is None, running.service.hub_error
    staff = await login(running.url, "manager")
    found = await command(staff, "s1", "kb_search", query="小微企业信用贷准入条件")
    assert found["type"] == "result"
    top = found["data"]["passages"][0]
    assert "small_business" in top["source"] or "小微" in top["title"], top
    assert "准入" in found["text"]
    missing = await command(staff, "s2", "kb_search")
    assert missing["type"] == "error" and missing["code"] == "missing_field"

    kiosk = await login(running.url, "kiosk-1")
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我想换点美元外币"}))
    await recv_until(kiosk, "ticket", id="t1")
    report = await command(staff, "r1", "report")
    assert report["type"] == "result"
    assert [r["service"] for r in report["data"]["services"]] == ["fx", "fx"]
    bad = await command(staff, "r2", "report", date="yesterday")
    assert bad["type"] == "error" and bad["code"] == "invalid"
    await staff.close()
    await kiosk.close()


async def test_metrics_endpoint_counts_turns_and_queue_operations(running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1")
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我想换点美元外币"}))
    await recv_until(kiosk, "reply", id="t1")
    url = running.url.replace("ws://", "http://") + "/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=TIMEOUT).read())
    text = body.decode()
    assert 'branch_teller_queue_operations_total{op="issue"} 1.0' in text
    assert 'branch_teller_turns_total{intent="foreign_exchange",kind="text"} 1.0' in text
    assert 'branch_teller_connected_devices{role="kiosk"} 1.0' in text
    assert 'branch_teller_turn_stage_seconds_count{kind="text",stage="route"} 1.0' in text
    await kiosk.close()
