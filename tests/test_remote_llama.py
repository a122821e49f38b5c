"""The remote tier against a real OpenAI-compatible server: llama.cpp's llama-server serving
the demo Qwen2.5 0.5B GGUF on 127.0.0.1. Routing constrained by the server's JSON-schema
grammar, streamed answers, deadlines, cancellation that frees the slot, a server killed
mid-stream, and the breaker across the outage and the recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from intents.answers.llm import CallStats
from intents.answers.remote import RemoteLlm
from intents.answers.remote_settings import RemoteLlmSettings
from tests import llama_server
from tests.llama_server import LlamaServer

pytestmark = [
    pytest.mark.skipif(not llama_server.available(), reason=llama_server.MISSING),
    pytest.mark.timeout(300),
]

CANDIDATES = [
    ("card_lost", "report a lost or stolen card"),
    ("foreign_exchange", "buy or sell foreign currency"),
    ("time_deposit", "open a fixed-term deposit"),
]
SYSTEM = "Answer in one or two short sentences from the passage only."
USER = (
    "Passage: [1] Opening a savings account needs your ID card and a mobile phone number. "
    "It is free of charge.\n\nQuestion: What do I need to open a savings account?"
)
LONG = "Count from 1 to 300, writing each number as a word followed by a full stop."


class Clock:
    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.shift


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with llama_server.running(parallel=1) as srv:
        yield srv


def remote(base_url: str, clock: Any = time.monotonic, **overrides: Any) -> RemoteLlm:
    fields: dict[str, Any] = {
        "base_url": base_url,
        "route_deadline_s": 20.0,
        "first_token_s": 20.0,
        "answer_deadline_s": 60.0,
        "connect_timeout_s": 2.0,
    } | overrides
    return RemoteLlm(RemoteLlmSettings(**fields), clock=clock)


def slots_busy(server: LlamaServer) -> bool:
    slots = server.get("/slots")
    assert isinstance(slots, list)
    return any(s.get("is_processing") for s in slots)


def test_routing_is_constrained_to_the_candidates_by_the_servers_grammar(
    server: LlamaServer,
) -> None:
    llm = remote(server.base_url)
    stats = CallStats()
    pick = llm.route("I want to buy some US dollars for my trip", CANDIDATES, stats=stats)
    assert llm.server == "llamacpp" and llm.constraint == "json_schema"
    assert pick in {c for c, _ in CANDIDATES}, (pick, stats)
    assert stats.stop == "eos" and stats.new_tokens > 0
    # a candidate list the model would never choose from unconstrained: still one of them
    odd = [("zz_alpha", "alpha"), ("zz_beta", "beta")]
    assert llm.route("I lost my card", odd) in {"zz_alpha", "zz_beta"}
    assert llm.calls[("route", "ok")] == 2


def test_an_answer_streams_sentence_by_sentence(server: LlamaServer) -> None:
    llm = remote(server.base_url)
    stats = CallStats()
    sentences = list(llm.stream_answer(SYSTEM, USER, stats=stats, max_new_tokens=80))
    assert sentences and all(s.strip() for s in sentences)
    assert stats.first_token_s is not None and stats.first_token_s < stats.total_s
    assert stats.stop in ("eos", "max_tokens")
    assert llm.calls[("answer", "ok")] == 1


def test_the_total_deadline_stops_a_long_answer_and_frees_the_slot(server: LlamaServer) -> None:
    llm = remote(server.base_url, answer_deadline_s=60.0)
    stats = CallStats()
    started = time.monotonic()
    said = list(llm.stream_answer(SYSTEM, LONG, deadline_s=2.0, stats=stats, max_new_tokens=600))
    elapsed = time.monotonic() - started
    assert stats.stop == "deadline" and elapsed < 2.0 + 1.5, (elapsed, stats)
    assert said  # what came in time was spoken
    assert llm.calls[("answer", "deadline")] == 1
    _wait_idle(server)


def test_a_first_token_deadline_gives_up_before_any_text(server: LlamaServer) -> None:
    llm = remote(server.base_url, first_token_s=0.01)
    stats = CallStats()
    assert list(llm.stream_answer(SYSTEM, USER, stats=stats)) == []
    assert stats.stop == "deadline"
    _wait_idle(server)


def _wait_idle(server: LlamaServer, within_s: float = 5.0) -> None:
    """The server stops generating once the client has gone (its slot is free again)."""
    deadline = time.monotonic() + within_s
    while slots_busy(server):
        assert time.monotonic() < deadline, "the server kept generating for a gone client"
        time.sleep(0.1)


def test_cancelling_a_stream_frees_the_servers_only_slot(server: LlamaServer) -> None:
    llm = remote(server.base_url)
    cancel = threading.Event()
    stream = llm.stream_answer(SYSTEM, LONG, cancel=cancel, max_new_tokens=600)
    first = next(stream)
    assert first and slots_busy(server)
    cancel.set()
    assert list(stream) == []
    _wait_idle(server)
    # the one slot serves the next customer at once, not after 600 tokens
    started = time.monotonic()
    assert llm.route("I lost my card", CANDIDATES) is not None
    assert time.monotonic() - started < 10


def test_a_server_killed_mid_stream_ends_the_answer_and_the_breaker_rides_the_outage() -> None:
    clock = Clock()
    port = llama_server.free_port()
    with llama_server.running(port=port) as srv:
        llm = remote(srv.base_url, clock, breaker_failures=2, breaker_cooldown_s=30.0)
        stats = CallStats()
        stream = llm.stream_answer(SYSTEM, LONG, stats=stats, max_new_tokens=600)
        assert next(stream)
        srv.kill()
        started = time.monotonic()
        list(stream)  # ends, never raises
        assert time.monotonic() - started < 5
        assert stats.stop == "error" and llm.calls[("answer", "error")] == 1
    # down: refused at once, then the breaker opens and nothing more is sent
    started = time.monotonic()
    assert llm.route("I lost my card", CANDIDATES) is None
    assert time.monotonic() - started < 2.5
    assert llm.breaker_state == "open"
    stats = CallStats()
    assert llm.route("I lost my card", CANDIDATES, stats=stats) is None
    assert stats.stop == "busy" and llm.calls[("route", "breaker_open")] == 1
    with llama_server.running(port=port):
        clock.shift += 30.0  # the cooldown passes: one probe goes out, finds the server back
        assert llm.breaker_state == "half_open"
        assert llm.route("I lost my card", CANDIDATES) is not None
        assert llm.breaker_state == "closed"
