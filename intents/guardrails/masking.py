"""Privacy rules: ID, card and phone numbers and emails are masked before logs or screens see them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Final

from intents.guardrails.names import mask_names
from intents.guardrails.number_words import ID_X, UNIT, ZH_DIGITS, units_in

MASK: Final = "*"
MIN_MASKED_DIGITS: Final = 11  # a mobile number is the shortest identifier we must hide
KEEP_LAST: Final = 4  # cards, IDs and other long numbers keep their last four, as on receipts

SPOKEN_DIGITS: Final = ZH_DIGITS  # the Mandarin spoken digits (their English: number_words)
_ID_X: Final = ID_X
# A run of digit units (Arabic, full-width, Mandarin or English words, mixed) where up to 3
# spaces, dashes or commas between groups do not break it: "138 1234 5678", "138 - 1234 -
# 5678", "幺三八，幺二三四，五六七八", "one three eight, double one ...", "138 one two 3 4".
_DIGIT_RUN: Final = re.compile(
    rf"(?:\+(?=\d))?{UNIT}(?:[ \-,，、]{{0,3}}{UNIT})*(?:[ \-,，、]{{0,3}}[{_ID_X}](?![a-zA-Z]))?"
)
_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_MOBILE: Final = re.compile(r"1[3-9]\d{9}")
_ID_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK: Final = "10X98765432"  # GB 11643-1999: check character for (sum of weighted digits) % 11
_PROVINCES: Final = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83 91".split()
)


def _digit(ch: str) -> str:
    """One digit-like character as an ASCII digit ('X' stays 'X')."""
    if ch in SPOKEN_DIGITS:
        return SPOKEN_DIGITS[ch]
    if ch in _ID_X:
        return "X"
    return str(unicodedata.decimal(ch))


def normalize_digits(text: str) -> str:
    """'幺三八 1234-5678' -> '13812345678': form guidance compares what was said, not how."""
    return "".join(_digit(ch) for ch in text if ch in _ID_X or ch in SPOKEN_DIGITS or ch.isdecimal())


def _keep(digits: str) -> tuple[int, int]:
    """How many leading and trailing digits stay visible for a run of these digits."""
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return 3, 4  # 138****5678: enough for staff to confirm the number with the customer
    if len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return 5, 4
    return 0, KEEP_LAST


def _mask_run(m: re.Match[str]) -> str:
    """Hide the middle of a long run; a unit holding a hidden digit is masked whole, one mask
    character per digit ("double eight" -> "**"), so no word or character gives one away."""
    run = m.group()
    units = units_in(run)
    digits = "".join(d for _, _, d in units)
    if len(digits) < MIN_MASKED_DIGITS:
        return run
    head, tail = _keep(digits)
    hidden_from, hidden_to = head, len(digits) - tail
    out: list[str] = []
    done = seen = 0
    for start, end, unit in units:
        out.append(run[done:start])
        covers = seen < hidden_to and seen + len(unit) > hidden_from
        out.append(MASK * len(unit) if covers else run[start:end])
        seen += len(unit)
        done = end
    out.append(run[done:])
    return "".join(out)


def _mask_email(m: re.Match[str]) -> str:
    return f"{m.group(1)}{MASK * 3}@{m.group(2)}"


def mask_pii(text: str) -> str:
    """Mask IDs, cards, mobiles, emails and stated names so transcripts and logs never carry
    them whole."""
    if not isinstance(text, str) or not text:
        return "" if not isinstance(text, str) else text
    return _DIGIT_RUN.sub(_mask_run, _EMAIL.sub(_mask_email, mask_names(text)))


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_resident_id(value: str, today: dt.date | None = None) -> bool:
    """An 18-character mainland ID with a right check digit and a plausible birth date."""
    if not isinstance(value, str):
        return False
    s = value.strip().upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", s) or s[:2] not in _PROVINCES:
        return False
    if resident_id_check_char(s[:17]) != s[17]:
        return False
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    return today is None or (born <= today and today.year - born.year <= 130)


def validate_mobile(value: str) -> bool:
    """A mainland mobile number (1[3-9] and 9 digits), with or without +86, spaces or dashes."""
    if not isinstance(value, str):
        return False
    s = re.sub(r"[ \-]", "", value.strip())
    s = re.sub(r"^(?:\+86|0086|86)(?=1\d{10}$)", "", s)
    return s.isascii() and _MOBILE.fullmatch(s) is not None
