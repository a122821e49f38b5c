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
