"""Pure pieces of the LLM tier: templates, think filter, sentence splitter, constrained choice."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from intents.answers.llm_prompt import (
    CLOSED_THINK,
    SentenceSplitter,
    ThinkFilter,
    chat_prompt,
    clean_for_speech,
    family_of,
)
from intents.answers.llm_route import ChoiceTrie, best_allowed, menu_keys, route_user_message


def run_filter(pieces: list[str]) -> str:
    f = ThinkFilter()
    return "".join(f.feed(p) for p in pieces) + f.finish()


def test_r1_prompt_prefills_a_closed_think_block() -> None:
    prompt = chat_prompt("r1", "SYS", "hello")
    assert prompt == "<｜begin▁of▁sentence｜>SYS<｜User｜>hello<｜Assistant｜>" + CLOSED_THINK
    assert prompt.endswith("<think>\n\n</think>\n\n")


def test_chatml_prompt_and_family_detection() -> None:
    prompt = chat_prompt("chatml", "S", "U")
    assert prompt.endswith("<|im_start|>assistant\n") and "<think>" not in prompt
    assert family_of({"<｜User｜>", "<think>"}) == "r1"
    assert family_of({"<|im_start|>", "<|im_end|>"}) == "chatml"


def test_think_block_is_dropped_and_answer_kept() -> None:
    assert run_filter(["<think>secret plan</think>\n\nThe fee is 5 yuan."]) == "The fee is 5 yuan."


def test_unclosed_think_block_says_nothing() -> None:
    f = ThinkFilter()
    out = f.feed("Hi. <think>we could say 9%") + f.feed(" more thinking") + f.finish()
    assert out == "Hi. "
    assert f.unclosed and f.saw_think


def test_stray_close_drops_reasoning_in_the_same_piece() -> None:
    assert run_filter(["Reasoning here.</think>Answer."]) == "Answer."


@given(st.text(alphabet="ab <>thinke.。", max_size=40), st.lists(st.integers(0, 60), max_size=6))
def test_think_filter_is_split_invariant(body: str, cuts: list[int]) -> None:
    """However the stream is cut into tokens, the spoken text is the same (no stray closes)."""
    text = f"A{body}<think>{body}</think>B{body}"
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces = [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]
    assert run_filter(pieces) == run_filter([text])
    assert "<think>" not in run_filter(pieces).replace(body, "")


def test_sentence_splitter_mixed_languages() -> None:
    s = SentenceSplitter()
    out = s.feed("您好！手续费每笔 5 元。The fee is 0.1% of") + s.feed(" the amount. Thanks")
    assert out == ["您好！", "手续费每笔 5 元。", "The fee is 0.1% of the amount."]
    assert s.flush() == "Thanks"
    assert s.flush() is None


def test_sentence_splitter_cuts_long_runs_at_a_comma() -> None:
    s = SentenceSplitter(max_chars=20)
    out = s.feed("一二三四五六七八九十，一二三四五六七八九十一二三四五")
    assert out and out[0].endswith("，") and len(out[0]) <= 20


def test_clean_for_speech_removes_markdown_and_special_tokens() -> None:
    assert clean_for_speech("- **Fee**: 5 yuan<|im_end|>") == "Fee: 5 yuan"
    assert clean_for_speech("1. 带身份证<｜end▁of▁sentence｜>") == "带身份证"


def test_route_menu_lists_every_candidate() -> None:
    msg = route_user_message(" lost card ", [("card_lost", "reporting a lost card"),
                                             ("transfer", "a transfer")])
    assert '"lost card"' in msg and "card_lost (reporting a lost card)" in msg
    assert "transfer (a transfer)" in msg and msg.endswith("Service id:")
    assert menu_keys([("card_lost", "x"), ("transfer", "y")]) == ["card_lost", "transfer"]


def test_choice_trie_single_token_keys_resolve_in_one_step() -> None:
    trie = ChoiceTrie([(11,), (12,), (13,)], frozenset({0}))
    assert trie.allowed() == {11, 12, 13}
    trie.push(12)
    assert trie.resolved(12) == 1 and trie.steps == 1


def test_choice_trie_prefix_key_needs_an_end_token() -> None:
    """Key "1" among "1".."12": after "1" the model may stop or write "0".."2"."""
    seqs = [(1,), (2,), (1, 0), (1, 1), (1, 2)]
    trie = ChoiceTrie(seqs, frozenset({99}))
    trie.push(1)
    assert trie.resolved(1) is None
    assert trie.allowed() == {0, 1, 2, 99}
    assert trie.resolved(99) == 0
    trie.push(2)
    assert trie.resolved(2) == 4


def test_best_allowed_ignores_higher_logits_outside_the_menu() -> None:
    logits = np.zeros(10, dtype=np.float32)
    logits[[3, 5, 7]] = [9.0, 2.0, 4.0]
    assert best_allowed(logits, {5, 7}) == 7
    assert best_allowed(np.zeros(10, dtype=np.float32), {6, 4}) == 4
