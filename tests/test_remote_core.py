"""The remote tier's pure parts: circuit breaker, reasoning separation, constrained picks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intents.answers.breaker import CircuitBreaker
from intents.answers.llm_prompt import SentenceSplitter
from intents.answers.remote_stream import (
    Delta,
    ReasoningSeparator,
    constraint_for,
    delta_of,
    route_pick,
    route_schema,
)
from tests.sse_replay import sse_events


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_and_probes_once_after_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=3, cooldown_s=30.0, clock=clock)
    b.failure()
    b.success()  # a success resets the count
    for _ in range(2):
        assert b.allow()
        b.failure()
    assert b.state == "closed"
    b.failure()
    assert b.state == "open" and b.opens == 1
    assert not b.allow()
    clock.now += 29.9
    assert not b.allow() and b.retry_in() == pytest.approx(0.1)
    clock.now += 0.1
    assert b.allow()  # the one probe
    assert b.state == "half_open" and not b.allow()  # no second call while it probes
    b.failure()  # failed probe: open again at once, for a full cooldown
    assert b.state == "open" and b.opens == 2
    clock.now += 30
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow() and b.allow()


def test_breaker_releases_a_probe_that_ended_without_a_verdict() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, cooldown_s=5.0, clock=clock)
    b.failure()
    clock.now += 5
    assert b.allow()
    b.release()  # the caller cancelled: the next call may probe
    assert b.allow()


def test_breaker_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=0, cooldown_s=1.0, clock=Clock())


def _spoken(fixture: str, unopened: bool = False) -> tuple[list[str], ReasoningSeparator]:
    separator = ReasoningSeparator(unopened)
    splitter = SentenceSplitter()
    out: list[str] = []
    for event in sse_events(fixture):
        payload = event.decode().removeprefix("data:").strip()
        if payload == "[DONE]":
            break
        out += splitter.feed(separator.feed(delta_of(json.loads(payload))))
    out += splitter.feed(separator.finish())
    last = splitter.flush()
    return [*out, *([last] if last else [])], separator


ANSWER = ["The annual fee is 10 yuan [1].", "Cards issued before 2020 are free [1]."]


@pytest.mark.parametrize(
    ("fixture", "unopened"),
    [
        ("vllm_reasoning.sse", False),
        ("vllm_reasoning_content.sse", False),
        ("sglang_reasoning_content.sse", False),
        ("llamacpp_inline_think.sse", False),
        ("sglang_unopened_think.sse", True),
        ("v3_plain.sse", False),
        # a server that separates reasoning itself is safe with unopened on, too
        ("vllm_reasoning.sse", True),
        ("llamacpp_inline_think.sse", True),
    ],
)
def test_every_server_dialect_speaks_the_answer_and_never_the_reasoning(
    fixture: str, unopened: bool
) -> None:
    spoken, separator = _spoken(fixture, unopened)
    assert [s.replace(" [1]", "") for s in spoken] == [s.replace(" [1]", "") for s in ANSWER]
    assert not any("promise" in s or "customer" in s for s in spoken)
    assert separator.saw_reasoning == (fixture != "v3_plain.sse")


def test_unopened_think_off_would_speak_sglang_reasoning() -> None:
    """Why the setting exists: without it the unparsed R1 stream leaks its reasoning."""
    spoken, _ = _spoken("sglang_unopened_think.sse", unopened=False)
    assert any("promise" in s for s in spoken)


def test_an_unfinished_unopened_think_block_is_never_spoken() -> None:
    separator = ReasoningSeparator(unopened=True)
    assert separator.feed(Delta(content="Okay, the customer wants 8% returns. ")) == ""
    assert separator.feed(Delta(content="I should promise it.")) == ""
    assert separator.thinking
    assert separator.finish() == ""


@given(st.lists(st.text(alphabet="ab <>/thinkc.", max_size=8), max_size=12))
def test_inline_think_split_anywhere_never_leaks(pieces: list[str]) -> None:
    separator = ReasoningSeparator()
    text = "<think>secret</think>" + "".join(pieces)
    cut = [text[i : i + 3] for i in range(0, len(text), 3)]
    out = "".join(separator.feed(Delta(content=c)) for c in cut) + separator.finish()
    assert "secret" not in out


def test_delta_of_reads_both_reasoning_names_and_tolerates_empty_chunks() -> None:
    assert delta_of({"choices": []}) == Delta()
    assert delta_of({"choices": [{"delta": {"reasoning": "a", "content": None}}]}) == Delta(
        "", "a", None
    )
    assert delta_of(
        {
            "choices": [
                {"delta": {"reasoning_content": "b", "content": "c"}, "finish_reason": "stop"}
            ]
        }
    ) == Delta("c", "b", "stop")


def test_route_pick_accepts_only_a_candidate() -> None:
    ids = ["card_lost", "card_replace"]
    assert route_pick('{"intent": "card_lost"}', ids, "json_schema") == "card_lost"
    assert (
        route_pick('<think>hmm</think>{"intent":"card_replace"}', ids, "json_schema")
        == "card_replace"
    )
    assert route_pick('{"intent": "mortgage"}', ids, "json_schema") is None
    assert route_pick("card_lost", ids, "json_schema") is None  # not JSON
    assert route_pick("[1, 2]", ids, "json_schema") is None
    assert route_pick("card_lost", ids, "structured_outputs") == "card_lost"
    assert route_pick("Sure! card_lost", ids, "guided_choice") is None
    schema = route_schema(ids)
    assert schema["properties"]["intent"]["enum"] == ids


def test_constraint_follows_the_probed_server() -> None:
    assert constraint_for("vllm", "0.12.0") == "structured_outputs"
    assert constraint_for("vllm", "0.11.2") == "guided_choice"
    assert constraint_for("vllm", "") == "json_schema"
    assert constraint_for("sglang", "0.5") == "json_schema"
    assert constraint_for("llamacpp", "") == "json_schema"


def test_config_keeps_the_remote_tier_inside_the_local_budget() -> None:
    from edge.config import ConfigError, load_config

    load_config(None, {"llm_remote.base_url": "http://10.0.0.5:8000/v1"})
    with pytest.raises(ConfigError, match=r"llm_remote\.route_deadline_s"):
        load_config(None, {"llm_remote.route_deadline_s": 2.0, "llm.route_deadline_s": 1.5})
    with pytest.raises(ConfigError, match=r"llm_remote\.base_url"):
        load_config(None, {"llm_remote.base_url": "deepseek.bank.internal"})
    with pytest.raises(ConfigError, match=r"llm_remote\.ca_file"):
        load_config(None, {"llm_remote.ca_file": "/nonexistent/bank-ca.pem"})
