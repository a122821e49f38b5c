"""The remote tier inside the running service: it routes and answers when healthy, never
slows a customer turn when down, slow or talking nonsense, and receives only masked text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.service import Service
from tests.conftest import REPO, Running, make_config
from tests.sse_replay import Behaviour, ReplayServer, replay_server
from tests.wsclient import login

AMBIGUOUS = "my card doesn't work"  # the router is unsure among card intents
ID_NUMBER = "110101199003071234"
MOBILE = "13812345678"
CARD = "6222021234567890123"
EMAIL = "zhang.wei@example.com"
IDENTIFIED = [  # turns a customer might really type, identifiers and all
    f"my card doesn't work, card number {CARD}",
    f"What documents do I need to open an account? My ID is {ID_NUMBER}, phone {MOBILE}",
    f"我的卡不能用了，身份证{ID_NUMBER}，电话 138 1234 5678，邮箱 {EMAIL}",
]


def dead_url() -> str:
    """A base URL where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def turn(running: Running, text: str) -> tuple[dict[str, Any], float]:
    """One kiosk text turn: its reply and how long it took."""
    kiosk = await login(running.url, "kiosk-2")
    started = time.monotonic()
    await kiosk.send(json.dumps({"type": "text", "id": "t", "text": text}))
    while True:
        msg = json.loads(await asyncio.wait_for(kiosk.recv(), 30))
        if msg.get("id") == "t" and msg["type"] == "reply":
            elapsed = time.monotonic() - started
            await kiosk.close()
            return msg, elapsed


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server(Behaviour(owned_by="sglang")) as srv:
        yield srv


@contextlib.asynccontextmanager
async def open_service(tmp_path: Path, base_url: str, **remote: Any) -> AsyncIterator[Running]:
    overrides = {
        "llm_remote.base_url": base_url,
        "llm_remote.route_deadline_s": 0.6,
        "llm_remote.first_token_s": 0.8,
        "llm_remote.breaker_failures": 2,
        **{f"llm_remote.{k}": v for k, v in remote.items()},
    }
    async with Service.open(make_config(tmp_path, **overrides), demo=True) as service:
        assert service.address is not None
        host, port = service.address
        yield Running(service, f"ws://{host}:{port}")


def unsure(running: Running, text: str = AMBIGUOUS) -> list[str]:
    understood = running.service._understand(text)
    if not understood.unsure:
        pytest.skip("the router is sure of this one; nothing for the LLM to do")
    return list(understood.candidates)


async def test_the_remote_tier_routes_an_unsure_request(
    tmp_path: Path, server: ReplayServer
) -> None:
    async with open_service(tmp_path, server.base_url, route_deadline_s=1.5) as running:
        candidates = unsure(running)
        pick = next(c for c in candidates if c != "out_of_scope")
        server.behaviour.route_reply = json.dumps({"intent": pick})
        reply, _ = await turn(running, AMBIGUOUS)
        assert reply["intent"] == pick
        body = server.bodies[-1]
        assert (
            body["response_format"]["json_schema"]["schema"]["properties"]["intent"]["enum"]
            == candidates
        )
        health = running.service.health().remote_llm
        assert health.state == "closed" and health.calls == {"route ok": 1}
        metrics = running.service.metrics.render().decode()
        assert 'branch_teller_remote_llm_calls_total{kind="route",outcome="ok"} 1.0' in metrics
        assert 'branch_teller_remote_llm_breaker{state="closed"} 1.0' in metrics


async def test_only_masked_text_reaches_the_remote_server(
    tmp_path: Path, server: ReplayServer
) -> None:
    async with open_service(tmp_path, server.base_url) as running:
        await asyncio.wait_for(running.service.hub_ready.wait(), 60)
        for text in IDENTIFIED:
            await turn(running, text)
        kinds = {"stream" if b.get("stream") else "route" for b in server.bodies}
        assert kinds == {"stream", "route"}, "both routing and an answer went remote"
        for raw in server.raw:
            sent = raw.decode()
            digits = re.sub(r"\D", "", json.loads(raw)["messages"][-1]["content"])
            for secret in (ID_NUMBER, MOBILE, CARD, "zhang.wei"):
                assert secret not in sent and secret not in digits
        assert any("********" in raw.decode() for raw in server.raw)  # masked, not dropped


@pytest.mark.parametrize("fault", ["down", "slow", "nonsense", "error"])
async def test_a_failing_remote_never_slows_a_customer_turn(
    tmp_path: Path, server: ReplayServer, fault: str
) -> None:
    # without the remote tier: the router's clarifying question, no LLM
    async with Service.open(make_config(tmp_path / "plain"), demo=True) as plain:
        assert plain.address is not None
        host, port = plain.address
        baseline_running = Running(plain, f"ws://{host}:{port}")
        unsure(baseline_running)
        await turn(baseline_running, AMBIGUOUS)  # warm
        base_reply, baseline = await turn(baseline_running, AMBIGUOUS)
    server.behaviour = Behaviour(
        owned_by="sglang",
        delay_s=5.0 if fault == "slow" else 0.0,
        route_reply="You want a mortgage!",
        status=503 if fault == "error" else 200,
    )
    url = dead_url() if fault == "down" else server.base_url
    async with open_service(tmp_path / "remote", url) as running:
        timings = []
        for _ in range(4):
            reply, elapsed = await turn(running, AMBIGUOUS)
            assert reply["intent"] == base_reply["intent"]
            assert reply["choices"] == base_reply["choices"]  # the same clarifying question
            timings.append(elapsed)
        remote = running.service.health().remote_llm
        assert remote.state == "open" and remote.fallbacks["route none"] == 4
        assert remote.calls["route breaker_open"] == 2
        # before the breaker opened: at most the remote deadline more; after: no more at all
        slack = 1.5  # a loaded 2-core test machine (the slow server waits 5 s)
        assert max(timings[:2]) < baseline + 0.6 + slack, (timings, baseline)
        assert max(timings[2:]) < baseline + slack, (timings, baseline)
        posts = len(server.bodies)
        await turn(running, AMBIGUOUS)
        assert len(server.bodies) == posts  # open: nothing sent


async def test_a_remote_answer_that_fails_grounding_leaves_the_extractive_answer(
    tmp_path: Path, server: ReplayServer
) -> None:
    server.behaviour.stream = "v3_plain.sse"  # "annual fee is 10 yuan": not in the passage
    async with open_service(tmp_path, server.base_url) as running:
        await asyncio.wait_for(running.service.hub_ready.wait(), 60)
        reply, _ = await turn(running, "What documents do I need to open an account?")
        assert reply["sources"] and "10 yuan" not in reply["text"]
        assert any(b.get("stream") for b in server.bodies)


def copy_the_passage(body: dict[str, Any]) -> list[str]:
    """A model that answers by quoting the first sentence of passage [1], citing it."""
    prompt = body["messages"][-1]["content"]
    passage = prompt.split("[1] ", 1)[1].split("\n\n", 1)[0]
    sentence = re.split(r"(?<=[.!?。！？])\s*", passage.strip())[0].rstrip(".。")
    return [sentence[i : i + 7] for i in range(0, len(sentence), 7)] + [" [1]. "]


async def test_a_grounded_remote_answer_is_spoken_with_its_source(
    tmp_path: Path, server: ReplayServer
) -> None:
    server.behaviour.reply_with = copy_the_passage
    async with open_service(tmp_path, server.base_url) as running:
        await asyncio.wait_for(running.service.hub_ready.wait(), 60)
        reply, _ = await turn(running, "What documents do I need to open an account?")
        quoted = "".join(copy_the_passage(server.bodies[-1])[:-1])
        assert quoted and quoted in reply["text"] and reply["sources"], reply
        assert not reply["text"].startswith("From our")  # not the extractive answer
        assert running.service.health().remote_llm.calls == {"answer ok": 1}


async def test_with_a_local_tier_a_slow_remote_costs_the_turn_nothing(
    tmp_path: Path, server: ReplayServer
) -> None:
    """Routing races the two tiers: a remote server slower than the box's own model is
    dropped, so the turn takes what the local tier alone takes (not its 3 s deadline)."""
    tiny = REPO / "models" / "llm-tiny"
    if not (tiny / "genai_config.json").is_file():
        pytest.skip("models/llm-tiny missing: python -m provisioning.llm_build tiny")
    local = {"llm.folder": str(tiny), "llm.route_deadline_s": 3.0}
    async with Service.open(make_config(tmp_path / "plain", **local), demo=True) as plain:
        assert plain.address is not None
        host, port = plain.address
        alone = Running(plain, f"ws://{host}:{port}")
        unsure(alone)
        await turn(alone, AMBIGUOUS)  # warm
        baseline = max([(await turn(alone, AMBIGUOUS))[1] for _ in range(2)])
    server.behaviour = Behaviour(owned_by="sglang", delay_s=5.0)
    overrides = {**local, "llm_remote.base_url": server.base_url,
                 "llm_remote.route_deadline_s": 3.0, "llm_remote.breaker_failures": 5}
    async with Service.open(make_config(tmp_path / "remote", **overrides), demo=True) as svc:
        assert svc.address is not None
        host, port = svc.address
        running = Running(svc, f"ws://{host}:{port}")
        await turn(running, AMBIGUOUS)  # warm (this one already races)
        timings = [(await turn(running, AMBIGUOUS))[1] for _ in range(2)]
        assert server.headers  # the remote server was asked (its body is read after the delay)
        assert max(timings) < baseline + 1.0, (timings, baseline)  # sequential: +3 s
        assert svc.health().remote_llm.fallbacks["route local"] >= 3
