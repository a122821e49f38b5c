"""Transcript clean-up and scoring rules: hallucinations, loops, backchannels, CER/WER norms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speech.textnorm import (
    cer,
    clean_transcript,
    collapse_repetitions,
    is_backchannel,
    is_hallucination,
    normalize_for_scoring,
    to_simplified,
    wer,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", True),
        ("請不吝點贊 訂閱 轉發", True),  # Traditional output of the same phrase
        ("谢谢观看！", True),
        ("谢谢观看 谢谢观看", True),
        ("字幕由Amara.org社区提供", True),
        ("Thanks for watching!", True),
        ("Thank you for watching.", True),
        ("", False),
        ("谢谢", False),  # a customer's real thanks stays
        ("我要挂失银行卡", False),
        ("谢谢观看，我要取号", False),  # real content next to the phrase: keep the turn
        ("Thank you, I want to open an account", False),
    ],
)
def test_hallucination_table(text: str, expected: bool) -> None:
    assert is_hallucination(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我要我要我要我要我要挂失", "我要挂失"),
        ("the the the the the bank", "the bank"),
        ("好的好的好的好的好的好的", "好的"),
        ("啊啊啊啊啊啊啊啊", "啊"),
        ("13888888888", "13888888888"),  # digits repeat in real phone numbers
        ("账号是000012", "账号是000012"),
        ("哈哈", "哈哈"),
        ("谢谢谢谢", "谢谢谢谢"),  # two repeats of 谢谢 is speech, not a loop
        ("......", "......"),
    ],
)
def test_repetition_collapse_table(text: str, expected: str) -> None:
    assert collapse_repetitions(text) == expected


def test_clean_transcript_converts_and_filters() -> None:
    assert clean_transcript(" 甚至出現交易幾乎停滯的情況 ", "zh") == "甚至出现交易几乎停滞的情况"
    assert clean_transcript("謝謝觀看", "zh") == ""
    assert clean_transcript("I want to   open an account", "en") == "I want to open an account"
    assert clean_transcript("帳戶", "en") == "帳戶"  # only zh turns are converted
    prompt = "以下是普通话的句子。"
    assert clean_transcript("以下是普通話的句子", "zh", prompt=prompt) == ""  # prompt echo
    assert clean_transcript("以下是我的账户", "zh", prompt=prompt) == "以下是我的账户"


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("嗯", "zh", True),
        ("嗯嗯，好的。", "zh", True),
        ("对对对", "zh", True),
        ("好的", "zh", True),
        ("好的，我要取钱", "zh", False),
        ("对，我要挂失", "zh", False),
        ("", "zh", False),
        ("OK.", "en", True),
        ("mm", "en", True),
        ("Uh huh, right.", "en", True),
        ("okay I want cash", "en", False),
        ("", "en", False),
    ],
)
def test_backchannel_table(text: str, language: str, expected: bool) -> None:
    assert is_backchannel(text, language) is expected


def test_scoring_normalisation_is_consistent() -> None:
    assert normalize_for_scoring("一二線城市，雖然！", "zh") == "一二线城市虽然"
    assert normalize_for_scoring("1-2线", "zh") == normalize_for_scoring("一二线", "zh")
    assert normalize_for_scoring("1995年存了10000元", "zh") == "一九九五年存了一万元"
    assert normalize_for_scoring("请A023号", "zh") == "请a零二三号"
    assert normalize_for_scoring("13812345678", "zh") == "一三八一二三四五六七八"
    assert (
        normalize_for_scoring("And so, my fellow Americans!", "en") == "and so my fellow americans"
    )
    assert normalize_for_scoring("Don't", "en") == "don't"


def test_error_rates() -> None:
    assert cer("一二线城市虽然也处于调整中", "一二線城市雖然也處於調整中。") == 0.0
    assert cer("一二线城市", "一二线尝试") == pytest.approx(2 / 5)
    assert cer("我要取五万块", "我要取5万块") == 0.0
    assert cer("", "") == 0.0 and cer("", "多") == 1.0
    assert wer("ask not what", "Ask not, what!") == 0.0
    assert wer("ask not what your country", "ask what your county") == pytest.approx(2 / 5)


def test_to_simplified() -> None:
    assert to_simplified("掛失帳戶") == "挂失帐户"


@given(st.text(max_size=60))
def test_clean_transcript_never_grows_and_is_idempotent(text: str) -> None:
    once = clean_transcript(text, "en")
    assert len(once) <= len(text)
    assert clean_transcript(once, "en") == once


@pytest.mark.parametrize(("heard", "language", "expected"), [
    ("我想换美元。我想换美元。我想换美元。", "zh", "我想换美元。"),
    ("我想换美元我想换美元", "zh", "我想换美元"),
    ("我想办卡，我想办卡", "zh", "我想办卡"),
    ("I want to exchange dollars. I want to exchange dollars.", "en",
     "I want to exchange dollars."),
    ("Yes. Yes. I want a card.", "en", "Yes. I want a card."),
])
def test_a_sentence_whisper_repeated_is_kept_once(heard: str, language: str,
                                                  expected: str) -> None:
    assert clean_transcript(heard, language) == expected


@pytest.mark.parametrize("said", ["取20000。取20000。", "对对，我要开户", "好的好的", "谢谢，谢谢你",
                                  "我要存钱，然后取钱"])
def test_repeats_a_customer_means_are_kept(said: str) -> None:
    assert clean_transcript(said, "zh") == said
