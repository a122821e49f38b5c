"""A scanner for identifiers left whole, independent of the masking code it checks.

It reads digits however they were written (Arabic, full-width, Mandarin, English words,
double/triple, split by spaces, dashes or commas) and reports an identifier found when any
window of `WINDOW` consecutive digits of it appears in one run: a masked mobile (139****6813)
or card keeps at most 7 or 4 of its digits in a row, so a window of 8 means it leaked.
Names are searched as they are written.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

WINDOW = 8
_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
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
_CHARS = dict(zip("零〇洞一幺二两三四五六七拐八九勾", "0001122345677899", strict=True))
_TOKEN = re.compile(r"[A-Za-z]+|\S", re.UNICODE)
_REPEAT = {"double": 2, "triple": 3}


def digit_runs(text: str) -> list[str]:
    """Every run of digits the text says, separators (space - , ，) not breaking a run."""
    runs, current, repeat = [], "", 1
    for tok in _TOKEN.findall(text):
        low = tok.lower()
        if low in _REPEAT:
            repeat = _REPEAT[low]
            continue
        digit = _WORDS.get(low) or _CHARS.get(tok)
        if digit is None and len(tok) == 1 and tok.isdecimal():
            digit = str(int(tok))
        if digit is None and tok in "xX叉" and current:
            digit = "X"
        if digit is not None:
            current += digit * repeat
        elif tok not in "-,，、":
            if current:
                runs.append(current)
            current = ""
        repeat = 1
    if current:
        runs.append(current)
    return runs


def leaks(text: str, identifiers: Iterable[str], names: Iterable[str] = ()) -> list[str]:
    """The identifiers and names this text carries whole (an empty list when it is clean)."""
    runs = digit_runs(text)
    found = []
    for ident in identifiers:
        windows = {ident[i : i + WINDOW] for i in range(len(ident) - WINDOW + 1)}
        if any(w in run for run in runs for w in windows):
            found.append(ident)
    found += [n for n in names if n in text]
    return found


def _flatten(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
        try:
            inner = json.loads(value)
        except ValueError:
            return
        if not isinstance(inner, str):
            yield from _flatten(inner)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _flatten(v)
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v)


def database_texts(db: Path) -> list[str]:
    """Every text value of every table (JSON decoded, so escaped characters are read too),
    and the raw bytes of the database, its WAL and shared-memory files (free pages too)."""
    texts = [
        p.read_bytes().decode("utf-8", "ignore")
        for p in db.parent.glob(db.name + "*")
        if p.is_file()
    ]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM [{table}]"):
                texts += [t for v in row if isinstance(v, str) for t in _flatten(v)]
    finally:
        conn.close()
    return texts
