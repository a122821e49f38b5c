"""Transcript clean-up and scoring normalisation: pure text functions for STT and benchmarks."""

from __future__ import annotations

import re
import unicodedata
import warnings
from functools import lru_cache

import cn2an
import opencc

SILENCE_HALLUCINATIONS: tuple[str, ...] = (
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发",
    "点赞订阅转发打赏",
    "明镜与点点栏目",
    "谢谢观看",
    "谢谢大家观看",
    "感谢观看",
    "谢谢收看",
    "欢迎订阅",
    "订阅我的频道",
    "字幕由amara.org社区提供",
    "字幕志愿者",
    "中文字幕",
    "本字幕由",
    "优优独播剧场",
    "yoyotelevisionseriesexclusive",
    "thanksforwatching",
    "thankyouforwatching",
    "pleasesubscribe",
    "subscribetomychannel",
    "likeandsubscribe",
    "subtitlesbytheamaraorgcommunity",
)
"""Phrases Whisper writes over silence or noise (compared without spaces, punctuation, case)."""

_BACKCHANNEL_ZH: frozenset[str] = frozenset(
    "嗯 嗯嗯 恩 嗯哼 哦 噢 喔 啊 呃 对 对对 对的 好 好的 好好 行 是 是的 没错 明白 知道了".split()
)
_BACKCHANNEL_EN: frozenset[str] = frozenset(
    (
        "ok|okay|mm|mmm|mhm|hmm|uh huh|yeah|yep|yes|right|sure|i see|got it|"
        "alright|all right|uh|um|oh|ah"
    ).split("|")
)

_DIGIT_RANGE = re.compile(r"(?<=\d)[-–—~](?=\d)")
_SPELLED_DIGITS = re.compile(r"(?<![\d.])(?:0\d+|\d{7,})(?![\d.])")
"""Numbers people say digit by digit: leading zeros (ticket 023) and phone or ID numbers."""
_ZH_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
_REPEAT = re.compile(r"(.{1,30}?)\1{3,}", re.DOTALL)
_WS = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Whisper base often writes Traditional characters; the product shows Simplified."""
    return str(_t2s().convert(text))


def _is_punct_or_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZ"


def strip_punct(text: str) -> str:
    """Remove punctuation, symbols and whitespace (both ASCII and full-width)."""
    return "".join(ch for ch in text if not _is_punct_or_space(ch))


def _key(text: str) -> str:
    return strip_punct(unicodedata.normalize("NFKC", text)).lower()


def is_hallucination(text: str) -> bool:
    """True when the text is nothing but known silence phrases (e.g. 谢谢观看, 请不吝点赞)."""
    rest = to_simplified(_key(text))
    if not rest:
        return False
    for phrase in sorted((_key(p) for p in SILENCE_HALLUCINATIONS), key=len, reverse=True):
        rest = rest.replace(phrase, "")
    return not rest


def collapse_repetitions(text: str) -> str:
    """Cut decoder loops ("我我我我我我", "the the the the") to one copy; digits are kept."""

    def keep_one(match: re.Match[str]) -> str:
        unit = match.group(1)
        if len(match.group(0)) < 6 or not strip_punct(unit) or any(ch.isdigit() for ch in unit):
            return match.group(0)
        return unit

    return _REPEAT.sub(keep_one, text)


_SENTENCE = re.compile(r"[^。！？!?.；;]+[。！？!?.；;]*|[。！？!?.；;]+")
# A whole turn that is one phrase said again and again with no stop between ("我想换美元我想换美元").
_LOOPED_TURN = re.compile(r"^(.{4,}?)(?:[\s，,、]*\1)+[\s。.！!？?]*$", re.DOTALL)


def collapse_repeated_sentences(text: str) -> str:
    """Keep one copy of a sentence Whisper repeated ("我想换美元。我想换美元。我想换美元。");
    a sentence with digits in it is kept as said (an amount or number read back twice)."""
    kept: list[str] = []
    last = ""
    for sentence in _SENTENCE.findall(text):
        key = _key(sentence)
        if key and key == last and not any(ch.isdigit() for ch in key):
            continue
        kept.append(sentence)
        last = key or last
    out = "".join(kept)
    looped = _LOOPED_TURN.match(out.strip())
    if looped is not None and not any(ch.isdigit() for ch in looped.group(1)):
        return looped.group(1)
    return out


def clean_transcript(text: str, language: str, prompt: str | None = None) -> str:
    """What the dialogue sees: Simplified for zh, loops collapsed, silence phrases dropped.

    Whisper sometimes echoes its initial prompt over silence; that echo is dropped too.
    """
    out = _WS.sub(" ", text).strip()
    if language == "zh":
        out = to_simplified(out)
    out = collapse_repeated_sentences(collapse_repetitions(out)).strip()
    if prompt and _key(out) == to_simplified(_key(prompt)):
        return ""
    return "" if is_hallucination(out) else out


def is_backchannel(text: str, language: str) -> bool:
    """True for acknowledgements only ("嗯", "对", "好的", "ok", "mm"): no request in them.

    Whether to ignore one is the session's call: over the system's speech it is a backchannel,
    after a yes/no question it is the answer.
    """
    if language == "zh":
        rest = to_simplified(_key(text))
        if not rest:
            return False
        words = sorted(_BACKCHANNEL_ZH, key=len, reverse=True)
        while rest:
            word = next((w for w in words if rest.startswith(w)), None)
            if word is None:
                return False
            rest = rest[len(word) :]
        return True
    parts = [p for p in re.split(r"[^\w']+", unicodedata.normalize("NFKC", text).lower()) if p]
    if not parts:
        return False
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and f"{parts[i]} {parts[i + 1]}" in _BACKCHANNEL_EN:
            i += 2
        elif parts[i] in _BACKCHANNEL_EN:
            i += 1
        else:
            return False
    return True


def normalize_for_scoring(text: str, language: str) -> str:
    """Reference and hypothesis go through this before CER/WER, so styles do not count as errors."""
    text = unicodedata.normalize("NFKC", text)
    if language == "zh":
        text = to_simplified(text)
        text = _DIGIT_RANGE.sub(" ", text)
        text = _SPELLED_DIGITS.sub(lambda m: m.group(0).translate(_ZH_DIGITS), text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = str(cn2an.transform(text, "an2cn"))
        return strip_punct(text).lower()
    words = re.split(r"[^\w']+", text.lower())
    return " ".join(w.strip("'") for w in words if w.strip("'"))


def cer(reference: str, hypothesis: str, language: str = "zh") -> float:
    """Character error rate after `normalize_for_scoring` (Mandarin's usual metric)."""
    import jiwer

    ref = normalize_for_scoring(reference, language).replace(" ", "")
    hyp = normalize_for_scoring(hypothesis, language).replace(" ", "")
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.cer(ref, hyp if hyp else ""))


def wer(reference: str, hypothesis: str, language: str = "en") -> float:
    """Word error rate after `normalize_for_scoring` (English's usual metric)."""
    import jiwer

    ref = normalize_for_scoring(reference, language)
    hyp = normalize_for_scoring(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp))
