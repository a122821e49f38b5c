"""Numbers as people say them: the digit units of a spoken or written identifier.

Masking looks for long runs of digits, and a customer reading a phone number aloud gives the
speech-to-text words, not digits: "one three eight ...", "double eight", "oh", "fifty-six
seventy-eight", 幺三八. This module names every such unit and what digits it stands for, so
one run of units (Arabic, full-width, Mandarin or English, mixed) is counted and masked as
one number. Amounts said in words keep their multipliers (hundred, thousand, 万) between the
units, which break a run, so "fifty thousand" or 五万 never look like an identifier.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Spoken digits as speech-to-text writes them (幺 is how 1 is read aloud in phone numbers).
ZH_DIGITS: Final[dict[str, str]] = {
    "零": "0",
    "〇": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "拐": "7",
    "八": "8",
    "九": "9",
    "勾": "9",
}
EN_DIGITS: Final[dict[str, str]] = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
EN_TEENS: Final[dict[str, str]] = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
EN_TENS: Final[dict[str, str]] = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
EN_REPEATS: Final[dict[str, int]] = {"double": 2, "triple": 3, "treble": 3}
ID_X: Final = "xXＸ叉"  # the check character of a resident ID (叉 as Mandarin speakers say it)

_WORD_EDGE_L: Final = r"(?<![A-Za-z])"
_WORD_EDGE_R: Final = r"(?![A-Za-z])"
_ONES: Final = "|".join(sorted(EN_DIGITS, key=len, reverse=True))
_TEENS: Final = "|".join(EN_TEENS)
_TENS: Final = "|".join(EN_TENS)
_REPEAT: Final = "|".join(EN_REPEATS)
_EN_ONES_NO_ZERO: Final = "one|two|three|four|five|six|seven|eight|nine"
# One English unit: "double eight", "thirty-four", "thirty four", "thirty", "twelve", "eight".
EN_UNIT: Final = (
    rf"{_WORD_EDGE_L}(?i:(?:(?:{_REPEAT})[ \-]?(?:{_ONES}))"
    rf"|(?:(?:{_TENS})(?:[ \-](?:{_EN_ONES_NO_ZERO}))?)"
    rf"|(?:{_TEENS})|(?:{_ONES})){_WORD_EDGE_R}"
)
# One character standing for one digit: Arabic, full-width or another script's, or Mandarin.
CHAR_UNIT: Final = rf"[\d{''.join(ZH_DIGITS)}]"
UNIT: Final = rf"(?:{CHAR_UNIT}|{EN_UNIT})"
_UNIT_RE: Final = re.compile(UNIT)
_SPLIT_WORDS: Final = re.compile(r"[ \-]+")


def unit_digits(unit: str) -> str:
    """The ASCII digits one unit stands for: '幺' -> '1', 'double eight' -> '88',
    'thirty-four' -> '34', 'thirty' -> '30', 'X' -> 'X'."""
    if len(unit) == 1 and unit.lower() != "o":
        if unit in ZH_DIGITS:
            return ZH_DIGITS[unit]
        if unit in ID_X:
            return "X"
        return str(unicodedata.decimal(unit))
    words = _SPLIT_WORDS.split(unit.lower())
    if words[0] in EN_REPEATS:
        return EN_DIGITS[words[1]] * EN_REPEATS[words[0]]
    if words[0] in EN_TENS:
        return EN_TENS[words[0]] + (EN_DIGITS[words[1]] if len(words) > 1 else "0")
    if words[0] in EN_TEENS:
        return EN_TEENS[words[0]]
    return EN_DIGITS[words[0]]


def units_in(run: str) -> list[tuple[int, int, str]]:
    """Every unit of a run as (start, end, digits), in order; the run's ID check character
    (a trailing X) counts as one unit."""
    out = [(m.start(), m.end(), unit_digits(m.group())) for m in _UNIT_RE.finditer(run)]
    last = out[-1][1] if out else 0
    tail = run[last:].strip(" -,，、")
    if len(tail) == 1 and tail in ID_X:
        at = run.rindex(tail)
        out.append((at, at + 1, "X"))
    return out


def spoken_digits(text: str) -> str:
    """Every digit a text says, in any of the forms above, as one ASCII string: what a
    privacy check compares against an identifier, however it was said."""
    return "".join(unit_digits(m.group()) for m in _UNIT_RE.finditer(text))
