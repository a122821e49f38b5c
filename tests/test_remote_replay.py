"""The remote tier's client against replayed vLLM / SGLang streams (their reasoning fields,
constraint dialects and failures), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from intents.answers.llm import CallStats
from intents.answers.remote import RemoteLlm
from intents.answers.remote_settings import RemoteLlmSettings
from intents.answers.tiered import TieredLlm
from tests.conftest import REPO
from tests.sse_replay import Behaviour, ReplayServer, replay_server

CANDIDATES = [
    ("card_lost", "report a lost card"),
    ("card_replace", "replace a card"),
    ("account_frozen", "unfreeze an account"),
]
SECRET = "sk-bank-very-secret-4242"


def remote(server: ReplayServer, **overrides: Any) -> RemoteLlm:
    fields: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": SECRET,
        "breaker_failures": 2,
        "breaker_cooldown_s": 60.0,
    } | overrides
    return RemoteLlm(RemoteLlmSettings(**fields))


def answer(llm: RemoteLlm | TieredLlm, **kw: Any) -> list[str]:
    return list(
        llm.stream_answer("Answer from the passages.", "Passages: ...\nQuestion: fee?", **kw)
    )


@pytest.mark.parametrize(
    ("owned_by", "version", "key", "expect"),
    [
        (
            "vllm",
            "0.12.0",
            "structured_outputs",
            {"choice": ["card_lost", "card_replace", "account_frozen"]},
        ),
        ("vllm", "0.10.1", "guided_choice", ["card_lost", "card_replace", "account_frozen"]),
        ("sglang", "", "response_format", None),
    ],
)
def test_routing_uses_the_constraint_the_probed_server_takes(
    owned_by: str, version: str, key: str, expect: Any
) -> None:
    reply = '{"intent": "card_replace"}' if key == "response_format" else "card_replace"
    with replay_server(Behaviour(owned_by=owned_by, version=version, route_reply=reply)) as srv:
        llm = remote(srv)
        assert llm.route("my card is broken", CANDIDATES) == "card_replace"
        body = srv.bodies[-1]
        assert body["model"] == "deepseek-r1"  # taken from GET /models
        assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}
        if expect is None:
            schema = body["response_format"]["json_schema"]["schema"]
            assert schema["properties"]["intent"]["enum"] == [c for c, _ in CANDIDATES]
        else:
            assert body[key] == expect and "response_format" not in body


def test_nonsense_routing_is_no_answer_and_counts_against_the_breaker() -> None:
    with replay_server(
        Behaviour(owned_by="vllm", version="0.12.0", route_reply="I think you want a mortgage!")
    ) as srv:
        llm = remote(srv)
        assert llm.route("my card", CANDIDATES) is None
        assert llm.calls[("route", "nonsense")] == 1
        assert llm.route("my card", CANDIDATES) is None
        assert llm.breaker.state == "open"
        posts = len(srv.bodies)
        stats = CallStats()
        assert llm.route("my card", CANDIDATES, stats=stats) is None
        assert len(srv.bodies) == posts and stats.stop == "busy"  # open: nothing sent


@pytest.mark.parametrize(
    "fixture",
    [
        "vllm_reasoning.sse",
        "vllm_reasoning_content.sse",
        "sglang_reasoning_content.sse",
        "sglang_unopened_think.sse",
    ],
)
def test_answers_stream_without_reasoning_from_each_dialect(fixture: str) -> None:
    with replay_server(Behaviour(stream=fixture, owned_by="sglang")) as srv:
        llm = remote(srv, unopened_think=fixture == "sglang_unopened_think.sse")
        stats = CallStats()
        said = answer(llm, stats=stats)
        assert said == ["The annual fee is 10 yuan [1].", "Cards issued before 2020 are free [1]."]
        assert stats.stop == "eos" and stats.first_token_s is not None
        assert llm.calls[("answer", "ok")] == 1 and llm.breaker.consecutive == 0


def test_the_api_key_goes_in_the_header_and_never_into_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with replay_server(Behaviour(status=503)) as srv:
        llm = remote(srv)
        assert answer(llm) == []
        assert llm.route("my card", CANDIDATES) is None
        assert any(h.get("authorization") == f"Bearer {SECRET}" for h in srv.headers)
    assert "HTTP 503" in llm.last_error
    assert SECRET not in caplog.text and SECRET not in repr(llm)
    assert "remote LLM" in caplog.text  # the failures were logged, the key was not


def test_a_slow_first_token_gives_up_at_the_deadline() -> None:
    with replay_server(Behaviour(delay_s=3.0, owned_by="sglang")) as srv:
        llm = remote(srv, first_token_s=0.4)
        stats = CallStats()
        started = time.monotonic()
        assert answer(llm, stats=stats) == []
        assert time.monotonic() - started < 1.5
        assert stats.stop == "deadline" and llm.calls[("answer", "deadline")] == 1


def test_reasoning_does_not_count_as_the_first_token() -> None:
    """A reasoning model that thinks past the first-token deadline is late, not 'started'."""
    with replay_server(
        Behaviour(stream="vllm_reasoning.sse", chunk_delay_s=0.15, owned_by="sglang")
    ) as srv:
        llm = remote(srv, first_token_s=0.5)
        stats = CallStats()
        assert answer(llm, stats=stats) == []
        assert stats.stop == "deadline"


def test_a_stream_dropped_midway_ends_the_answer_and_is_a_failure() -> None:
    with replay_server(Behaviour(stream="v3_plain.sse", drop_after=5, owned_by="sglang")) as srv:
        llm = remote(srv)
        said = answer(llm)
        assert said == ["The annual fee is 10 yuan [1]."]  # the cut sentence is not said
        assert llm.calls[("answer", "error")] == 1 and llm.breaker.consecutive == 1


def test_cancelling_stops_reading_and_closes_the_stream() -> None:
    with replay_server(
        Behaviour(stream="v3_plain.sse", chunk_delay_s=0.2, owned_by="sglang")
    ) as srv:
        llm = remote(srv)
        cancel = threading.Event()
        stats = CallStats()
        stream = llm.stream_answer("s", "u", cancel=cancel, stats=stats)
        first = next(stream)
        cancel.set()
        assert list(stream) == [] and first.startswith("The annual fee")
        assert stats.stop == "cancelled" and llm.calls[("answer", "cancelled")] == 1
        assert llm.breaker.consecutive == 0  # a cancel is no failure


class _Local:
    """The box's own tier as the race sees it: a pick after `takes_s` (it honours cancel,
    as the onnxruntime-genai tier does between tokens)."""

    def __init__(self, takes_s: float, pick: str = "card_replace") -> None:
        self.takes_s, self.pick = takes_s, pick
        self.given: list[float] = []
        self.cancelled = False

    def route(
        self, text: str, candidates: Any, deadline_s: float | None = None,
        max_new_tokens: int | None = None, cancel: threading.Event | None = None, *args: Any
    ) -> str | None:
        assert deadline_s is not None
        self.given.append(deadline_s)
        until = time.monotonic() + self.takes_s
        while time.monotonic() < until:
            if cancel is not None and cancel.is_set():
                self.cancelled = True
                return None
            time.sleep(0.01)
        return self.pick

    def stream_answer(
        self, system: str, user: str, deadline_s: float | None = None, *args: Any
    ) -> Any:
        self.given.append(deadline_s or 0.0)
        yield "Local sentence."


def test_a_slow_remote_never_makes_routing_slower_than_the_local_tier() -> None:
    with replay_server(Behaviour(delay_s=2.0, owned_by="sglang")) as srv:
        local = _Local(takes_s=0.3)
        tiered = TieredLlm(
            remote(srv, route_deadline_s=1.2, first_token_s=0.5),
            local,
            route_deadline_s=1.5,
            answer_deadline_s=10.0,
        )
        started = time.monotonic()
        assert tiered.route("my card", CANDIDATES) == "card_replace"
        assert time.monotonic() - started < 0.3 + 0.25  # the local tier's own time, not 1.2 s
        assert local.given == [1.5]  # both ran at once: the local tier had the whole budget
        assert tiered.fallbacks[("route", "local")] == 1
        assert answer(tiered) == ["Local sentence."]
        assert tiered.fallbacks[("answer", "local")] == 1
        time.sleep(1.3)  # the dropped route call ended late: it counts against the breaker,
        # with the late answer the breaker opens and the next turns do not ask that server
        assert tiered.remote.breaker.consecutive == 2 and tiered.remote.breaker.state == "open"


def test_a_remote_pick_that_comes_first_stops_the_local_tier() -> None:
    with replay_server(Behaviour(owned_by="sglang")) as srv:  # answers at once: card_lost
        local = _Local(takes_s=3.0)
        tiered = TieredLlm(remote(srv, route_deadline_s=1.0), local, route_deadline_s=3.5,
                           answer_deadline_s=10.0)
        started = time.monotonic()
        assert tiered.route("my card", CANDIDATES) == "card_lost"
        assert time.monotonic() - started < 1.5 and local.cancelled
        assert not tiered.fallbacks


def test_https_trusts_the_configured_bank_ca_only(tmp_path: Path) -> None:
    subprocess.run(
        [str(REPO / "scripts" / "branch_ca.sh"), str(tmp_path / "pki"), "llm-1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pki = tmp_path / "pki"
    tls = (pki / "box.pem", pki / "box.key")
    with replay_server(Behaviour(owned_by="sglang"), tls) as srv:
        assert srv.base_url.startswith("https://")
        pinned = remote(srv, ca_file=str(pki / "branch-ca.pem"))
        assert pinned.route("my card", CANDIDATES) == "card_lost"
        system_cas = remote(srv)  # the bank's private CA is not a public one
        assert system_cas.route("my card", CANDIDATES) is None
        assert "APIConnectionError" in system_cas.last_error
        lab = remote(srv, verify_tls=False)
        assert lab.route("my card", CANDIDATES) == "card_lost"
