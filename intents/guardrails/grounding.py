"""Grounding guard: a generated answer may state only numbers its cited passages state.

Numbers are compared by value, whatever their spelling: 3.5% = 3.50% = 百分之三点五,
1,000 = 1000 = 一千, 5 万 = 50,000, 2026年1月1日 = 2026-01-01, 9:00 = 9:00. Promises of
returns ("guaranteed return", 保本保收益, 稳赚) are refused outright, unless negated
("not guaranteed", 不保本), because a teller system must never make them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Protocol

import cn2an

_CN_DIGITS: Final = "零〇一二两三四五六七八九十百千万亿点"
_UNITS: Final = (r"(?:元|块|个|天|年|月|日|号|岁|次|笔|张|份|倍|周|小时|分钟|分|秒|人|位|"
                 r"种|家|层|楼|号线|%)")
_DATE: Final = re.compile(r"(\d{4})\s*(?:-|/|年)\s*(\d{1,2})\s*(?:-|/|月)\s*(\d{1,2})\s*日?")
_TIME: Final = re.compile(r"(?<![\d.])(\d{1,2})[:：](\d{2})(?!\d)")
_ARABIC: Final = re.compile(
    r"(?<![0-9A-Za-z.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\d)\s*(%|％|percent|万|亿|千|k\b|million\b)?",
    re.IGNORECASE)
_CN_PERCENT: Final = re.compile(rf"百分之([{_CN_DIGITS}]+)")
_CN_NUMBER: Final = re.compile(rf"([{_CN_DIGITS}]{{2,}}|[{_CN_DIGITS}](?={_UNITS}))")
_CN_NOT_NUMBER: Final = re.compile(r"^(?:点|万|亿|千|百|十)$")
_EN_WORDS: Final[dict[str, Decimal | int]] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90,
    "hundred": 100, "thousand": 1000, "million": 1_000_000, "half": Decimal("0.5"),
}
_EN_WORD: Final = re.compile(r"\b(" + "|".join(_EN_WORDS) + r")\b", re.IGNORECASE)
_MULTIPLIER: Final = {"万": 10_000, "亿": 100_000_000, "千": 1000, "k": 1000,
                      "million": 1_000_000}
_CITATION: Final = re.compile(r"\[\s*\d+(?:\s*[,，]\s*\d+)*\s*\]|【\s*\d+\s*】")
_PROMISE: Final = re.compile(
    r"保本保息|保本保收益|保证收益|保证本金|保本|保息|稳赚|包赚|只赚不赔|稳赚不赔|零风险|无风险|"
    r"没有风险|不会亏|一定赚|肯定赚|保证.{0,6}(?:收益|回报|利润)|刚性兑付|"
    r"guarantee[sd]?\s+(?:a\s+|an\s+|your\s+)?(?:\w+\s+)?(?:returns?|profits?|yields?|income|gains?)|"
    r"guaranteed|risk[- ]free|no risk|can(?:not|'t) lose|never lose|sure profit|will earn",
    re.IGNORECASE)
_NEGATION: Final = re.compile(
    r"(?:不|非|并不|不能|不会|不得|不承诺|不代表|没有|无法|未|not|no|never|cannot|n't|don't|does not)"
    r"[\s\w]{0,3}$", re.IGNORECASE)


class HasText(Protocol):
    """A retrieved passage (intents.knowledge.Passage or SearchResult)."""

    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class GroundingReport:
    """ok only when every number is supported and no return is promised."""

    ok: bool
    unsupported_numbers: tuple[str, ...] = ()
    promise_of_returns: bool = False
    numbers: tuple[str, ...] = ()  # every number the answer states, normalised


def strip_citations(text: str) -> str:
    """The answer as spoken: citation markers like [1] or [1, 2] removed."""
    return re.sub(r"\s+([。，,.!?！？])", r"\1", _CITATION.sub("", text)).strip()


def _canon(value: Decimal, kind: str = "") -> str:
    text = format(value.normalize(), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{text}{kind}"


def _cn_value(text: str) -> Decimal | None:
    try:
        return Decimal(str(cn2an.cn2an(text, "smart")))
    except (ValueError, KeyError, InvalidOperation, IndexError):
        pass
    unit = _MULTIPLIER.get(text[-1:]) if len(text) > 1 else None
    if unit is not None:  # 一点五万: cn2an reads 一点五 but not the trailing unit
        head = _cn_value(text[:-1])
        return None if head is None else head * unit
    return None


def numbers_in(text: str) -> list[str]:
    """Every number, rate, amount, date or time in the text, as comparable canonical strings."""
    found: list[str] = []
    rest = _CITATION.sub(" ", text)

    def blank(match: re.Match[str]) -> str:
        return " " * len(match.group(0))

    for m in _DATE.finditer(rest):
        found.append(f"{int(m.group(1))}-{int(m.group(2))}-{int(m.group(3))}")
    rest = _DATE.sub(blank, rest)
    for m in _TIME.finditer(rest):
        found.append(f"{int(m.group(1))}:{m.group(2)}")
    rest = _TIME.sub(blank, rest)
    for m in _ARABIC.finditer(rest):
        value = Decimal(m.group(1).replace(",", "") + (m.group(2) or ""))
        suffix = (m.group(3) or "").lower()
        if suffix in ("%", "％", "percent"):
            found.append(_canon(value, "%"))
        else:
            found.append(_canon(value * _MULTIPLIER.get(suffix, 1)))
    rest = _ARABIC.sub(blank, rest)
    for m in _CN_PERCENT.finditer(rest):
        value_or_none = _cn_value(m.group(1))
        if value_or_none is not None:
            found.append(_canon(value_or_none, "%"))
    rest = _CN_PERCENT.sub(blank, rest)
    for m in _CN_NUMBER.finditer(rest):
        run = m.group(1)
        if _CN_NOT_NUMBER.match(run):
            continue
        value_or_none = _cn_value(run)
        if value_or_none is not None:
            found.append(_canon(value_or_none))
    for m in _EN_WORD.finditer(rest):
        found.append(_canon(Decimal(_EN_WORDS[m.group(1).lower()])))
    return found


def promises_returns(text: str) -> bool:
    """True when the text promises a return or safety of principal (and does not negate it)."""
    for m in _PROMISE.finditer(text):
        if not _NEGATION.search(text[max(0, m.start() - 12): m.start()]):
            return True
    return False


def _passage_text(passage: str | HasText) -> str:
    if isinstance(passage, str):
        return passage
    parts = [passage.text]
    for attr in ("title", "section"):
        value = getattr(passage, attr, "")
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


def check(answer_text: str, passages: Iterable[str | HasText]) -> GroundingReport:
    """Is every number in the answer stated by the passages, and is no return promised?"""
    supported = {n for p in passages for n in numbers_in(_passage_text(p))}
    stated = numbers_in(answer_text)
    missing = tuple(dict.fromkeys(n for n in stated if n not in supported))
    promise = promises_returns(answer_text)
    return GroundingReport(ok=not missing and not promise, unsupported_numbers=missing,
                           promise_of_returns=promise, numbers=tuple(dict.fromkeys(stated)))
