"""Through the running service: "不对，…" right after a ticket withdraws it and gives the right one."""

from __future__ import annotations

import json
from typing import Any

from edge.queue.events import Cancelled
from edge.service import Service
from tests.conftest import Running, make_config
from tests.wsclient import login, recv_json


async def turn(kiosk: Any, ref: str, text: str, choice: str | None = None) -> list[dict[str, Any]]:
    """Everything the kiosk got for one turn, up to and including its reply."""
    await kiosk.send(json.dumps({"type": "text", "id": ref, "text": text, "choice": choice}))
    got = []
    while True:
        msg = await recv_json(kiosk)
        if msg.get("id") == ref:
            got.append(msg)
            if msg["type"] in ("reply", "error"):
                return got


def of(got: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in got if m["type"] == kind]


async def test_a_correction_replaces_the_wrong_ticket(running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1")
    first = await turn(kiosk, "a", "我想开个户办张新卡")
    wrong = of(first, "ticket")[0]
    assert wrong["service"] == "personal" and of(first, "reply")[0]["ends_session"]
    second = await turn(kiosk, "b", "不对，我是要换美元")
    assert [m["type"] for m in second] == ["ticket_cancelled", "ticket", "reply"]
    assert of(second, "ticket_cancelled")[0]["number"] == wrong["number"]
    right = of(second, "ticket")[0]
    assert right["service"] == "fx" and right["number"] != wrong["number"]
    assert of(second, "reply")[0]["text"].startswith(f"刚才的{wrong['number']}号已取消")
    engine = running.service.desk.engine  # type: ignore[union-attr]
    assert engine.find(wrong["number"]).state == "cancelled"
    store = running.service.store
    assert store is not None
    events = [e for e in await store.load_events() if isinstance(e, Cancelled)]
    assert events and events[-1].reason == "corrected"
    assert engine.find(right["number"]).state == "waiting"
    await kiosk.close()


async def test_a_bare_no_in_english_asks_which_was_meant(running: Running) -> None:
    kiosk = await login(running.url, "kiosk-2")
    first = await turn(kiosk, "a", "I want to open a bank account")
    wrong = of(first, "ticket")[0]
    asked = of(await turn(kiosk, "b", "that's wrong"), "reply")[0]
    assert asked["text"].startswith("Sorry, I got that wrong.") and asked["choices"]
    assert not asked["ends_session"]
    key = asked["choices"][0]["key"]
    third = await turn(kiosk, "c", "", choice=key)
    assert of(third, "ticket_cancelled")[0]["number"] == wrong["number"]
    assert of(third, "ticket") or of(third, "go_terminal")
    await kiosk.close()


async def test_a_ticket_already_called_is_kept_and_no_second_one_issued(
        running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1")
    wrong = of(await turn(kiosk, "a", "我想开个户办张新卡"), "ticket")[0]
    desk = running.service.desk
    assert desk is not None
    called = await desk.run("call_next", "c1")
    assert called.ticket is not None and called.ticket.number == wrong["number"]
    second = await turn(kiosk, "b", "不对，我是要换美元")
    assert [m["type"] for m in second] == ["reply"]
    assert "已经在叫号" in second[0]["text"]
    assert desk.engine.find(wrong["number"]).state == "called"
    await kiosk.close()


async def test_after_the_window_a_no_is_a_new_customer_s_turn(tmp_path: Any) -> None:
    service = Service(make_config(tmp_path, **{"sessions.correction_window_s": 0.0}), demo=True)
    host, port = await service.start()
    try:
        kiosk = await login(f"ws://{host}:{port}", "kiosk-1")
        wrong = of(await turn(kiosk, "a", "我想开个户办张新卡"), "ticket")[0]
        second = await turn(kiosk, "b", "不对，我是要换美元")
        assert not of(second, "ticket_cancelled")
        assert service.desk is not None
        assert service.desk.engine.find(wrong["number"]).state == "waiting"
        await kiosk.close()
    finally:
        await service.stop()
