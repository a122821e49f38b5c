"""Identifiers said aloud are masked in every language: generated IDs, cards and mobiles rendered
as digits, Mandarin, English words (double, oh, thirty-four) or a mix, in customers' sentences."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intents.guardrails.masking import mask_pii, resident_id_check_char
from intents.guardrails.number_words import spoken_digits, unit_digits

SPOKEN_CASES = [
    (
        "my number is one three eight one two three four five six seven eight",
        "my number is one three eight * * * * five six seven eight",
    ),
    (
        "it's one three eight, double one, two three, four five six seven.",
        "it's one three eight, **, * *, four five six seven.",
    ),
    (
        "one three eight twelve thirty-four fifty-six seventy-eight",
        "one three eight ** ** fifty-six seventy-eight",
    ),
    (
        "call me on oh one three eight one two three four five six seven",
        "call me on * * * * * * * four five six seven",
    ),
    ("138 one two three four 5678", "138 * * * * 5678"),
    ("幺三八 one two 三四 5678", "幺三八 * * ** 5678"),
    (
        "card six two two two, zero two one two, three four five six, seven eight nine zero",
        "card * * * *, * * * *, * * * *, seven eight nine zero",
    ),
    (
        "ID one one zero one zero five one nine four nine one two three one zero zero two X",
        "ID * * * * * * * * * * * * * * zero zero two X",
    ),
    ("身份证幺幺零幺零五幺九四九幺二三幺零零二叉", "身份证**************零零二叉"),
    (
        "ONE THREE EIGHT ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT",
        "ONE THREE EIGHT * * * * FIVE SIX SEVEN EIGHT",
    ),
]

# Amounts, times and counts stay readable: they are not identifiers.
READABLE = [
    "I want to transfer fifty thousand yuan, oh and one more thing",
    "one hundred and twenty three thousand four hundred dollars",
    "Oh, one two three four five, I see",
    "转五十万元给儿子",
    "取两千块，再存一万五",
    "transfer 500,000 yuan to my son",
    "请A023号到3号窗口",
    "my appointment is at three thirty on the twenty first",
    "I have two cards and one passbook",
    "一二三四五六七八九十",
]


@pytest.mark.parametrize(("text", "expected"), SPOKEN_CASES, ids=[c[0] for c in SPOKEN_CASES])
def test_spoken_identifier_is_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", READABLE)
def test_amounts_and_times_stay_readable(text: str) -> None:
    assert mask_pii(text) == text


@pytest.mark.parametrize(
    ("unit", "digits"),
    [
        ("幺", "1"),
        ("拐", "7"),
        ("８", "8"),
        ("O", "0"),
        ("oh", "0"),
        ("double eight", "88"),
        ("triple-nine", "999"),
        ("thirty-four", "34"),
        ("thirty", "30"),
        ("twelve", "12"),
        ("Nought", "0"),
        ("叉", "X"),
    ],
)
def test_unit_digits(unit: str, digits: str) -> None:
    assert unit_digits(unit) == digits


ZH = {
    "0": "零〇洞",
    "1": "一幺",
    "2": "二两",
    "3": "三",
    "4": "四",
    "5": "五",
    "6": "六",
    "7": "七拐",
    "8": "八",
    "9": "九勾",
}
EN = {
    "0": ["zero", "oh", "o", "Zero", "nought"],
    "1": ["one", "One"],
    "2": ["two"],
    "3": ["three"],
    "4": ["four"],
    "5": ["five"],
    "6": ["six"],
    "7": ["seven"],
    "8": ["eight", "Eight"],
    "9": ["nine"],
}
TENS = {
    "2": "twenty",
    "3": "thirty",
    "4": "forty",
    "5": "fifty",
    "6": "sixty",
    "7": "seventy",
    "8": "eighty",
    "9": "ninety",
}
TEENS = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
FRAMES = [
    ("我的手机号是", "，谢谢"),
    ("my phone number is ", " thanks"),
    ("身份证号码", "。"),
    ("card number ", ", please"),
    ("", ""),
    ("号码是：", ""),
    ("It's ", ". Got it?"),
    ("卡号 ", " 对吗"),
]


@st.composite
def rendered(draw: st.DrawFn, number: str) -> str:
    """One way a customer or the speech-to-text could write this number."""
    parts: list[tuple[str, bool]] = []  # (text, is an English word)
    i = 0
    style = draw(st.sampled_from(["digits", "zh", "en", "mixed"]))
    while i < len(number):
        d, nxt = number[i], number[i + 1 : i + 2]
        form = style if style != "mixed" else draw(st.sampled_from(["digits", "zh", "en"]))
        if d == "X":
            parts.append(
                (
                    draw(st.sampled_from(["X", "x", "叉"] if form == "zh" else ["X", "x"])),
                    form == "en",
                )
            )
            i += 1
            continue
        if form == "digits":
            parts.append((draw(st.sampled_from([d, chr(ord("０") + int(d))])), False))
        elif form == "zh":
            parts.append((draw(st.sampled_from(ZH[d])), False))
        elif nxt and nxt != "X" and draw(st.booleans()):
            pair = d + nxt
            if d == nxt:
                parts.append((draw(st.sampled_from(["double ", "double-"])) + EN[d][0], True))
            elif d == "1":
                parts.append((TEENS[int(nxt)], True))
            elif d != "0" and nxt != "0":
                parts.append((f"{TENS[d]}-{EN[nxt][0]}", True))
            else:
                parts.append((draw(st.sampled_from(EN[d])), True))
                i += 1
                continue
            assert unit_digits(parts[-1][0]) == pair
            i += 2
            continue
        else:
            parts.append((draw(st.sampled_from(EN[d])), True))
        i += 1
    out = parts[0][0]
    for (_, prev_en), (text, en) in itertools.pairwise(parts):
        if prev_en or en:
            sep = draw(st.sampled_from([" ", ", ", " - "]))
        else:
            sep = draw(st.sampled_from(["", "", "", " ", "-", "，"]))
        out += sep + text
    return out


def _with_check(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
resident_ids = st.builds(
    _with_check,
    st.from_regex(
        r"(11|31|44|51|65)[0-9]{4}(19[3-9][0-9]|20[01][0-9])(0[1-9]|1[0-2])"
        r"(0[1-9]|1[0-9]|2[0-8])[0-9]{3}",
        fullmatch=True,
    ),
)
cards = st.from_regex(r"62[0-9]{14}([0-9]{3})?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        mobiles.map(lambda n: (n, 7)),
        resident_ids.map(lambda n: (n, 4)),
        cards.map(lambda n: (n, 4)),
    ).flatmap(lambda pair: st.tuples(st.just(pair), rendered(pair[0]), st.sampled_from(FRAMES)))
)
def test_any_rendering_of_an_identifier_is_masked(
    case: tuple[tuple[str, int], str, tuple[str, str]],
) -> None:
    (number, visible), said, (before, after) = case
    assert spoken_digits(said) == number.replace("X", ""), said  # the rendering says the number
    masked = mask_pii(before + said + after)
    left = spoken_digits(masked)
    assert len(left) <= visible, (said, masked)
    assert masked.count("*") >= len(number) - visible


NAME_CASES = [
    ("我叫张伟，身份证号11010519491231002X", "我叫张*，身份证号**************002X"),
    ("我叫张伟想办卡", "我叫张*想办卡"),
    ("我是王芳", "我是王*"),
    ("户名是欧阳娜娜", "户名是欧阳**"),
    ("姓名：李小龙", "姓名：李**"),
    ("收款人王芳", "收款人王*"),
    ("my name is Li Na and I lost my card", "my name is L* N* and I lost my card"),
    ("My name's John Smith.", "My name's J*** S****."),
    (
        "the payee is Wang Fang, card 6222021234567890123",
        "the payee is W*** F***, card ***************0123",
    ),
]
NOT_NAMES = ["我是来办卡的", "请提供姓名和身份证", "my name is on the card", "我要取号"]


@pytest.mark.parametrize(("text", "expected"), NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_stated_names_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", NOT_NAMES)
def test_words_after_a_cue_that_are_no_name_stay(text: str) -> None:
    assert mask_pii(text) == text
