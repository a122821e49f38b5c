"""Whisper's character confusions, learned from (reference, heard) pairs, and ASR-like copies.

intents/data/heard_train.tsv holds training rows read by synthetic voices and transcribed by
the service's Whisper (bench/heard_train.py). Aligning each reference with what was heard
(character Levenshtein, Chinese characters only) counts substitutions, deletions and
insertions. Substitutions are kept per character (贷 -> 待) and per toneless syllable (dai ->
待, 带, ...), so a character never seen in the pairs still gets its sound's usual mishearings.
`asr_copy` then rewrites any Mandarin row as Whisper might hear it, seeded by its text: this
scales the few hundred transcribed rows to the whole training set. Pure functions.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from intents.understanding.router_sounds import syllables

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SMOOTH: Final = 5.0
"""Pseudo-count pulling a character's own error rate toward the global rate."""


def _chars(text: str) -> str:
    """The Chinese characters of a text: the alignment ignores punctuation, Latin and digits."""
    return "".join(_CJK.findall(text))


def align(ref: str, hyp: str) -> list[tuple[str, str]]:
    """Levenshtein alignment as (ref char, heard char) pairs; '' marks an insertion/deletion."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
                cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]),
            )
    out: list[tuple[str, str]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            out.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            out.append((ref[i - 1], ""))
            i -= 1
        else:
            out.append(("", hyp[j - 1]))
            j -= 1
    return out[::-1]


@dataclass
class Confusions:
    """Counts from aligned pairs; `rates` are per reference character."""

    seen: Counter[str] = field(default_factory=Counter)  # reference characters
    wrong: Counter[str] = field(default_factory=Counter)  # ... substituted or deleted
    by_char: dict[str, Counter[str]] = field(default_factory=dict)  # ref char -> heard chars
    by_sound: dict[str, Counter[str]] = field(default_factory=dict)  # toneless syl -> heard
    inserted: Counter[str] = field(default_factory=Counter)
    subs: int = 0
    dels: int = 0
    ins: int = 0
    pairs: int = 0

    @property
    def total(self) -> int:
        return sum(self.seen.values())

    def rates(self) -> dict[str, float]:
        """Substitution, deletion and insertion rates per reference character."""
        n = self.total or 1
        return {"sub": self.subs / n, "del": self.dels / n, "ins": self.ins / n}

    def top(self, k: int = 20) -> list[tuple[str, str, int]]:
        """The commonest (reference, heard) character substitutions."""
        flat = [(r, h, c) for r, hs in self.by_char.items() for h, c in hs.items()]
        return sorted(flat, key=lambda x: -x[2])[:k]


def learn(pairs: Iterable[tuple[str, str]]) -> Confusions:
    """Count Whisper's confusions over (reference, heard) pairs (empty transcripts skipped)."""
    conf = Confusions()
    for ref, heard in pairs:
        r, h = _chars(ref), _chars(heard)
        if not r or not h:
            continue
        conf.pairs += 1
        for a, b in align(r, h):
            if not a:
                conf.ins += 1
                conf.inserted[b] += 1
                continue
            conf.seen[a] += 1
            if a == b:
                continue
            conf.wrong[a] += 1
            if not b:
                conf.dels += 1
                continue
            conf.subs += 1
            conf.by_char.setdefault(a, Counter())[b] += 1
            syl = syllables(a)
            if syl:
                conf.by_sound.setdefault(syl[0], Counter())[b] += 1
    return conf


def _draw(rng: random.Random, counts: Counter[str], avoid: str) -> str | None:
    items = [(k, v) for k, v in counts.items() if k != avoid]
    if not items:
        return None
    return rng.choices([k for k, _ in items], weights=[v for _, v in items])[0]


def asr_copy(text: str, conf: Confusions, strength: float = 1.0, salt: str = "") -> str:
    """The text as Whisper might hear it: each Chinese character is misheard at its learned
    rate (times `strength`), as a character Whisper heard for it or for its sound, or dropped;
    characters are inserted at the learned rate. Seeded by the text, so always the same copy."""
    if not conf.total:
        return text
    rng = random.Random(int.from_bytes(hashlib.sha256(f"asr{salt}\0{text}".encode()).digest()[:8]))
    rates = conf.rates()
    p_global = rates["sub"] + rates["del"]
    del_share = rates["del"] / p_global if p_global else 0.0
    out: list[str] = []
    for ch in text:
        if not _CJK.match(ch):
            out.append(ch)
            continue
        p = (conf.wrong[ch] + _SMOOTH * p_global) / (conf.seen[ch] + _SMOOTH)
        if rng.random() < min(0.9, p * strength):
            if rng.random() < del_share:
                continue
            syl = syllables(ch)
            heard = _draw(rng, conf.by_char.get(ch, Counter()), ch)
            if heard is None and syl:
                heard = _draw(rng, conf.by_sound.get(syl[0], Counter()), ch)
            out.append(heard or ch)
        else:
            out.append(ch)
        if conf.inserted and rng.random() < rates["ins"] * strength:
            out.append(_draw(rng, conf.inserted, "") or "")
    return "".join(out)
