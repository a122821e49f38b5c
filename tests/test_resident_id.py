"""Resident ID and mobile numbers for the account-opening form: the GB 11643 check, the
region and birth date, digits as customers say them, and the part a wrong digit is in."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intents.understanding.resident_id import (
    PARTS,
    REGIONS,
    age_on,
    check_char,
    check_mobile,
    check_resident_id,
    mask_value,
    spoken_digits,
)

TODAY = dt.date(2026, 12, 7)
PREFECTURES = sorted(code for code in REGIONS if len(code) == 4)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    prefecture = draw(st.sampled_from(PREFECTURES))
    county = draw(st.from_regex(r"[0-9]{2}", fullmatch=True))
    born = draw(st.dates(min_value=dt.date(1910, 1, 1), max_value=TODAY))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    first17 = f"{prefecture}{county}{born:%Y%m%d}{sequence}"
    return first17 + check_char(first17)


def test_the_region_table_has_every_province_and_real_prefectures() -> None:
    provinces = {c for c in REGIONS if len(c) == 2}
    assert len(provinces) == 34 and {"11", "44", "65", "71", "81", "82"} <= provinces
    assert REGIONS["4403"] == "深圳市" and REGIONS["3301"] == "杭州市"
    assert len(PREFECTURES) > 330
    assert all(code[:2] in provinces for code in PREFECTURES)


def test_a_known_id_checks_out_with_its_birth_date() -> None:
    # The standard's own example: 11010519491231002X
    verdict = check_resident_id("11010519491231002X", TODAY)
    assert verdict.ok and verdict.born == dt.date(1949, 12, 31)
    assert age_on(dt.date(1949, 12, 31), TODAY) == 76


@settings(max_examples=400, deadline=None)
@given(resident_ids(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_one_wrong_character_is_caught_and_its_part_named(
    resident_id: str, position: int, replacement: str
) -> None:
    assert check_resident_id(resident_id, TODAY).ok
    assume(resident_id[position] != replacement)
    assume(position == 17 or replacement != "X")  # X stands only in the last place
    changed = resident_id[:position] + replacement + resident_id[position + 1 :]
    verdict = check_resident_id(changed, TODAY)
    assert not verdict.ok
    low, high = verdict.span or (0, 0)
    assert low <= position + 1 <= high, (verdict, position + 1)
    low, high = PARTS[verdict.part]  # the part the customer is told to repeat holds it too
    assert low <= position + 1 <= high
    if verdict.problem == "region":
        assert position < 6
    if verdict.problem == "birth_date":
        assert 6 <= position < 14


@pytest.mark.parametrize(
    ("value", "problem", "part"),
    [
        ("1101011990030712", "length", "whole"),
        ("991010199003071234", "region", "region"),  # no province 99
        ("119901199003071234", "region", "region"),  # Beijing has no prefecture 1199
        ("110101199002301234", "birth_date", "birth_date"),  # 30 February
        ("110101203001011234", "birth_date", "birth_date"),  # born in the future
        ("110101180001011234", "birth_date", "birth_date"),  # 226 years old
    ],
)
def test_each_part_of_the_number_is_checked(value: str, problem: str, part: str) -> None:
    verdict = check_resident_id(value, TODAY)
    assert verdict.problem == problem and verdict.part == part


def test_the_province_only_check_accepts_an_abolished_prefecture() -> None:
    first17 = "36240119800101123"  # 3624: the former Ji'an prefecture, still on old cards
    value = first17 + check_char(first17)
    assert check_resident_id(value, TODAY).problem == "region"
    assert check_resident_id(value, TODAY, prefecture=False).ok


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("幺三八幺二三四五六七八", "13812345678"),
        ("一三八 一二三四 五六七八", "13812345678"),
        ("one three eight one two three four five six seven eight", "13812345678"),
        ("one three eight double one triple two five six", "1381122256"),
        ("138-1234-5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("11010519491231002叉", "11010519491231002X"),
        ("110105 1949 1231 002 x", "11010519491231002X"),
        ("幺幺零幺零五 幺九四九幺二三幺 零零二X", "11010519491231002X"),
    ],
)
def test_digits_as_customers_say_them(said: str, digits: str) -> None:
    assert spoken_digits(said) == digits


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("13812345678", None),
        ("19912345678", None),
        ("16612345678", None),
        ("8613812345678", None),
        ("12812345678", "prefix"),
        ("10012345678", "prefix"),
        ("1381234567", "length"),
        ("138123456789", "length"),
    ],
)
def test_mobile_numbers(value: str, problem: str | None) -> None:
    assert check_mobile(value).problem == problem


def test_numbers_are_read_back_masked() -> None:
    assert mask_value("11010519491231002X") == "110***********002X"
    assert mask_value("13812345678") == "138****5678"
