"""Resident ID and mobile numbers as a form needs them: digits from speech, and a verdict that
names the part of the number to say again. Pure.

A resident ID number (GB 11643-1999) is 18 characters: a region code (GB/T 2260, positions
1-6), the birth date (7-14), a sequence number (15-17) and an ISO 7064 MOD 11-2 check
character (18, 0-9 or X). A single wrong character always breaks the check; where it cannot
be told from the region or the date, the verdict narrows it to the positions where one
changed character would make the whole number valid again.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

from intents.guardrails.masking import SPOKEN_DIGITS
from intents.understanding.slot_appointment import spell_en_digits

ID_LENGTH: Final = 18
MOBILE_LENGTH: Final = 11
_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK: Final = "10X98765432"  # the check character for (sum of weighted digits) % 11
# The parts of the number a customer is asked to repeat, 1-based and inclusive.
PARTS: Final[dict[str, tuple[int, int]]] = {
    "region": (1, 6),
    "birth_date": (7, 14),
    "last_four": (15, 18),
    "whole": (1, 18),
}
# Mainland mobile number blocks (MIIT numbering plan: 13x-19x, data-only and IoT blocks out).
_MOBILE_PREFIX: Final = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])")
_X: Final = "xXＸ叉"
_EN_MULTI: Final = re.compile(r"\b(double|triple)\s+(\d)", re.IGNORECASE)
_EN_X: Final = re.compile(r"\b(?:x|ex)\b", re.IGNORECASE)

Problem = Literal["length", "characters", "region", "birth_date", "checksum", "prefix"]


def _load_regions() -> dict[str, str]:
    text = resources.files("intents.understanding").joinpath("gb2260.tsv").read_text("utf-8")
    rows = (
        line.split("\t")
        for line in text.splitlines()
        if line and not line.startswith(("#", "code\t"))
    )
    return {code: name for code, name in rows}


REGIONS: Final[dict[str, str]] = _load_regions()  # "11" / "1101" -> name


def spoken_digits(text: str) -> str:
    """'幺三八，1234 five six seven eight' -> '13812345678'; X (叉, 'ex') kept for IDs."""
    s = unicodedata.normalize("NFKC", text)
    s = _EN_MULTI.sub(
        lambda m: m.group(2) * (2 if m.group(1).lower() == "double" else 3), spell_en_digits(s)
    )
    s = _EN_X.sub("X", s)
    out = []
    for ch in s:
        if ch in SPOKEN_DIGITS:
            out.append(SPOKEN_DIGITS[ch])
        elif ch in _X:
            out.append("X")
        elif ch.isdecimal():
            out.append(str(unicodedata.decimal(ch)))
    return "".join(out)


def check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class Verdict:
    """What is wrong with a number, and the 1-based positions to say again (None: fine)."""

    value: str
    problem: Problem | None = None
    span: tuple[int, int] | None = None
    born: dt.date | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def part(self) -> str:
        """The smallest named part ('region', 'birth_date', 'last_four', 'whole') holding the span."""
        if self.span is None:
            return "whole"
        low, high = self.span
        for name, (a, b) in PARTS.items():
            if a <= low and high <= b:
                return name
        return "whole"


def region_known(code6: str, prefecture: bool = True) -> bool:
    """The province (and, with `prefecture`, the prefecture) is a GB/T 2260 code."""
    return code6[:2] in REGIONS and (not prefecture or code6[:4] in REGIONS)


def birth_date(value: str) -> dt.date | None:
    """The birth date in positions 7-14, when it is a calendar date."""
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def _birth_ok(value: str, today: dt.date | None, max_age: int) -> bool:
    """A calendar date, not in the future and at most `max_age` years ago (without `today`:
    not before 1900)."""
    born = birth_date(value)
    if born is None or today is None:
        return born is not None and born.year >= 1900
    return born <= today and today.year - born.year <= max_age


def _plausible(value: str, today: dt.date | None, max_age: int, prefecture: bool) -> bool:
    return region_known(value[:6], prefecture) and _birth_ok(value, today, max_age)


def check_resident_id(
    value: str, today: dt.date | None, *, max_age: int = 120, prefecture: bool = True
) -> Verdict:
    """The verdict on an 18-character ID number (digits as `spoken_digits` gives them)."""
    if len(value) != ID_LENGTH:
        return Verdict(value, "length", PARTS["whole"])
    if not re.fullmatch(r"\d{17}[\dX]", value):
        bad = next(i for i, ch in enumerate(value) if not ch.isdigit() and i < 17)
        return Verdict(value, "characters", (bad + 1, bad + 1))
    if not region_known(value[:6], prefecture):
        return Verdict(value, "region", PARTS["region"])
    if not _birth_ok(value, today, max_age):
        return Verdict(value, "birth_date", PARTS["birth_date"])
    if check_char(value[:17]) != value[17]:
        return Verdict(value, "checksum", _suspects(value, today, max_age, prefecture))
    return Verdict(value, born=birth_date(value))


def _suspects(value: str, today: dt.date | None, max_age: int, prefecture: bool) -> tuple[int, int]:
    """The positions where changing one character makes a valid, plausible number."""
    found = []
    for i in range(ID_LENGTH):
        choices = "0123456789X" if i == ID_LENGTH - 1 else "0123456789"
        for ch in choices:
            if ch == value[i]:
                continue
            fixed = value[:i] + ch + value[i + 1 :]
            if check_char(fixed[:17]) == fixed[17] and _plausible(
                fixed, today, max_age, prefecture
            ):
                found.append(i + 1)
                break
    return (min(found), max(found)) if found else PARTS["whole"]


def check_mobile(value: str) -> Verdict:
    """The verdict on a mainland mobile number (a leading 86 country code is dropped)."""
    if len(value) == MOBILE_LENGTH + 2 and value.startswith("86"):
        value = value[2:]
    if len(value) != MOBILE_LENGTH or not value.isdigit():
        return Verdict(value, "length", (1, MOBILE_LENGTH))
    if not _MOBILE_PREFIX.match(value):
        return Verdict(value, "prefix", (1, 3))
    return Verdict(value)


def age_on(born: dt.date, today: dt.date) -> int:
    """Whole years of age on `today`."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def mask_value(value: str, head: int = 3, tail: int = 4) -> str:
    """'110101199003071234' -> '110***********1234': how a form reads a number back."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]
