"""The LLM tier in the running service: unsure routing, fallbacks, grounded answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from intents.answers.llm import LlmEngine
from intents.answers.llm_fake import ScriptedBackend
from tests.conftest import Running
from tests.wsclient import login

AMBIGUOUS = "my card doesn't work"  # the router is unsure among card intents


async def turn(running: Running, text: str) -> list[dict]:  # type: ignore[type-arg]
    kiosk = await login(running.url, "kiosk-2")
    await kiosk.send(json.dumps({"type": "text", "id": "t", "text": text}))
    got = []
    while True:
        msg = json.loads(await asyncio.wait_for(kiosk.recv(), 20))
        if msg.get("id") == "t":
            got.append(msg)
            if msg["type"] == "reply":
                break
    await kiosk.close()
    return got


def router_is_unsure(running: Running) -> bool:
    assert running.service._understand is not None
    return bool(running.service._understand(AMBIGUOUS).unsure)


async def test_llm_resolves_an_unsure_request_among_the_routers_candidates(
        running: Running) -> None:
    if not router_is_unsure(running):
        pytest.skip("the router is sure of this one; nothing for the LLM to do")
    cands = running.service._understand(AMBIGUOUS).candidates  # type: ignore[misc]
    pick = next(c for c in cands if c != "out_of_scope")
    running.service.llm = LlmEngine(ScriptedBackend(route_key=pick))
    got = await turn(running, AMBIGUOUS)
    reply = got[-1]
    assert reply["choices"] == [] or reply["choices"][0]["key"] == "ticket"
    assert reply["intent"] in cands


@pytest.mark.parametrize("backend", [
    ScriptedBackend(route_key="card_lost", fail_at=0),  # the model raises
    ScriptedBackend(route_key="card_lost", prefill_s=5.0),  # slower than the deadline
])
async def test_a_failing_or_late_llm_leaves_the_clarifying_question(
        running: Running, backend: ScriptedBackend) -> None:
    if not router_is_unsure(running):
        pytest.skip("the router is sure of this one")
    running.service.llm = LlmEngine(backend)
    started = asyncio.get_running_loop().time()
    got = await turn(running, AMBIGUOUS)
    elapsed = asyncio.get_running_loop().time() - started
    reply = got[-1]
    assert reply["choices"] and reply["choices"][0]["key"] != "ticket", reply
    assert elapsed < running.service.config.llm.route_deadline_s + 3


async def test_knowledge_answers_reach_the_kiosk_with_their_sources(running: Running) -> None:
    await asyncio.wait_for(running.service.hub_ready.wait(), 60)
    got = await turn(running, "What documents do I need to open an account?")
    reply = got[-1]
    assert reply["sources"], reply
    assert all("§" in s or s.endswith(".md") for s in reply["sources"])
    assert [c["key"] for c in reply["choices"]] == ["ticket", "end"]
    got = await turn(running, "What are your opening hours?")
    assert "9:00" in got[-1]["text"]  # from the branch's settings


async def test_a_model_stuck_in_its_think_block_gives_the_extractive_answer(
        running: Running) -> None:
    await asyncio.wait_for(running.service.hub_ready.wait(), 60)
    running.service.llm = LlmEngine(ScriptedBackend(answer="<think>嗯", endless=True))
    running.service._answerer = None
    got = await turn(running, "What documents do I need to open an account?")
    reply = got[-1]
    assert reply["sources"] and "think" not in reply["text"].lower() and "嗯" not in reply["text"]
