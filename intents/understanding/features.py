"""Text normalisation and n-gram features shared by router training and numpy inference."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Final

from intents.understanding.router_sounds import sound_features

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD: Final = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK_RUN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_SPACES: Final = re.compile(r"\s+")

DEFAULT_MAX_CHARS: Final = 256


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str]:
    """Load OpenCC once: customers and Whisper both write Traditional characters."""
    try:
        import opencc
    except ImportError:  # pragma: no cover - opencc is a declared dependency
        return lambda s: s
    converter = opencc.OpenCC("t2s")
    return converter.convert


@lru_cache(maxsize=1)
def _segmenter() -> Callable[[str], list[str]] | None:
    """Load rjieba once; without it Chinese falls back to character n-grams only."""
    try:
        import rjieba
    except ImportError:  # pragma: no cover - rjieba is a declared dependency
        return None
    return rjieba.cut


def normalise(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Map full-width to half-width, Traditional to Simplified, drop controls, lowercase."""
    text = text[: max_chars * 2]  # bound the work before any pass over the text
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text).strip().lower()
    text = text[:max_chars]
    if _CJK.search(text):
        text = _t2s()(text)
    return text


def detect_language(text: str) -> str:
    """Say zh when Chinese characters carry the text, en otherwise (kiosk languages only)."""
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text.lower()))
    return "zh" if cjk > 0 and cjk * 2 >= latin * 0.5 else "en"


def has_content(normalised: str) -> bool:
    """True when the text holds at least one letter, digit or Chinese character."""
    return bool(_CJK.search(normalised) or re.search(r"[a-z0-9]", normalised))


def words(normalised: str) -> list[str]:
    """Latin words plus jieba words for each Chinese run."""
    out = _LATIN_WORD.findall(normalised)
    cut = _segmenter()
    for run in _CJK_RUN.findall(normalised):
        out.extend(cut(run) if cut is not None else list(run))
    return out


def pinyin_features(normalised: str, mode: int = 1) -> list[str]:
    """Pinyin syllables and pairs of each Chinese run: toneless (mode 1) or accent-folded (2),
    so a homophone slip (挂时 for 挂失, 刀刷 for 盗刷) still meets the word it stands for."""
    return sound_features(normalised, folded=mode >= 2) if mode else []


def features(normalised: str, char_max: int = 5, pinyin: int = 0) -> list[str]:
    """Tagged n-grams: chars within word boundaries, Chinese char runs, words and word pairs."""
    feats: list[str] = []
    for w in _LATIN_WORD.findall(normalised):
        padded = f" {w} "
        n_chars = len(padded)
        for n in range(2, char_max + 1):
            for i in range(n_chars - n + 1):
                feats.append("c" + padded[i : i + n])
    for run in _CJK_RUN.findall(normalised):
        padded = f"^{run}$"
        n_chars = len(padded)
        for n in range(1, 4):
            for i in range(n_chars - n + 1):
                gram = padded[i : i + n]
                if gram not in ("^", "$"):
                    feats.append("z" + gram)
    toks = words(normalised)
    feats.extend("w" + t for t in toks)
    feats.extend(f"b{a} {b}" for a, b in itertools.pairwise(toks))
    if pinyin:
        feats.extend(pinyin_features(normalised, int(pinyin)))
    return feats
