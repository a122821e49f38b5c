"""The customer's mood from their words: upset or confused, or neither. Pure.

Upset: complaints and exasperation ("你们怎么回事", "等了半天", "this is ridiculous").
Confused: the customer says they do not follow ("听不懂", "什么意思", "I don't understand"),
or the kiosk failed to understand them turn after turn. Words about a topic the customer
does not know ("我不懂理财，想咨询一下") or a mild "请问怎么回事" about a card are not moods.
The dialogue turns such a reading into a concerned face, shorter replies and one gentle alert
to the lobby manager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Mood = Literal["calm", "upset", "confused"]

_UPSET: Final = re.compile(
    r"你们(?:这|这个|银行)?(?:是)?怎么回事|(?:搞|弄)什么(?:鬼|名堂)?[啊呀？?!！]|有没有搞错|搞什么"
    r"|什么破|破机器|破银行|太慢了|慢死了|这么慢|等了(?:半天|好久|这么久|一个?多?小时|[一二两三四五六七八九十\d]+个?(?:多)?(?:小时|钟头))"
    r"|气死|烦死|急死|受不了|受够了|太过分|过分了|不像话|岂有此理|离谱|太差|差劲|垃圾|坑人|忽悠"
    r"|凭什么|浪费(?:我的?)?时间|耽误(?:我的?)?(?:时间|事)|什么(?:服务|态度|玩意)|还让不让人|到底(?:行不行|能不能)"
    r"|能不能快点|快点行不行|别(?:跟我)?废话|太坑|我要投诉|投诉你们|没用的东西|笨死"
    r"|\b(?:this|that|it)(?:'s| is) (?:ridiculous|absurd|a joke|unacceptable|outrageous|useless|a "
    r"waste of time)|\bridiculous\b|\bunacceptable\b|\buseless\b|\bpathetic\b|\bterrible\b"
    r"|\bawful\b|\bfed up\b|\bsick (?:and tired )?of\b|\bwaste of (?:my )?time\b|\bstupid\b"
    r"|\bwhat the (?:hell|heck)\b|\bwtf\b|\bare you (?:kidding|serious)\b|\bfurious\b|\bangry\b"
    r"|\bannoyed\b|\bwaited (?:for )?(?:ages|forever|over an hour|an hour|hours)\b"
    r"|\bworst\b|\bnonsense\b|\brubbish\b|\bgarbage\b|\bi want to complain\b"
    r"|\bthis is (?:taking|so) (?:forever|slow)\b|\bnot again\b|\bfor god'?s sake\b",
    re.IGNORECASE,
)
_CONFUSED: Final = re.compile(
    r"听不懂|听不明白|没听懂|没听明白|没听清|听不清|看不懂|看不明白|搞不懂|弄不懂|搞不明白|不明白你|不懂你"
    r"|(?:你|这)(?:说的|说)?(?:是)?什么意思|啥意思|你说(?:的)?(?:是)?什么[？?]|你说啥|糊涂了|晕了|绕晕"
    r"|不知道(?:怎么|该怎么)(?:弄|办|操作|用|按)|太复杂|说慢(?:一)?点|再说一遍|说清楚点"
    r"|\bi (?:do not|don'?t) (?:understand|get it|follow)\b|\bi'?m (?:confused|lost)\b|\bconfus"
    r"|\bwhat do you mean\b(?! by)|\bmakes? no sense\b|\bdoesn'?t make (?:any )?sense\b"
    r"|\bdidn'?t (?:catch|get) (?:that|it|what)\b|\bsay (?:that|it) again\b|\bpardon\b"
    r"|\btoo complicated\b|\bslow down\b|\bsorry,? what\b|\bhuh\b|\bi have no idea what\b",
    re.IGNORECASE,
)
# Words that turn an upset phrase into something else: asking about a complaint procedure,
# or a negated judgement ("不是太慢", "not useless").
_NOT_UPSET: Final = re.compile(
    r"投诉(?:电话|渠道|流程|建议箱|热线)|怎么投诉|在哪(?:里)?投诉|不(?:是|算)(?:太|很)?(?:慢|差)"
    r"|\bnot (?:useless|terrible|awful|ridiculous|bad)\b|\bhow (?:do|can) i complain\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MoodReading:
    """How the customer seems, and why (the words, repeated failed turns, a complaint)."""

    mood: Mood
    reason: Literal["words", "failures", "complaint", "none"] = "none"

    @property
    def needs_care(self) -> bool:
        return self.mood != "calm"


def read_mood(
    text: str, *, failures: int = 0, intent: str | None = None, failures_confused: int = 2
) -> MoodReading:
    """This turn's mood; `failures` is how many turns in a row the kiosk did not understand."""
    if _UPSET.search(text) and not _NOT_UPSET.search(text):
        return MoodReading("upset", "words")
    if _CONFUSED.search(text):
        return MoodReading("confused", "words")
    if intent == "complaint" and not _NOT_UPSET.search(text):
        return MoodReading("upset", "complaint")
    if failures >= failures_confused:
        return MoodReading("confused", "failures")
    return MoodReading("calm")


def brief(text: str, language: str) -> str:
    """A shorter reply for an upset or confused customer: the first sentence and the last
    (the question or the instruction), nothing between."""
    if language == "en":
        parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]
        joiner = " "
    else:
        parts = [p for p in re.findall(r"[^。！？!?]+[。！？!?]?", text) if p.strip()]
        joiner = ""
    if len(parts) <= 2:
        return text
    return joiner.join([parts[0], parts[-1]])
