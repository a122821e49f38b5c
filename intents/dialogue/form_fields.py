"""The account-opening form's fields: what each one accepts from a spoken or typed turn, how
it is read back masked, and what the teller says about it, in Mandarin and English. Pure.

The resident ID and mobile checks themselves live in `intents.understanding.resident_id`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from intents.understanding.resident_id import (
    ID_LENGTH,
    PARTS,
    Verdict,
    check_mobile,
    check_resident_id,
    mask_value,
    spoken_digits,
)

FIELDS: Final = ("id_number", "mobile", "name", "address", "occupation")
DIGIT_FIELDS: Final = frozenset({"id_number", "mobile"})
LABELS: Final[dict[str, dict[str, str]]] = {
    "id_number": {"zh": "身份证号", "en": "ID number"},
    "mobile": {"zh": "手机号", "en": "mobile number"},
    "name": {"zh": "姓名", "en": "name"},
    "address": {"zh": "地址", "en": "address"},
    "occupation": {"zh": "职业", "en": "occupation"},
}
OCCUPATIONS: Final[dict[str, tuple[str, str, str]]] = {  # key: (zh, en, words that name it)
    "employee": ("企业职员", "Company employee", r"职员|员工|上班|公司|白领|employee|office|staff"),
    "civil_servant": (
        "公务员/事业单位",
        "Civil servant",
        r"公务员|事业单位|机关|civil servant|government",
    ),
    "self_employed": (
        "个体经营",
        "Self-employed",
        r"个体|自己开|做生意|老板|self.?employed|own business",
    ),
    "freelance": ("自由职业", "Freelance", r"自由职业|freelanc"),
    "student": ("学生", "Student", r"学生|上学|读书|student"),
    "retired": ("退休", "Retired", r"退休|retired|pension"),
    "farmer": ("农民", "Farmer", r"农民|种地|务农|farm"),
    "other": ("其他", "Other", r"其他|无业|other|unemployed"),
}
_PREFIX: Final = re.compile(
    r"^\W*(?:我的?(?:名字|姓名)(?:是|叫)?|我叫|我是|名字(?:是|叫)|姓名(?:是)?|我(?:家)?住(?:在)?"
    r"|(?:我的?|家庭)?(?:住址|地址)(?:是|在)?|我(?:是)?(?:做|干)|职业(?:是)?"
    r"|my name is|my name's|i am|i'm|call me|the name is|i live (?:at|in)|my address is"
    r"|address is|i work as an?|i work as|i'm an?|i am an?)\W*",
    re.IGNORECASE,
)
_HAN_NAME: Final = re.compile(r"[\u4e00-\u9fff]{1,5}(?:[·•][\u4e00-\u9fff]{1,8})?")
_LATIN_NAME: Final = re.compile(r"[A-Za-z][A-Za-z'\-]*(?:\s+[A-Za-z][A-Za-z'\-]*){0,4}")
_ORDINALS_ZH: Final = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_EN_ORDINALS: Final = {
    w: i + 1
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth".split()
    )
}
_ZH_POSITION: Final = re.compile(r"第\s*([一二两三四五六七八九十\d]{1,3})\s*(?:位|个数字?|个)")
_EN_POSITION: Final = re.compile(
    r"\b(?:the\s+)?("
    + "|".join(_EN_ORDINALS)
    + r"|\d{1,2}(?:st|nd|rd|th))\s+(?:digit|number|character)",
    re.IGNORECASE,
)
_ASKS: Final = re.compile(r"是(?:几|多少|什么)|多少|什么|\bwhat(?:'s| is)?\b|\?|？", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    """A field's value from one turn, or why it was not taken (`verdict` for digit fields)."""

    value: str | None
    verdict: Verdict | None = None


def position_said(text: str) -> int | None:
    """'第三位' / 'the third digit' -> 3 (1-based)."""
    m = _ZH_POSITION.search(text)
    if m:
        raw = m.group(1)
        if raw.isdigit():
            return int(raw)
        if raw.startswith("十"):
            return 10 + _ORDINALS_ZH.get(raw[1:], 0)
        if "十" in raw:
            tens, _, ones = raw.partition("十")
            return _ORDINALS_ZH.get(tens, 0) * 10 + _ORDINALS_ZH.get(ones, 0)
        return _ORDINALS_ZH.get(raw)
    m = _EN_POSITION.search(text)
    if m:
        word = m.group(1).lower()
        return _EN_ORDINALS.get(word) or int(re.sub(r"\D", "", word))
    return None


def digit_question(text: str) -> int | None:
    """'第三位是几？' / 'what is the third digit?': the position the customer asks about."""
    where = position_said(text)
    m = _ZH_POSITION.search(text) or _EN_POSITION.search(text)
    if where is None or m is None or not _ASKS.search(text):
        return None
    return where if not spoken_digits(text[m.end() :]) else None


def digit_correction(text: str) -> tuple[int, str] | None:
    """'第三位是5' / 'the third digit is five': (position, the right character)."""
    where = position_said(text)
    if where is None:
        return None
    m = _ZH_POSITION.search(text) or _EN_POSITION.search(text)
    assert m is not None
    said = spoken_digits(text[m.end() :])
    return (where, said[-1]) if len(said) == 1 or (said and len(set(said)) == 1) else None


def parse_field(
    field: str,
    text: str,
    today: dt.date | None,
    draft: str | None = None,
    part: str | None = None,
    *,
    max_age: int = 120,
    prefecture: bool = True,
) -> Parsed:
    """The value of `field` in this turn; `draft` and `part` let a customer repeat only the
    part of an ID number they were asked to (the rest is kept)."""
    if field == "id_number":
        digits = spoken_digits(text)
        if draft is not None and part is not None and part != "whole":
            low, high = PARTS[part]
            if len(digits) == high - low + 1 and len(draft) == ID_LENGTH:
                digits = draft[: low - 1] + digits + draft[high:]
        verdict = check_resident_id(digits, today, max_age=max_age, prefecture=prefecture)
        return Parsed(digits if verdict.ok else None, verdict)
    if field == "mobile":
        verdict = check_mobile(spoken_digits(text))
        return Parsed(verdict.value if verdict.ok else None, verdict)
    said = _PREFIX.sub("", unicodedata.normalize("NFKC", text).strip()).strip(" 。.!！,，")
    if field == "name":
        name = bool((_HAN_NAME.fullmatch(said) and len(said) >= 2) or _LATIN_NAME.fullmatch(said))
        return Parsed(said if name and len(said) <= 40 else None)
    if field == "address":
        ok = len(said) >= 4 and not said.isdigit() and len(said) <= 120
        return Parsed(said if ok else None)
    for key, (_, _, words) in OCCUPATIONS.items():
        if re.search(words, said, re.IGNORECASE):
            return Parsed(key)
    return Parsed(said if 2 <= len(said) <= 30 else None)


def occupation_label(value: str, language: str) -> str:
    known = OCCUPATIONS.get(value)
    if known is None:
        return value
    return known[1] if language == "en" else known[0]


def masked(field: str, value: str, language: str) -> str:
    """How a value is shown and read back: identifiers and names never whole."""
    if field in DIGIT_FIELDS:
        return mask_value(value, 3, 4)
    if field == "name":
        words = value.split()
        if len(words) > 1:  # Latin names: initials
            return " ".join(w[0] + "*" * (len(w) - 1) for w in words)
        return value[0] + "*" * (len(value) - 1)
    if field == "address":
        keep = 6 if re.search(r"[\u4e00-\u9fff]", value) else 10
        return value[:keep] + "****" if len(value) > keep else value[:2] + "****"
    return occupation_label(value, language)
