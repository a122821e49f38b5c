"""Small text helpers shared by the slot parsers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

ZD: Final = "零〇一二两三四五六七八九"  # Chinese digits an amount may use (幺 is for phone digits)


def alternation(words: Iterable[str]) -> str:
    """Longest first, so 美元 wins over 元 and 'hong kong dollars' over 'dollars'."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def blank(s: str, start: int, end: int) -> str:
    """Replace a span by spaces, keeping every other index where it was."""
    return s[:start] + " " * (end - start) + s[end:]
