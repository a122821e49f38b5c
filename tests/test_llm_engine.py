"""LlmEngine: the real onnxruntime-genai path on the tiny model, and every way a model misbehaves."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from intents.answers.llm import CallStats, LlmEngine
from intents.answers.llm_fake import ScriptedBackend
from intents.answers.settings import LlmSettings

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "models" / "llm-tiny"
CANDIDATES = [("card_lost", "reporting a lost card"), ("transfer", "a transfer"),
              ("branch_info", "branch information")]


@pytest.fixture(scope="module")
def tiny() -> LlmEngine:
    """The tiny random-weight model with the real R1 tokenizer; built (~30 s) if missing."""
    if not (TINY / "genai_config.json").is_file():
        build = subprocess.run([sys.executable, "-m", "provisioning.llm_build", "tiny",
                                "--out", str(TINY)], cwd=REPO, capture_output=True, text=True,
                               timeout=900)
        if build.returncode != 0:
            pytest.skip(f"tiny LLM could not be built here: {build.stderr[-400:]}")
    return LlmEngine.load(TINY, provider="cpu", threads=1)


def engine(**script: object) -> LlmEngine:
    return LlmEngine(ScriptedBackend(**script))  # type: ignore[arg-type]


# --- the real runtime --------------------------------------------------------------------


def test_tiny_model_uses_the_r1_template_and_tokens(tiny: LlmEngine) -> None:
    assert tiny.family == "r1"
    ids = tiny.backend.encode("<｜User｜>hi<｜Assistant｜><think>\n\n</think>\n\n")
    assert ids[0] == 151644 and 151645 in ids and 151648 in ids and 151649 in ids
    assert 151643 in tiny.backend.eos_ids


def test_tiny_model_routes_to_a_candidate_within_the_budget(tiny: LlmEngine) -> None:
    stats = CallStats()
    chosen = tiny.route("I lost my card", CANDIDATES, deadline_s=30.0, stats=stats)
    assert chosen in {c[0] for c in CANDIDATES}
    assert 1 <= stats.new_tokens <= 8 and stats.stop == "eos" and stats.prompt_tokens > 20
    # the same question twice gives the same answer (greedy, deterministic)
    assert tiny.route("I lost my card", CANDIDATES, deadline_s=30.0) == chosen


def test_tiny_model_answer_stream_respects_the_token_budget(tiny: LlmEngine) -> None:
    stats = CallStats()
    sentences = list(tiny.stream_answer("Answer briefly.", "How much is a transfer?",
                                        deadline_s=30.0, max_new_tokens=12, stats=stats))
    assert stats.new_tokens <= 12 and stats.stop in {"max_tokens", "eos", "think"}
    assert all("<think>" not in s and "</think>" not in s for s in sentences)


def test_missing_folder_turns_the_tier_off(tmp_path: Path) -> None:
    assert LlmEngine.from_settings(LlmSettings(folder=str(tmp_path / "none"))) is None
    assert LlmEngine.from_settings(LlmSettings(folder="")) is None
    (tmp_path / "genai_config.json").write_text("{broken")
    assert LlmEngine.from_settings(LlmSettings(folder=str(tmp_path))) is None


# --- routing fallbacks -------------------------------------------------------------------


def test_route_reads_the_constrained_intent_id() -> None:
    e = engine(route_key="transfer")
    stats = CallStats()
    assert e.route("send money", CANDIDATES, stats=stats) == "transfer"
    assert stats.new_tokens == 1  # "t" already singles out "transfer"
    prompt = e.backend.prompts[-1]  # type: ignore[attr-defined]
    assert prompt.endswith("<｜Assistant｜><think>\n\n</think>\n\n")
    assert "transfer (a transfer)" in prompt


def test_route_offers_at_most_route_candidates() -> None:
    settings = LlmSettings(route_candidates=2)
    e = LlmEngine(ScriptedBackend(route_key="branch_info"), settings)  # type: ignore[arg-type]
    assert e.route("where are you", CANDIDATES) in {"card_lost", "transfer"}  # not the third
    prompt = e.backend.prompts[-1]  # type: ignore[attr-defined]
    assert "transfer (a transfer)" in prompt and "branch information" not in prompt


def test_route_ids_sharing_a_prefix_read_until_they_differ() -> None:
    options = [("card_lost", "lost"), ("card_replace", "replace"), ("transfer", "t")]
    stats = CallStats()
    assert engine(route_key="card_replace").route("x", options, stats=stats) == "card_replace"
    assert stats.new_tokens == 6  # c-a-r-d-_-r in the character-level fake


def test_route_output_never_leaves_the_menu() -> None:
    """A model that wants to write something else still lands on a candidate or nothing."""
    assert engine(route_key="zzz").route("x", CANDIDATES) in {None, *[c[0] for c in CANDIDATES]}


def test_route_returns_none_when_the_model_raises() -> None:
    assert engine(fail_at=0).route("lost card", CANDIDATES) is None


def test_route_returns_none_past_its_deadline() -> None:
    stats = CallStats()
    started = time.monotonic()
    assert engine(prefill_s=0.3).route("lost card", CANDIDATES, deadline_s=0.1,
                                       stats=stats) is None
    assert stats.stop == "deadline" and time.monotonic() - started < 1.0


def test_route_without_candidates_or_text_is_none() -> None:
    assert engine().route("lost card", []) is None
    assert engine().route("  ", CANDIDATES) is None


async def test_route_async_gives_up_on_a_stalled_model() -> None:
    e = engine(prefill_s=0.8)
    started = time.monotonic()
    assert await e.route_async("lost card", CANDIDATES, deadline_s=0.1) is None
    assert time.monotonic() - started < 0.6


async def test_route_async_happy_path_runs_off_the_loop() -> None:
    assert await engine(route_key="branch_info").route_async("where", CANDIDATES,
                                                              2.0) == "branch_info"


# --- answer streaming fallbacks ----------------------------------------------------------


def test_answer_streams_sentences_and_never_think_text() -> None:
    out = list(engine(answer="您好！手续费每笔 5 元。Thanks.").stream_answer("s", "u"))
    assert out == ["您好！", "手续费每笔 5 元。", "Thanks."]


def test_a_sentence_cut_by_the_token_budget_is_not_said() -> None:
    stats = CallStats()
    out = list(engine(answer="The fee is 5 yuan. A new card is ready in 7 days.").stream_answer(
        "s", "u", max_new_tokens=30, stats=stats))
    assert out == ["The fee is 5 yuan."] and stats.stop == "max_tokens"
    assert list(engine(answer="The fee is 5 yuan. No full stop").stream_answer("s", "u")) == [
        "The fee is 5 yuan.", "No full stop"]  # the model ended it: the last words are said


def test_think_block_never_closed_is_never_spoken_and_does_not_stall() -> None:
    stats = CallStats()
    started = time.monotonic()
    e = engine(answer="<think>Let me think about 9.9% returns", endless=True, token_s=0.001)
    assert list(e.stream_answer("s", "u", deadline_s=5.0, max_new_tokens=500,
                                stats=stats)) == []
    assert stats.stop == "think" and time.monotonic() - started < 1.0


def test_think_block_after_an_answer_sentence_stops_the_stream() -> None:
    stats = CallStats()
    out = list(engine(answer="The fee is 5 yuan. <think>hmm</think>Also 7.").stream_answer(
        "s", "u", stats=stats))
    assert out == ["The fee is 5 yuan."] and stats.stop == "think"


def test_answer_stops_at_the_deadline_and_drops_the_cut_sentence() -> None:
    stats = CallStats()
    e = engine(answer="First one. Second sentence is long", token_s=0.02)
    out = list(e.stream_answer("s", "u", deadline_s=0.4, stats=stats))
    assert out == ["First one."] and stats.stop == "deadline"


def test_no_first_sentence_in_time_gives_nothing() -> None:
    stats = CallStats()
    e = engine(answer="A very slow first sentence.", token_s=0.05)
    assert list(e.stream_answer("s", "u", first_sentence_s=0.2, stats=stats)) == []
    assert stats.stop == "deadline"


def test_model_raising_mid_answer_ends_the_stream_quietly() -> None:
    stats = CallStats()
    out = list(engine(answer="One. Two. Three.", fail_at=8).stream_answer("s", "u",
                                                                          stats=stats))
    assert out == ["One."] and stats.stop == "error"


def test_cancel_event_stops_generation() -> None:
    cancel = threading.Event()
    stats = CallStats()
    e = engine(answer="One. Two. Three. Four.", token_s=0.01)
    out = []
    for sentence in e.stream_answer("s", "u", cancel=cancel, stats=stats):
        out.append(sentence)
        cancel.set()
    assert out == ["One."] and stats.stop == "cancelled"


def test_budget_bounds_an_endless_answer() -> None:
    stats = CallStats()
    list(engine(answer="la", endless=True).stream_answer("s", "u", max_new_tokens=30,
                                                         stats=stats))
    assert stats.new_tokens <= 30 and stats.stop == "max_tokens"


def test_one_call_at_a_time_a_second_gives_up_when_busy() -> None:
    e = engine(answer="Slow answer here.", token_s=0.05)
    first = e.stream_answer("s", "u")
    gen = iter(first)
    started = threading.Event()

    def hold() -> None:
        started.set()
        list(gen)

    t = threading.Thread(target=hold)
    t.start()
    started.wait()
    time.sleep(0.05)
    stats = CallStats()
    assert e.route("x", CANDIDATES, deadline_s=0.1, stats=stats) is None
    assert stats.stop == "busy"
    t.join()
