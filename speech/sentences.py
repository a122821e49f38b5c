"""Split a reply into short sentences so TTS can play the first while synthesising the rest.

sentencex finds sentence ends in English and Chinese (abbreviations such as "Mr." included); a
small regex adds full-width ends it may keep together (；, …, a stop before a closing quote).
Sentences longer than a budget are cut at clause punctuation, then at spaces, then hard, so
elderly mode can ask for short chunks. Length is counted in "width": a CJK character counts 2,
anything else 1, so one budget suits both languages (one hanzi is about one spoken syllable).
"""

from __future__ import annotations

import re

from sentencex import segment

_FULL_WIDTH_END = re.compile(r"(?<=[。！？；…!?])(?![。！？；…!?”’」』）)\"'])")
_CLAUSE_END = re.compile(r"(?<=[，、,;；：:—])")
_SPEAKABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def width(text: str) -> int:
    """Display-like length: CJK characters count 2, everything else 1."""
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\uffef" else 1 for ch in text)


def _pack(pieces: list[str], max_width: int) -> list[str]:
    """Greedily join consecutive pieces while the result stays within max_width."""
    out: list[str] = []
    for piece in pieces:
        if out and width(out[-1]) + width(piece) <= max_width:
            out[-1] += piece
        else:
            out.append(piece)
    return out


def _hard_cut(text: str, max_width: int) -> list[str]:
    """Cut a clause with no punctuation: at spaces if it has words, else every few characters."""
    if " " in text.strip():
        words = re.findall(r"\S+\s*", text)
        return _pack(words, max_width)
    pieces: list[str] = []
    current = ""
    for ch in text:
        if current and width(current + ch) > max_width:
            pieces.append(current)
            current = ""
        current += ch
    return [*pieces, current] if current else pieces


def _shorten(sentence: str, max_width: int) -> list[str]:
    if width(sentence) <= max_width:
        return [sentence]
    clauses: list[str] = []
    for clause in _CLAUSE_END.split(sentence):
        if width(clause) <= max_width:
            clauses.append(clause)
        else:
            clauses.extend(_hard_cut(clause, max_width))
    return _pack([c for c in clauses if c], max_width)


def split_sentences(text: str, language: str, max_width: int = 80) -> list[str]:
    """Sentences of text, each within max_width where it can be cut, in reading order."""
    lang = "zh" if language.startswith("zh") else "en"
    out: list[str] = []
    for sentence in segment(lang, text):
        for part in _FULL_WIDTH_END.split(sentence):
            for short in _shorten(part, max_width):
                short = short.strip()
                if _SPEAKABLE.search(short):
                    out.append(short)
                elif out and short:
                    out[-1] += short  # lone punctuation or a closing quote joins its sentence
    return out


def split_first_clause(sentences: list[str], max_width: int) -> list[str]:
    """Cut a wide first sentence after its leading clauses, so the first audio starts sooner."""
    if not sentences or width(sentences[0]) <= max_width:
        return sentences
    head = ""
    clauses = [c for c in _CLAUSE_END.split(sentences[0]) if c]
    for clause in clauses[:-1]:
        if width(head + clause) > max_width:
            break
        head += clause
    if not head.strip():
        return sentences
    return [head.strip(), sentences[0][len(head) :].strip(), *sentences[1:]]
