"""Privacy masking and ID/mobile validation: tables plus properties over random text and IDs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intents.guardrails.masking import (
    SPOKEN_DIGITS,
    mask_pii,
    normalize_digits,
    resident_id_check_char,
    validate_mobile,
    validate_resident_id,
)

VALID_ID = "11010519491231002X"  # the GB 11643 standard's worked example

MASK_CASES = [
    ("我的手机号是13812345678", "我的手机号是138****5678"),
    ("电话 138 1234 5678 谢谢", "电话 138 **** 5678 谢谢"),
    ("call +86 138-1234-5678", "call +86 138-****-5678"),
    ("身份证11010519491231002X", "身份证**************002X"),
    ("ID 110105491231002 legacy", "ID ***********1002 legacy"),
    ("卡号6222021234567890", "卡号************7890"),
    ("card 6222 0212 3456 7890 123", "card **** **** **** ***0 123"),
    ("4111-1111-1111-1111", "****-****-****-1111"),
    ("138  1234  5678", "138  ****  5678"),
    ("138 - 1234 - 5678", "138 - **** - 5678"),
    ("１１０１０５１９４９１２３１００２Ｘ", "＊＊＊＊＊＊＊＊＊＊＊＊＊＊００２Ｘ".replace("＊", "*")),
    ("幺三八幺二三四五六七八", "幺三八****五六七八"),
    ("身份证幺幺零幺零五幺九四九幺二三幺零零二叉", "身份证**************零零二叉"),
    ("电话是一三八，一二三四，五六七八", "电话是一三八，****，五六七八"),
    ("１３８１２３４５６７８", "１３８****５６７８"),
    ("email zhang.san@example.com please", "email z***@example.com please"),
    ("我的邮箱是abc123@qq.com。", "我的邮箱是a***@qq.com。"),
    ("13812345678@163.com", "1***@163.com"),
    # left alone: amounts, tickets, dates, short numbers
    ("转50,000元", "转50,000元"),
    ("请A023号到3号窗口", "请A023号到3号窗口"),
    ("3月5号下午3点", "3月5号下午3点"),
    ("1234567890", "1234567890"),
    ("一二三四五六七八九十", "一二三四五六七八九十"),
    ("转五万给我妈", "转五万给我妈"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), MASK_CASES, ids=[c[0] for c in MASK_CASES])
def test_mask_table(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_mask_non_string_is_empty() -> None:
    assert mask_pii(None) == ""  # type: ignore[arg-type]


_DIGIT_LIKE = "[\\d" + "".join(SPOKEN_DIGITS) + "]"
_LONG_RUN = re.compile(r"(?:\d[ \-,，、]?){10}\d")
_LONG_SPOKEN_RUN = re.compile(rf"(?:{_DIGIT_LIKE}[ \-,，、]?){{10}}{_DIGIT_LIKE}")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 -,幺三八两零X@.abc中文")
               | st.characters(), max_size=120))
def test_masking_never_leaves_a_long_digit_run(text: str) -> None:
    masked = mask_pii(text)
    assert not re.search(r"\d{11}", masked)
    assert not _LONG_RUN.search(masked)
    assert not _LONG_SPOKEN_RUN.search(masked)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("0123456789１２３" + "".join(SPOKEN_DIGITS)), min_size=11, max_size=25),
    st.lists(st.sampled_from(["", "", "", " ", "-", "，", "  ", " - "]), min_size=25, max_size=25),
    st.text(max_size=8),
    st.text(max_size=8),
)
def test_any_long_spoken_or_written_number_is_masked(
    digits: list[str], separators: list[str], before: str, after: str
) -> None:
    number = "".join(d + sep for d, sep in zip(digits, separators, strict=False)).strip(" -，")
    masked = mask_pii(before + number + after)
    assert not _LONG_SPOKEN_RUN.search(masked)
    # at most 7 digits stay visible (138****5678); a +86 mobile also shows its country code
    # ("86138****5678"), which identifies nobody
    plain = normalize_digits("".join(digits))
    visible = 9 if len(plain) == 13 and re.fullmatch(r"861[3-9]\d{9}", plain) else 7
    assert masked.count("*") >= len(digits) - visible + (before + after).count("*")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Nd"],
                                      exclude_characters="".join(SPOKEN_DIGITS) + "@")))
def test_text_without_digits_or_emails_is_unchanged(text: str) -> None:
    assert mask_pii(text) == text


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(["11", "31", "44", "51", "65", "82"]))
    region = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 11, 25)))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    first17 = f"{province}{region}{born:%Y%m%d}{sequence}"
    return first17 + resident_id_check_char(first17)


@settings(max_examples=300, deadline=None)
@given(resident_ids(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_generated_id_validates_and_any_single_change_fails(
    resident_id: str, position: int, replacement: str
) -> None:
    assert validate_resident_id(resident_id)
    assert validate_resident_id(resident_id.lower())
    assume(resident_id[position] != replacement)
    changed = resident_id[:position] + replacement + resident_id[position + 1:]
    assert not validate_resident_id(changed)


@settings(max_examples=100, deadline=None)
@given(resident_ids(), st.text(max_size=10), st.text(max_size=10))
def test_generated_id_is_masked_in_any_sentence(resident_id: str, before: str, after: str) -> None:
    assume(not before[-1:].isdecimal() and not after[:1].isdecimal())
    masked = mask_pii(f"{before}{resident_id}{after}")
    assert resident_id[:14] not in masked


@pytest.mark.parametrize(("value", "ok"), [
    (VALID_ID, True),
    ("11010519491231002x", True),
    (" 11010519491231002X ", True),
    ("110105194912310021", False),  # wrong check digit
    ("11010519491231002", False),  # 17 characters
    ("110105194902300028", False),  # 30 February
    ("000000000000000000", False),  # no such province
    ("110105180001010018", False),  # born before 1900
    ("１１０１０５１９４９１２３１００２Ｘ", False),  # full-width is not what a form accepts
    ("", False),
])
def test_validate_resident_id(value: str, ok: bool) -> None:
    assert validate_resident_id(value) is ok


def test_birth_date_in_the_future_fails_when_today_is_given() -> None:
    first17 = "11010520300101001"
    future = first17 + resident_id_check_char(first17)
    assert validate_resident_id(future)
    assert not validate_resident_id(future, today=dt.date(2026, 11, 25))


@pytest.mark.parametrize(("value", "ok"), [
    ("13812345678", True),
    ("138 1234 5678", True),
    ("138-1234-5678", True),
    ("+86 13812345678", True),
    ("8613812345678", True),
    ("12812345678", False),
    ("1381234567", False),
    ("138123456789", False),
    ("１３８１２３４５６７８", False),
    ("", False),
])
def test_validate_mobile(value: str, ok: bool) -> None:
    assert validate_mobile(value) is ok


def test_normalize_digits_reads_spoken_numbers() -> None:
    assert normalize_digits("幺三八 1234-5678") == "13812345678"
    assert validate_mobile(normalize_digits("幺三八幺二三四五六七八"))
    assert validate_resident_id(normalize_digits("幺幺零幺零五幺九四九幺二三幺零零二叉"))
