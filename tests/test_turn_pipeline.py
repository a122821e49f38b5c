"""One turn pipeline, one error contract, through the running service.

Every turn ends in exactly one `reply` or one `error`; a refusal never moves the dialogue;
a failed turn is logged and counted; the connection's reader never waits for a turn. Each
test holds the service at a known point with events, not sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from edge.queue.model import QueueError
from edge.service import Service
from tests.conftest import Running
from tests.wsclient import login, recv_json

QUESTION = "定期存款利率是多少？"  # a question about a product: answered from the documents


async def turn(kiosk: ClientConnection, ref: str, text: str,
               choice: str | None = None) -> list[dict[str, Any]]:
    """Everything the kiosk got for one turn, up to and including its reply or error."""
    await kiosk.send(json.dumps({"type": "text", "id": ref, "text": text, "choice": choice}))
    return await closing(kiosk, ref)


async def closing(kiosk: ClientConnection, ref: str) -> list[dict[str, Any]]:
    got = []
    while True:
        msg = await recv_json(kiosk)
        if msg.get("id") == ref or msg.get("ref") == ref:
            got.append(msg)
            if msg["type"] in ("reply", "error"):
                return got


def refuse_issues(service: Service) -> Callable[[], None]:
    """Make the queue refuse every ticket (as a closed day or a full queue would)."""
    desk = service.desk
    assert desk is not None
    real = desk.run

    async def run(op: str, *args: Any, **kwargs: Any) -> Any:
        if op == "issue":
            raise QueueError("unknown_service", "There is no queue service for that today.")
        return await real(op, *args, **kwargs)

    desk.run = run  # type: ignore[method-assign]

    def restore() -> None:
        desk.run = real  # type: ignore[method-assign]
    return restore


def hold_answers(service: Service, kiosk: str) -> threading.Event:
    """The kiosk's knowledge answers wait (in their worker thread) until the event is set."""
    release = threading.Event()
    session = service.sessions[kiosk]
    real = session.answer
    assert real is not None

    def answer(question: str, language: str, on_sentence: Any = None) -> Any:
        assert release.wait(10), "the test never released the answer"
        return real(question, language, on_sentence)

    session.answer = answer
    return release


async def test_a_refused_ticket_ends_the_turn_in_one_error_and_moves_nothing(
        running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1")
    restore = refuse_issues(running.service)
    got = await turn(kiosk, "a", "我想换点美元")
    assert [m["type"] for m in got] == ["error"], got
    error = got[0]
    assert error["code"] == "unknown_service" and error["ref"] == "a" and error["turn"] == 1
    session = running.service.sessions["kiosk-1"]
    assert session.state.turns == 0 and session.state.last_guess is None
    restore()
    # The customer says it again and the conversation goes on as if nothing had happened.
    got = await turn(kiosk, "b", "我想换点美元")
    assert [m["type"] for m in got] == ["ticket", "reply"]
    assert got[1]["turn"] == 2
    assert running.service.health().turn_failures == {"unknown_service": 1}
    await kiosk.close()


async def test_a_refusal_in_a_voice_turn_reaches_the_kiosk(running: Running) -> None:
    """Voice turns take the same path: the refusal is an `error` for that turn, not lost."""
    kiosk = await login(running.url, "kiosk-1")
    restore = refuse_issues(running.service)
    session = running.service.sessions["kiosk-1"]
    await session.voice_turn("我想换点美元", "zh", None)
    error = await recv_json(kiosk)
    assert error["type"] == "error" and error["code"] == "unknown_service" and error["turn"] == 1
    restore()
    await session.voice_turn("我想换点美元", "zh", None)
    got = []
    while not got or got[-1]["type"] != "reply":
        msg = await recv_json(kiosk)
        if msg["type"] != "queue_update":  # every kiosk hears the queue move
            got.append(msg)
    assert [m["type"] for m in got] == ["ticket", "reply"] and got[1]["turn"] == 2
    await kiosk.close()


async def test_an_unexpected_failure_is_an_internal_error_logged_and_counted(
        running: Running, caplog: pytest.LogCaptureFixture) -> None:
    service = running.service
    real = service._understand
    calls = 0

    def broken(text: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("router exploded")
        return real(text)

    kiosk = await login(running.url, "kiosk-1")
    service.sessions["kiosk-1"].understand = broken
    got = await turn(kiosk, "a", "我想换点美元")
    assert [(m["type"], m["code"]) for m in got] == [("error", "internal")]
    assert "router exploded" not in got[0]["message"]  # the cause stays in the log
    assert any("turn 1 failed" in r.getMessage() and r.exc_info for r in caplog.records)
    assert service.health().turn_failures == {"internal": 1}
    assert b'branch_teller_turn_failures_total{code="internal",kind="text"} 1.0' in \
        service.metrics.render()
    got = await turn(kiosk, "b", "我想换点美元")
    assert [m["type"] for m in got] == ["ticket", "reply"]
    await kiosk.close()


async def test_the_reader_is_free_while_an_answer_is_being_written(running: Running) -> None:
    """A slow knowledge answer holds its turn, not the connection: other messages are read
    and answered meanwhile, and the turn's reply comes once the answer is done."""
    kiosk = await login(running.url, "kiosk-1")
    release = hold_answers(running.service, "kiosk-1")
    await kiosk.send(json.dumps({"type": "text", "id": "q", "text": QUESTION}))
    await kiosk.send("{not json")  # read and answered while the question is held
    err = await recv_json(kiosk)
    assert err["type"] == "error" and err["code"] == "malformed", err
    await kiosk.send(json.dumps({"type": "context", "elderly": True}))
    await kiosk.send(json.dumps({"type": "bogus"}))
    assert (await recv_json(kiosk))["type"] == "error"  # the context was read before it
    session = running.service.sessions["kiosk-1"]
    assert session.core.context.elderly
    release.set()
    got = await closing(kiosk, "q")
    assert got[-1]["type"] == "reply" and got[-1]["large_text"]
    await kiosk.close()


async def test_turns_queue_in_order_and_an_overfull_inbox_is_told_busy(
        running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1")
    release = hold_answers(running.service, "kiosk-1")
    inbox = running.service.config.sessions.max_queued_turns
    await kiosk.send(json.dumps({"type": "text", "id": "q", "text": QUESTION}))
    refs = [f"t{i}" for i in range(inbox + 1)]
    for ref in refs:
        await kiosk.send(json.dumps({"type": "text", "id": ref, "text": "你们几点开门"}))
    busy = await recv_json(kiosk)  # the one that did not fit, answered at once
    assert busy["type"] == "error" and busy["code"] == "busy" and busy["ref"] == refs[-1]
    release.set()
    closed: list[tuple[str, str]] = []
    while len(closed) < inbox + 1:
        msg = await recv_json(kiosk)
        if msg["type"] in ("reply", "error"):
            closed.append((msg.get("id") or msg.get("ref"), msg["type"]))
    assert closed == [("q", "reply"), *((r, "reply") for r in refs[:-1])]
    await kiosk.close()


async def test_every_turn_ends_in_exactly_one_reply_or_error(running: Running) -> None:
    kiosk = await login(running.url, "kiosk-2")
    restore = refuse_issues(running.service)
    texts = ["你好", "我想换点美元", "x" * 5000, "你们几点开门", "我要取钱", "两千", "没事了"]
    for n, text in enumerate(texts):
        await kiosk.send(json.dumps({"type": "text", "id": f"r{n}", "text": text}))
    ends: dict[str, list[str]] = {}
    while sum(len(v) for v in ends.values()) < len(texts):
        msg = await recv_json(kiosk)
        ref = msg.get("id") or msg.get("ref")
        if msg["type"] in ("reply", "error"):
            ends.setdefault(ref, []).append(msg["type"])
    restore()
    assert sorted(ends) == [f"r{n}" for n in range(len(texts))]
    assert all(len(v) == 1 for v in ends.values()), ends
    assert ends["r1"] == ["error"] and ends["r2"] == ["error"] and ends["r3"] == ["reply"]
    with pytest.raises(TimeoutError):  # nothing more for any of those turns
        await asyncio.wait_for(kiosk.recv(), 0.3)
    await kiosk.close()
