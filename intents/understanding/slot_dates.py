"""Dates in a customer's words, relative to today ("明天", "下周一", "3月5号", "next Friday")."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

import cn2an

from intents.understanding.slot_text import ZD as _ZD
from intents.understanding.slot_text import alternation as _alternation
from intents.understanding.slot_text import blank as _blank


def _small_int(token: str) -> int | None:
    """A day or month number written as 5, 05, 五 or 二十五."""
    if token.isdigit():
        return int(token)
    value = cn2an.cn2an(token, "smart")
    return int(value) if value == int(value) else None


def _ymd(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _month_day(today: dt.date, months_ahead: int, day: int) -> dt.date | None:
    year, month0 = divmod(today.month - 1 + months_ahead, 12)
    return _ymd(today.year + year, month0 + 1, day)


def _nearest(today: dt.date, options: list[dt.date | None]) -> dt.date | None:
    """The option closest to today, the later one on a tie: covers appointments and past dates."""
    valid = [d for d in options if d is not None]
    if not valid:
        return None
    return min(valid, key=lambda d: (abs((d - today).days), -d.toordinal()))


def _nearest_md(today: dt.date, month: int, day: int) -> dt.date | None:
    return _nearest(today, [_ymd(today.year + k, month, day) for k in (-1, 0, 1)])


_WEEK_OFFSET: Final[dict[str, int]] = {"下下": 14, "下": 7, "这": 0, "本": 0, "上": -7,
                                        "next": 7, "this": 0, "last": -7}


def _weekday(today: dt.date, weekday: int, which: str) -> dt.date:
    """下周五 / next Friday: that day of the following Monday-start week; bare 周五: the coming one."""
    if which.lower() in _WEEK_OFFSET:
        monday = today - dt.timedelta(days=today.weekday())
        return monday + dt.timedelta(days=_WEEK_OFFSET[which.lower()] + weekday)
    return today + dt.timedelta(days=(weekday - today.weekday()) % 7)


_ZN: Final = rf"[\d{_ZD}十]{{1,3}}"
_RELATIVE_DAYS: Final[dict[str, int]] = {
    "大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "明天": 1, "明日": 1,
    "后天": 2, "大后天": 3, "the day before yesterday": -2, "yesterday": -1, "today": 0,
    "tonight": 0, "tomorrow": 1, "tmr": 1, "the day after tomorrow": 2, "day after tomorrow": 2,
}
_ZH_WEEKDAYS: Final = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
                       "末": 5, **{str(i + 1): i for i in range(7)}}
_EN_WEEKDAYS: Final = {w: i for i, w in enumerate(
    "monday tuesday wednesday thursday friday saturday sunday".split())} | {"weekend": 5}
_EN_MONTHS: Final = {w: i % 12 + 1 for i, w in enumerate(
    "january february march april may june july august september october november december "
    "jan feb mar apr may jun jul aug sep oct nov dec".split())} | {"sept": 9}
_EM: Final = _alternation(_EN_MONTHS)
_NOT_A_DAY: Final = r"(?!\s*(?:窗口|柜台|柜|台|机|楼|线|门|口|位|房|床))"

_DATE_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(rx, re.IGNORECASE)) for name, rx in (
        ("iso", r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b"),
        ("zh_ymd", rf"(?:(\d{{4}}|[{_ZD}]{{4}}|今|明|去)年)?({_ZN})月({_ZN})(?:日|号){_NOT_A_DAY}"),
        ("zh_month_day", rf"(下下|下|这|本|上)个?月({_ZN})(?:日|号)"),
        ("zh_week", r"(下下|下|这|本|上)?个?(?:周|星期|礼拜)([一二三四五六日天末1-7])"),
        ("in_days", rf"({_ZN})天(?:以后|之后|后)|\bin\s+(\d{{1,2}}|two|three|four|five"
                    r"|six|seven|ten|fourteen)\s+(days?|weeks?)\b"),
        ("relative", rf"(?<![a-z])(?:{_alternation(_RELATIVE_DAYS)})(?![a-z])"),
        ("en_week", rf"\b(?:(next|this|coming|last)\s+)?({_alternation(_EN_WEEKDAYS)})\b"),
        ("en_md", rf"\b({_EM})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"),
        ("en_dm", rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_EM})\b(?:,?\s+(\d{{4}})\b)?"),
        ("en_the", r"\bthe\s+(\d{1,2})(?:st|nd|rd|th)\b(?:\s+of\s+(next|this|last)\s+month)?"),
        ("zh_day", rf"({_ZN})(?:日|号){_NOT_A_DAY}"),
    )
)
_EN_COUNTS: Final = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                     "seven": 7, "ten": 10, "fourteen": 14}


def _resolve_date(rule: str, m: re.Match[str], today: dt.date) -> dt.date | None:
    g = m.groups()
    if rule == "iso":
        return _ymd(int(g[0]), int(g[1]), int(g[2]))
    if rule == "zh_ymd":
        month, day = _small_int(g[1]), _small_int(g[2])
        if month is None or day is None:
            return None
        if g[0] is None:
            return _nearest_md(today, month, day)
        year = {"今": today.year, "明": today.year + 1, "去": today.year - 1}.get(g[0])
        if year is None:
            year = int(g[0]) if g[0].isdigit() else int(cn2an.cn2an(g[0], "direct"))
        return _ymd(year, month, day)
    if rule == "zh_month_day":
        day = _small_int(g[1])
        ahead = {"下下": 2, "下": 1, "这": 0, "本": 0, "上": -1}[g[0]]
        return None if day is None else _month_day(today, ahead, day)
    if rule == "zh_week":
        return _weekday(today, _ZH_WEEKDAYS[g[1]], g[0] or "")
    if rule == "in_days":
        if g[0] is not None:
            n = _small_int(g[0])
            return None if n is None else today + dt.timedelta(days=n)
        n = int(g[1]) if g[1].isdigit() else _EN_COUNTS[g[1].lower()]
        return today + dt.timedelta(days=n * (7 if g[2].lower().startswith("week") else 1))
    if rule == "relative":
        return today + dt.timedelta(days=_RELATIVE_DAYS[re.sub(r"\s+", " ", m.group()).lower()])
    if rule == "en_week":
        which = (g[0] or "").lower()
        return _weekday(today, _EN_WEEKDAYS[g[1].lower()], "" if which == "coming" else which)
    if rule in ("en_md", "en_dm"):
        month_word, day_txt = (g[0], g[1]) if rule == "en_md" else (g[1], g[0])
        month, day = _EN_MONTHS[month_word.lower()], int(day_txt)
        return _ymd(int(g[2]), month, day) if g[2] else _nearest_md(today, month, day)
    if rule == "en_the":
        if g[1] is not None:
            return _month_day(today, {"next": 1, "this": 0, "last": -1}[g[1].lower()], int(g[0]))
        return _nearest(today, [_month_day(today, k, int(g[0])) for k in (-1, 0, 1)])
    day = _small_int(g[0])  # zh_day
    return None if day is None else _nearest(today, [_month_day(today, k, day) for k in (-1, 0, 1)])


def find_date(s: str, today: dt.date) -> tuple[dt.date | None, str]:
    """The earliest date mentioned, and the text with every date span blanked."""
    found: list[tuple[int, dt.date | None]] = []
    for rule, pattern in _DATE_RULES:
        for m in pattern.finditer(s):
            if not m.group().strip():
                continue
            found.append((m.start(), _resolve_date(rule, m, today)))
            s = _blank(s, m.start(), m.end())
    dated = sorted((pos, d) for pos, d in found if d is not None)
    return (dated[0][1] if dated else None), s


EN_MONTHS: Final = _EN_MONTHS
EN_WEEKDAYS: Final = _EN_WEEKDAYS
