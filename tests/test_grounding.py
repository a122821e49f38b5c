"""Grounding guard: numbers compared by value across spellings; promises of returns refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intents.guardrails.grounding import check, numbers_in, promises_returns, strip_citations

FEES = "柜面跨行转账：1 万元（含）以下每笔 2 元；境外汇款手续费：汇款金额的 0.1%，每笔最高 260 元。"


@pytest.mark.parametrize(("text", "expected"), [
    ("年利率3.5%，起存金额1,000元", ["3.5%", "1000"]),
    ("3.50%", ["3.5%"]),
    ("百分之三点五", ["3.5%"]),
    ("5 万元以下每笔 2 元", ["50000", "2"]),
    ("50,000 CNY", ["50000"]),
    ("一万五", ["15000"]),
    ("一点五万", ["15000"]),
    ("二十万", ["200000"]),
    ("补卡工本费每张五元", ["5"]),
    ("两年期", ["2"]),
    ("2026年1月1日生效", ["2026-1-1"]),
    ("effective 2026-01-01", ["2026-1-1"]),
    ("Monday to Friday 9:00-17:00", ["9:00", "17:00"]),
    ("The fee is ten yuan", ["10"]),
    ("0.002% of the amount", ["0.002%"]),
    ("第2位", ["2"]),
    ("一定要带身份证，统一办理", []),
    ("[1] 没有数字 [2, 3]", []),
])
def test_numbers_are_normalised(text: str, expected: list[str]) -> None:
    assert numbers_in(text) == expected


def test_answer_with_the_passage_numbers_is_ok() -> None:
    report = check("跨行转账1万元以下每笔两元，境外汇款收0.10%，最高260元。", [FEES])
    assert report.ok and set(report.numbers) == {"10000", "2", "0.1%", "260"}


def test_a_changed_number_is_caught() -> None:
    report = check("境外汇款手续费是汇款金额的 0.2%，最高 260 元。", [FEES])
    assert not report.ok and report.unsupported_numbers == ("0.2%",)


def test_percent_and_plain_number_are_different_things() -> None:
    assert not check("利率是 2 %", ["每笔 2 元"]).ok
    assert not check("每笔 0.1 元", ["汇款金额的 0.1%"]).ok


def test_numbers_only_from_the_given_passages() -> None:
    assert not check("The fee is 50 CNY.", ["Fee: 5 CNY."]).ok
    assert check("No numbers here.", []).ok


def test_passage_objects_count_title_and_section() -> None:
    class P:
        text = "起存金额 50 元"
        title = "定期存款"
        section = "3 年期"

    assert check("3 年期起存 50 元", [P()]).ok


@pytest.mark.parametrize("text", [
    "本产品保本保收益", "稳赚不赔", "这款理财无风险", "guaranteed returns of 4%",
    "This product is risk-free", "保证年化收益 5%", "We guarantee a return on your money",
])
def test_promises_of_returns_are_refused(text: str) -> None:
    assert promises_returns(text)
    assert not check(text, [text]).ok  # even when a passage says it


@pytest.mark.parametrize("text", [
    "理财非存款，产品有风险，不保证本金和收益", "本产品不保本", "Returns are not guaranteed.",
    "过往业绩不代表未来表现", "存款利率 1.75%",
])
def test_negated_or_neutral_text_is_not_a_promise(text: str) -> None:
    assert not promises_returns(text)


def test_strip_citations() -> None:
    assert strip_citations("每笔 5 元 [1]。Fee is 5 [1, 2].") == "每笔 5 元。Fee is 5."
    assert strip_citations("见【2】") == "见"


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2))
def test_spellings_of_one_amount_agree(value: Decimal) -> None:
    """1,234.50 / 1234.5 / 1234.50 all normalise to the same canonical number."""
    plain = format(value, "f")
    grouped = f"{value:,.2f}"
    trimmed = plain.rstrip("0").rstrip(".") if "." in plain else plain
    assert numbers_in(f"{grouped} 元") == numbers_in(f"{trimmed} 元") == numbers_in(plain)
    assert check(f"收费 {trimmed}%", [f"费率 {plain}%"]).ok
