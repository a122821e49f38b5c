"""Text normalisation for speech: what the voice says for tickets, numbers, money, dates, markup."""

from __future__ import annotations

import re

import cn2an
import pytest
from hypothesis import given
from hypothesis import strategies as st

from speech.spoken import en_cardinal, en_ordinal, en_year, speakable, strip_markup, zh_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请A023号到3号窗口办理。", "请A零二三号到三号窗口办理。"),
        ("您的号码是 **B105**，前面还有12人[1]。", "您的号码是 B一零五，前面还有十二人。"),
        ("手续费为¥1,234.50，年利率3.5%。", "手续费为一千二百三十四点五元，年利率百分之三点五。"),
        ("金额50000元", "金额五万元。"),
        ("日期2026-11-25", "日期二零二六年十一月二十五日。"),
        ("营业时间9:00至17:05", "营业时间九点至十七点零五分。"),
        ("客服热线95588", "客服热线九五五八八。"),
        ("手机13812345678", "手机一三八一二三四五六七八。"),
        ("- 身份证\n- 银行卡", "身份证。银行卡。"),
        ("请 A023 号到 3 号窗口", "请 A零二三 号到 三 号窗口。"),
        ("新卡2个工作日后领取，请到2号窗口", "新卡两个工作日后领取，请到二号窗口。"),
        ("共2000人，第2位，取2万元，2:30", "共两千人，第二位，取两万元，两点三十分。"),
    ],
)
def test_mandarin(text: str, expected: str) -> None:
    assert speakable(text, "zh") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please take ticket A023 to counter 3.", "Please take ticket A zero two three to counter three."),
        ("Ticket C-007.", "Ticket C zero zero seven."),
        ("The fee is $12.50 [2].", "The fee is twelve dollars and fifty cents."),
        ("Withdraw ¥500 or RMB 2,000", "Withdraw five hundred yuan or two thousand yuan."),
        ("Open 9:00 to 17:05 on 2026-11-25.",
         "Open nine o'clock to seventeen oh five on November twenty-fifth, twenty twenty-six."),
        ("Call 95588, rate 3.5%", "Call nine five five eight eight, rate three point five percent."),
        ("We served 1,250 people", "We served one thousand two hundred fifty people."),
        ("Go to the 2nd floor, 1st desk.", "Go to the second floor, first desk."),
    ],
)  # fmt: skip
def test_english(text: str, expected: str) -> None:
    assert speakable(text, "en") == expected


def test_language_tags_with_region() -> None:
    assert speakable("A023", "zh-CN") == "A零二三。"
    assert speakable("A023", "en-US") == "A zero two three."


def test_markup_and_citations_are_not_read() -> None:
    text = (
        "# Fees\n**Note**: see [the table](http://bank/fees) and `code` [1][2,3] 【4】 http://x.y"
    )
    assert " ".join(strip_markup(text).split()) == "Fees Note: see the table and code"


def test_english_number_words() -> None:
    assert en_cardinal(0) == "zero"
    assert en_cardinal(15) == "fifteen"
    assert en_cardinal(40) == "forty"
    assert en_cardinal(101) == "one hundred one"
    assert en_cardinal(1_000_001) == "one million one"
    assert en_ordinal(1) == "first" and en_ordinal(22) == "twenty-second"
    assert en_ordinal(30) == "thirtieth" and en_ordinal(12) == "twelfth"
    assert en_year(1998) == "nineteen ninety-eight"
    assert en_year(2005) == "two thousand five"
    assert en_year(2026) == "twenty twenty-six"
    assert en_year(1905) == "nineteen oh five"


_EN_WORDS = set(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion".split()
)


@given(st.integers(0, 10**12 - 1))
def test_english_cardinal_uses_only_number_words(n: int) -> None:
    words = re.split(r"[ -]", en_cardinal(n))
    assert set(words) <= _EN_WORDS
    assert not re.search(r"\d", en_cardinal(n))


@given(st.integers(0, 10**12 - 1))
def test_mandarin_numbers_round_trip(n: int) -> None:
    assert cn2an.cn2an(zh_number(str(n)), "strict") == n


@given(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"), st.integers(0, 999))
def test_any_ticket_reads_letter_then_each_digit(letter: str, number: int) -> None:
    code = f"{letter}{number:03d}"
    zh = speakable(f"请{code}号", "zh")
    assert (
        zh
        == f"请{letter}" + "".join("零一二三四五六七八九"[int(d)] for d in f"{number:03d}") + "号。"
    )
    en = speakable(f"Ticket {code}", "en")
    assert len(en.split()) == 5 and en.split()[1] == letter


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("您的号码是A023（个人业务），请到3号窗口办理。", "zh", "您的号码是A零二三，个人业务，请到三号窗口办理。"),
        ("Your ticket is A023 (Personal), served at counter 3.", "en",
         "Your ticket is A zero two three, Personal, served at counter three."),
        ("请带好《身份证》和银行卡（原件）。", "zh", "请带好身份证和银行卡，原件。"),
        ("（注意）请排队", "zh", "注意，请排队。"),
        ("Fees (see table) apply", "en", "Fees, see table, apply."),
    ],
)  # fmt: skip
def test_brackets_are_read_as_a_pause_not_a_symbol(text: str, language: str, expected: str) -> None:
    assert speakable(text, language) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("身份证号110***********002X已记下。", "zh", "身份证号一一零，尾号零零二叉，已记下。"),
        ("手机号138****5678已记下。", "zh", "手机号一三八，尾号五六七八，已记下。"),
        ("地址北京市东城区****已记下。", "zh", "地址北京市东城区已记下。"),
        ("Your mobile number 138****5678 is noted.", "en",
         "Your mobile number one three eight, ending five six seven eight, is noted."),
    ],
)
def test_masked_numbers_are_read_by_their_visible_digits(text: str, language: str,
                                                         expected: str) -> None:
    assert speakable(text, language) == expected
