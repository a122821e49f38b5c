"""Turn mixed Mandarin/English text into BM25 terms (rjieba words, lowercase English words)."""

from __future__ import annotations

import re
from typing import Final

import rjieba

_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[A-Za-z]+[0-9]*|[0-9]+(?:\.[0-9]+)?")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Function words that match everything and decide nothing.
STOPWORDS_ZH: Final = frozenset(
    "的 了 吗 呢 吧 啊 是 在 和 与 或 及 有 我 你 您 他 她 它 我们 要 想 请 请问 什么 怎么 怎样 "
    "如何 哪些 哪里 多少 可以 能 会 这 那 个 一下 就 都 也 还 把 被 给 对 让 从 到 为 以 上 下 "
    "需要 办理 一个".split()
)
STOPWORDS_EN: Final = frozenset(
    "a an the is are was be been do does did i you we my your our me of to in on at for from "
    "with by and or what how which where when can could should would will need want it this "
    "that there any some please".split()
)


# How customers ask about a price, and the words fee tables are written in (query side only).
_PRICE_ASKED: Final = re.compile(
    r"多少钱|要钱|收钱|花钱|贵不贵|贵吗|手续费|收费|费用|免费|"
    r"\b(?:cost|costs|charge|charges|fee|fees|how much is it|free of charge|is it free)\b",
    re.IGNORECASE)
PRICE_TERMS: Final = frozenset(
    ["手续费", "收费", "费用", "免费", "免收", "年费", "工本费", "fee", "charge", "free"])
"""Tokens of a passage that answer a price question (fee tables say 免费, 免收 and 工本费)."""


def asks_price(text: str) -> bool:
    """True when the customer asks what something costs, in any of the usual ways."""
    return bool(_PRICE_ASKED.search(text))


def without_price_words(text: str) -> str:
    """The question with its way of asking the price taken out ("U盾多少钱" -> "U盾")."""
    return _PRICE_ASKED.sub(" ", text)


def expand_query(text: str) -> str:
    """The query plus the words fee tables use when it asks a price ("挂失要多少钱" also
    searches 手续费 and 免费), in the query's own script: customers rarely say the word the
    table is written in."""
    if not asks_price(text):
        return text
    zh = bool(_CJK.search(text))
    extra = [w for w in sorted(PRICE_TERMS) if bool(_CJK.search(w)) == zh]
    return f"{text} {' '.join(extra)}"


def _stem(word: str) -> str:
    """Fold common English plurals so 'fees' meets 'fee'; deliberately tiny."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Index and query with one function so both sides segment Chinese the same way."""
    terms: list[str] = []
    for run in _RUNS.findall(text):
        if _CJK.match(run):
            terms.extend(w for w in rjieba.cut_for_search(run) if w not in STOPWORDS_ZH)
        else:
            word = run.lower()
            if word not in STOPWORDS_EN:
                terms.append(_stem(word))
    return terms
