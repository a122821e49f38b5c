"""Appointment numbers as customers say, type or scan them: "预约号A1234567", "三三五八一二".

Pure text functions for the dialogue: is this turn about an appointment already booked, which
appointment number does it carry, does an answer match the booking's hint. Speech recognition
writes digits as Chinese characters (幺 for 1 in numbers read out), splits them with spaces,
or spells them in English words; all of those become the printed form.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from intents.guardrails.masking import SPOKEN_DIGITS

# "I have an appointment" / "我预约了", not "do I need an appointment" / "我想预约".
_CUE: Final = re.compile(
    r"预约(?:了|过|好了|的号|号|码|编号|单)|已(?:经)?预约|有(?:个|一个)?预约|约好了|我约了|签到"
    r"|\b(?:i|we)(?:'ve|'d| have| had)?\s+(?:got\s+|made\s+|booked\s+)?(?:an?\s+)?"
    r"(?:appointment|booking|reservation)\b"
    r"|\b(?:i|we)(?:'ve| have)?\s+booked\b|\bcheck(?:ing)?[\s-]?in\b"
    r"|\b(?:appointment|booking|reservation)\s+(?:number|code|reference|no\.?)",
    re.IGNORECASE,
)
_NO_NUMBER: Final = re.compile(
    r"没有|没带|不记得|记不(?:得|清)|忘(?:了|记)|不知道|找不到|没收到"
    r"|\b(?:don'?t|do not|didn'?t)\s+(?:have|know|remember|get)\b|\bforg[oe]t\b|\bno idea\b"
    r"|\bcan'?t (?:find|remember)\b|\bno (?:number|code)\b",
    re.IGNORECASE,
)
_EN_DIGITS: Final = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())
} | {"oh": "0"}
_EN_DIGIT_WORD: Final = re.compile(r"\b(?:" + "|".join(_EN_DIGITS) + r")\b", re.IGNORECASE)
_DIGIT_CHARS: Final = "0-9" + "".join(SPOKEN_DIGITS)
# Up to two letters, then digits; spaces or dashes inside are how people read numbers out.
_RUN: Final = re.compile(
    rf"(?<![A-Za-z0-9])(?P<run>(?:[A-Za-z]{{1,2}}|[A-Za-z][ \-])?[{_DIGIT_CHARS}]"
    rf"(?:[ \-]{{0,2}}[{_DIGIT_CHARS}])*)"
    rf"(?![A-Za-z0-9])"
)
_AMOUNT_AFTER: Final = re.compile(
    r"\s*(?:元|块|万|千|百|美元|港币|欧元|yuan|rmb|dollars?|euros?|kuai)", re.IGNORECASE
)
_DATE_LIKE: Final = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_FORM: Final = re.compile(r"[A-Z]{0,2}[0-9]{4,}")


def has_appointment_cue(text: str) -> bool:
    """The customer says they already booked ("我预约了", "I have an appointment")."""
    return bool(_CUE.search(text))


def says_no_number(text: str) -> bool:
    """'我没有预约号' / 'I don't have the number': stop asking for it."""
    return bool(_NO_NUMBER.search(text))


def beyond_no_number(text: str) -> bool:
    """'没有，我要开户' says more than 'no number'; '没有' / '我不记得预约号了' does not."""
    rest = _NO_NUMBER.sub(" ", text)
    rest = re.sub(
        r"预约号?|号码|编号|预约码|appointment|booking|number|the|it|[我了的呀啊吧呢嗯]"
        r"|\b(?:i|sorry|um|uh)\b|[\s\W_]+",
        "",
        rest,
        flags=re.IGNORECASE,
    )
    return len(rest) >= 2


def normalize_number(raw: str) -> str:
    """'a 1 2 3-4' -> 'A1234'; Chinese and full-width digits become ASCII."""
    out = []
    for ch in unicodedata.normalize("NFKC", raw):
        if ch in SPOKEN_DIGITS:
            out.append(SPOKEN_DIGITS[ch])
        elif ch.isascii() and ch.isalnum():
            out.append(ch.upper())
    return "".join(out)


def is_appointment_number(value: str, min_chars: int, max_chars: int) -> bool:
    """The printed form: up to two capital letters then digits, min_chars..max_chars long."""
    return bool(_FORM.fullmatch(value)) and min_chars <= len(value) <= max_chars


def _spell_en_digits(text: str) -> str:
    """'three three five' -> '3 3 5' (only whole words; 'one' alone stays too short to match)."""
    return _EN_DIGIT_WORD.sub(lambda m: _EN_DIGITS[m.group().lower()], text)


def spell_en_digits(text: str) -> str:
    """Digits spelt in English words as digits ("one three eight" -> "1 3 8"), for forms too."""
    return _spell_en_digits(text)


def find_appointment_number(text: str, min_chars: int, max_chars: int) -> str | None:
    """The first run in the text that has an appointment number's form (amounts and dates excluded)."""
    s = _spell_en_digits(unicodedata.normalize("NFKC", text))
    for m in _RUN.finditer(s):
        run = m.group("run").strip(" -")
        if _AMOUNT_AFTER.match(s, m.end()) or _DATE_LIKE.search(run):
            continue
        value = normalize_number(run)
        if is_appointment_number(value, min_chars, max_chars):
            return value
    return None


def is_bare_number(text: str, min_chars: int, max_chars: int) -> str | None:
    """A turn that is nothing but an appointment number (typed, or sent by the kiosk's scanner)."""
    s = re.sub(r"[\s\-。.,，!！]", "", unicodedata.normalize("NFKC", text))
    if not s or not re.fullmatch(rf"[A-Za-z]{{0,2}}[{_DIGIT_CHARS}]+", s):
        return None
    value = normalize_number(s)
    return value if is_appointment_number(value, min_chars, max_chars) else None


def hint_matches(answer: str, hint: str) -> bool:
    """The customer's answer confirms the booking's hint ("王 1234": the digits, else the name)."""
    hint_digits = normalize_number(re.sub(r"\D", "", unicodedata.normalize("NFKC", hint)))
    if hint_digits:
        said = "".join(
            SPOKEN_DIGITS.get(ch, ch)
            for ch in unicodedata.normalize("NFKC", answer)
            if ch.isdigit() or ch in SPOKEN_DIGITS
        )
        return len(said) >= len(hint_digits) and said.endswith(hint_digits)
    name = re.sub(r"[\d\s*|/_\-]+", "", hint).lower()
    return bool(name) and name in answer.lower()


def mask_numbers(text: str, min_chars: int = 6) -> str:
    """Logs keep only the last two characters of a code as long as an appointment number."""

    def hide(m: re.Match[str]) -> str:
        run = m.group()
        marks = [i for i, ch in enumerate(run) if ch.isalnum() or ch in SPOKEN_DIGITS]
        if len(marks) < min_chars:
            return run
        hidden = set(marks[:-2])
        return "".join("*" if i in hidden else ch for i, ch in enumerate(run))

    return _RUN.sub(hide, _spell_en_digits(text))
