"""Sentence splitting for streamed TTS: right boundaries, and short chunks for elderly mode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from speech.sentences import split_first_clause, split_sentences, width


def test_mandarin_full_width_punctuation() -> None:
    text = "您好，请问您要办理什么业务？我们有A零二三号。他说：“好的！”然后走了；请稍等…谢谢"
    assert split_sentences(text, "zh") == [
        "您好，请问您要办理什么业务？",
        "我们有A零二三号。",
        "他说：“好的！”",
        "然后走了；",
        "请稍等…",
        "谢谢",
    ]


def test_english_keeps_abbreviations() -> None:
    text = "Hello Mr. Smith. Your ticket is A zero two three! Please wait. Thanks"
    assert split_sentences(text, "en") == [
        "Hello Mr. Smith.",
        "Your ticket is A zero two three!",
        "Please wait.",
        "Thanks",
    ]


def test_mixed_language_reply() -> None:
    parts = split_sentences("请稍等。Please wait at counter three. 谢谢！", "zh")
    assert parts == ["请稍等。", "Please wait at counter three.", "谢谢！"]


def test_long_sentence_cut_at_commas_for_elderly_mode() -> None:
    text = "您好，请问您要办理什么业务？请您携带身份证和银行卡到三号窗口办理挂失手续，谢谢您的耐心等待。"
    parts = split_sentences(text, "zh", max_width=24)
    assert "".join(parts) == text
    assert all(width(p) <= 24 for p in parts)
    assert parts[-1] == "谢谢您的耐心等待。"
    assert len(split_sentences(text, "zh", max_width=80)) == 2


def test_long_english_sentence_cut_at_spaces() -> None:
    text = "please wait at counter three until your number is called on the screen above the door"
    parts = split_sentences(text, "en", max_width=30)
    assert " ".join(parts) == text
    assert all(len(p) <= 30 for p in parts)


def test_punctuation_only_pieces_are_not_sentences() -> None:
    assert split_sentences("好的。。。！", "zh") == ["好的。。。！"]
    assert split_sentences("……", "zh") == []


def test_width_counts_hanzi_double() -> None:
    assert width("ab") == 2 and width("您好") == 4 and width("，") == 2


@given(
    st.lists(
        st.sampled_from(["您好", "请", "稍等", "，", "。", "？", "办理业务", "A零二三", "谢谢"]),
        max_size=40,
    ),
    st.integers(8, 60),
)
def test_nothing_spoken_is_lost_and_budget_holds(pieces: list[str], budget: int) -> None:
    text = "".join(pieces)
    parts = split_sentences(text, "zh", max_width=budget)
    spoken = [c for c in text if c not in "，。？"]
    assert [c for c in "".join(parts) if c not in "，。？"] == spoken
    for part in parts:
        core = part.rstrip("，。？")
        assert width(core) <= budget


def test_wide_first_sentence_is_cut_after_leading_clauses() -> None:
    sentences = ["Hello, welcome to the branch, your ticket is A zero two three.", "Thanks."]
    assert split_first_clause(sentences, 30) == [
        "Hello, welcome to the branch,",
        "your ticket is A zero two three.",
        "Thanks.",
    ]
    assert split_first_clause(sentences, 80) == sentences
    assert split_first_clause(["一二三四五六七八九十一二三四五六七八九十，好"], 10) == [
        "一二三四五六七八九十一二三四五六七八九十，好"
    ]  # no clause fits: left whole
    assert split_first_clause([], 10) == []
