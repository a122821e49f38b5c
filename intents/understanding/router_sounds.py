"""What a Mandarin turn sounds like: toneless, accent-folded pinyin for homophone tolerance.

Whisper's Mandarin mistakes are mostly the right sounds with the wrong characters (贷→待,
汇→会, 盗刷→刀刷); many customers also merge zh/z, ch/c, sh/s, n/l and -ng/-n. Folding those
pairs (the "fuzzy pinyin" of Chinese input methods) makes such near-homophones one token, so
the router's pinyin features and the banking-sound lexicon see through them. Pure functions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

_CJK_RUN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# initials and finals that accents and noisy recognition merge, folded to one spelling
_INITIALS: Final = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("r", "l"), ("h", "f"))
_FINALS: Final = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"))


@lru_cache(maxsize=1)
def _pinyin() -> Callable[[str], list[str]] | None:
    """Load pypinyin once (a declared dependency); None keeps the router working without it."""
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:  # pragma: no cover - pypinyin is a declared dependency
        return None
    return lambda run: lazy_pinyin(run, style=Style.NORMAL, errors="ignore")


@lru_cache(maxsize=4096)
def fold(syllable: str) -> str:
    """One spelling for the syllables an accent or a noisy transcript confuses (shi -> si)."""
    s = syllable
    for long, short in _INITIALS:
        if s.startswith(long) and len(s) > len(long):
            s = short + s[len(long) :]
            break
    for long, short in _FINALS:
        if s.endswith(long):
            s = s[: -len(long)] + short
            break
    return s


def runs(text: str) -> list[str]:
    """The Chinese character runs of a normalised text."""
    return _CJK_RUN.findall(text)


def syllables(run: str, folded: bool = False) -> list[str]:
    """Toneless pinyin of one Chinese run, one syllable per character (folded on request)."""
    to_pinyin = _pinyin()
    if to_pinyin is None:
        return []
    syl = to_pinyin(run)
    return [fold(s) for s in syl] if folded else syl


@dataclass(frozen=True, slots=True)
class SoundHit:
    """A banking word heard in a turn: which word, for which intent, as which characters."""

    intent: str
    word: str
    heard: str


class SoundLexicon:
    """Banking words by their folded sound, to notice them under the wrong characters."""

    def __init__(self, words: Iterable[tuple[str, str]]) -> None:
        self._by_sound: dict[tuple[str, ...], tuple[str, str]] = {}
        for intent, word in words:
            if not _CJK_RUN.fullmatch(word) or len(word) < 2:
                continue  # one syllable matches too much by chance
            key = tuple(syllables(word, folded=True))
            if key and key not in self._by_sound:
                self._by_sound[key] = (intent, word)
        self._lengths = sorted({len(k) for k in self._by_sound}, reverse=True)

    def __len__(self) -> int:
        return len(self._by_sound)

    def hits(self, text: str) -> list[SoundHit]:
        """Every lexicon word whose sound occurs in the text, longest first, left to right."""
        found: list[SoundHit] = []
        for run in runs(text):
            syl = syllables(run, folded=True)
            for n in self._lengths:
                for i in range(len(syl) - n + 1):
                    entry = self._by_sound.get(tuple(syl[i : i + n]))
                    if entry is not None:
                        found.append(SoundHit(entry[0], entry[1], run[i : i + n]))
        return found

    def intents(self, text: str) -> list[str]:
        """The intents whose words are heard, in order of first hit, without repeats."""
        return list(dict.fromkeys(h.intent for h in self.hits(text)))


def sound_features(text: str, folded: bool) -> list[str]:
    """Toneless (or folded) pinyin syllables and syllable pairs of each Chinese run."""
    feats: list[str] = []
    for run in runs(text):
        syl = syllables(run, folded)
        feats.extend("p" + s for s in syl)
        feats.extend(f"q{a} {b}" for a, b in itertools.pairwise(syl))
    return feats


def banking_words(keywords: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(intent, word) pairs from a keyword table, Chinese words only."""
    return [(i, w) for i, ws in keywords.items() for w in ws if _CJK_RUN.fullmatch(w)]
