"""Semantic end of turn, the words' half: does a transcript read finished, or trail off?

Pure text rules (no models): a turn that ends on a filler, a dangling connective or an
ellipsis ("我想……那个……", "I want to, um,") is still going, whatever the pause; one that ends
on final punctuation or a sentence-final particle reads finished. Whether a finished sentence
is also a complete request (it routes with confidence) is the caller's question: the speech
package never imports the router, the voice turn passes its answer in.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final


class TurnHint(Enum):
    """What the words say about the silence that follows them."""

    COMPLETE = "complete"  # a finished, confidently understood request: end on a short pause
    OPEN = "open"  # nothing either way: the normal pause
    TRAILING = "trailing"  # the customer is still finding words: wait longer


# Fillers and connectives that leave a sentence hanging when they are its last word. The
# strong ones hang even with Whisper's full stop after them (it punctuates most pauses); the
# weak ones only without final punctuation, and no word hangs before a question mark
# ("What is this fee for?").
_ZH_STRONG: Final = (
    "嗯", "呃", "那个", "这个", "就是", "然后", "而且", "或者", "因为", "所以", "但是", "可是",
    "如果", "我想", "我要", "就是说", "怎么说", "的话", "比如",
)
_ZH_WEAK: Final = ("那", "想", "要", "我", "和", "跟", "还是", "还有", "帮我", "给我", "对了")
_EN_STRONG: Final = frozenset({
    "um", "uh", "er", "erm", "hmm", "uhm", "to", "the", "a", "an", "my", "your", "and", "or",
    "but", "because",
})
_EN_WEAK: Final = frozenset({
    "like", "so", "of", "for", "with", "i", "want", "need", "would", "could", "can", "is",
    "if", "then", "also", "about", "some", "that", "this", "mean", "well", "actually",
    "basically", "just",
})
_ELLIPSIS: Final = re.compile(r"(\.\.\.|…|⋯|——|--|-)\s*$")
_DANGLING_PUNCT: Final = re.compile(r"[,，、;；:：]\s*$")
_FINAL_PUNCT: Final = re.compile(r"[.。!！?？]\s*$")
_QUESTION: Final = re.compile(r"[?？]\s*$")
_ZH_FINAL_PARTICLE: Final = re.compile(r"[吧吗嘛呢了啦呀哦]\s*$")
_TRAILING_SPACE_PUNCT: Final = re.compile(r"[\s.。!！?？,，、;；:：…⋯\-—\"'“”‘’]+$")
_EN_WORD: Final = re.compile(r"[A-Za-z']+")


def text_hint(text: str, language: str) -> TurnHint:
    """TRAILING when the words hang, OPEN otherwise (`finished` says whether they end well)."""
    t = text.strip()
    if not t:
        return TurnHint.OPEN
    if _ELLIPSIS.search(t) or _DANGLING_PUNCT.search(t):
        return TurnHint.TRAILING
    bare = _TRAILING_SPACE_PUNCT.sub("", t)
    if not bare:
        return TurnHint.OPEN
    if _QUESTION.search(t):
        return TurnHint.OPEN
    final = bool(_FINAL_PUNCT.search(t))
    if bare[-1].isascii():
        words = _EN_WORD.findall(bare.lower())
        last = words[-1] if words else ""
        if last in _EN_STRONG or (not final and last in _EN_WEAK):
            return TurnHint.TRAILING
        return TurnHint.OPEN
    if bare.endswith(_ZH_STRONG) or (not final and bare.endswith(_ZH_WEAK)):
        return TurnHint.TRAILING
    return TurnHint.OPEN


_ZH_OPENERS: Final = ("我想要", "我想", "我要", "我需要", "我得", "请帮我", "帮我", "麻烦你",
                      "麻烦", "我是来", "我来", "我打算", "请问")
_EN_OPENERS: Final = ("i want", "i'd like", "i would like", "i need", "can i", "could i",
                      "can you", "could you", "i'm here to", "i am here to", "i have to")
_ZH_PAUSES: Final = re.compile(r"[\s,，、.。!！?？…]+")  # what Whisper puts inside "我想，那个"
OPENER_REST_ZH: Final = 4  # characters after a Mandarin opener that may still be no request
OPENER_REST_EN: Final = 2  # words after an English opener


def opens_request(text: str, language: str) -> bool:
    """The words open a request and say little after it ("我想纳克恩": Whisper's reading of
    "我想，那个，"; "I want, uh"). When routing does not understand the rest with confidence,
    the customer is most likely still finding words, and the pause is read as trailing."""
    bare = _TRAILING_SPACE_PUNCT.sub("", text.strip()).lower()
    if not bare:
        return False
    if bare[0].isascii():
        words = _EN_WORD.findall(bare)
        joined = " ".join(words)
        for opener in _EN_OPENERS:
            if joined == opener or joined.startswith(opener + " "):
                return len(words) - len(opener.split()) <= OPENER_REST_EN
        return False
    squeezed = _ZH_PAUSES.sub("", bare)
    for opener in _ZH_OPENERS:
        if squeezed.startswith(opener):
            return len(squeezed) - len(opener) <= OPENER_REST_ZH
    return False


def finished(text: str, language: str) -> bool:
    """The sentence ends as sentences end: final punctuation or a final particle, no hanging."""
    t = text.strip()
    if not t or text_hint(t, language) is TurnHint.TRAILING:
        return False
    return bool(_FINAL_PUNCT.search(t) or _ZH_FINAL_PARTICLE.search(t))


def judge(text: str, language: str, understood: bool) -> TurnHint:
    """The hint for a speculative transcript: COMPLETE needs finished words that the caller
    understood with confidence (`understood`); trailing words wait longer either way."""
    hint = text_hint(text, language)
    if hint is TurnHint.TRAILING:
        return hint
    return TurnHint.COMPLETE if understood and finished(text, language) else TurnHint.OPEN
