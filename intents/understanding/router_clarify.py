"""Clarifying questions: which intents to name, and which one the customer's reply picked."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from intents.understanding.catalog import INTENTS

OUT_OF_SCOPE: Final = "out_of_scope"

# Words a customer uses to point at an option, beyond the catalog labels.
KEYWORDS: Final[dict[str, tuple[str, ...]]] = {
    "account_open": ("开户", "办卡", "开卡", "新卡", "open", "new account", "opening"),
    "account_close": ("销户", "注销", "关闭", "close", "closing", "cancel the account"),
    "account_frozen": ("冻结", "解冻", "止付", "frozen", "freeze", "blocked", "unfreeze"),
    "account_info_change": (
        "手机号",
        "改信息",
        "修改",
        "身份证",
        "地址",
        "phone number",
        "address",
        "update",
        "details",
        "change my",
    ),
    "password_reset": ("密码", "password", "pin"),
    "card_lost": ("挂失", "丢", "被偷", "lost", "stolen", "report"),
    "card_replace": ("补卡", "换卡", "坏", "消磁", "replace", "replacement", "damaged", "broken"),
    "balance_inquiry": ("余额", "查询", "流水", "balance", "how much"),
    "statement_print": ("打印", "存款证明", "print", "statement", "certificate"),
    "cash_deposit": ("存钱", "存款", "存现", "deposit", "put in"),
    "cash_withdrawal": ("取钱", "取款", "取现", "withdraw", "take out", "cash out"),
    "transfer": ("转账", "汇款", "转钱", "transfer", "send money", "remit"),
    "foreign_exchange": ("外币", "换汇", "购汇", "结汇", "美元", "foreign", "currency", "exchange"),
    "international_remittance": ("境外", "国外", "海外", "abroad", "international", "overseas"),
    "cash_exchange": ("零钱", "残币", "硬币", "coins", "change", "small notes", "damaged notes"),
    "personal_loan": ("个人贷款", "消费贷", "借钱", "personal loan", "borrow"),
    "mortgage": ("房贷", "按揭", "mortgage", "home loan", "house"),
    "small_business_loan": ("经营贷", "小微", "企业贷", "business loan", "company loan"),
    "credit_card": ("信用卡", "credit"),
    "wealth_products": ("理财", "基金", "保险", "wealth", "fund", "invest", "insurance"),
    "time_deposit": ("定期", "存单", "fixed", "term deposit", "time deposit", "cd"),
    "social_security": ("社保", "养老金", "social security", "pension"),
    "mobile_banking": ("手机银行", "网银", "u盾", "app", "online", "mobile"),
    "utility_payment": ("缴费", "水费", "电费", "燃气", "bill", "pay", "utility"),
    "corporate_account": ("对公", "公司", "企业账户", "corporate", "company account"),
    "fraud_report": ("被骗", "诈骗", "骗", "fraud", "scam", "tricked"),
    "complaint": ("投诉", "意见", "complain", "complaint", "feedback"),
    "human_agent": ("人工", "经理", "真人", "person", "human", "staff", "manager"),
    "branch_info": ("营业时间", "地址", "几点", "hours", "open until", "documents", "bring"),
    "out_of_scope": ("其他", "别的", "something else", "other"),
}

_ORDINALS_EN: Final = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
}
_CARDINALS_EN: Final = {"one": 1, "two": 2, "three": 3, "four": 4}
_STOPWORDS: Final = frozenset(
    {
        "a",
        "an",
        "the",
        "or",
        "and",
        "to",
        "for",
        "your",
        "of",
        "with",
        "something",
        "else",
        "speaking",
        "checking",
        "opening",
    }
)
_ZH_DIGITS: Final = {"一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4}
_NEGATIVE: Final = re.compile(r"都不是|都不对|不是这些|其他都不|neither|none of|not any|no one")
_LAST: Final = re.compile(r"最后一个|最后那个|后面那个|后一个|后者|the last|last one|the latter")
_FIRST: Final = re.compile(r"前一个|前者|前面那个|the former")
# "不是投诉" / "not the loan": a mention the customer rules out must not pick that option
_RULED_OUT: Final = re.compile(r"(?:不是|不要|不用|not (?:the |a |for )?)[^，,。.;；]*")


def clarify_candidates(candidates: Sequence[tuple[str, float]], max_named: int = 4) -> list[str]:
    """Pick 2-4 intents worth naming: the top two, then any that still carry real probability."""
    named = [(i, p) for i, p in candidates if i != OUT_OF_SCOPE]
    if not named:
        return []
    top = named[0][1]
    out = [named[0][0]]
    for intent_id, p in named[1:max_named]:
        if len(out) < 2 or p >= max(0.05, 0.25 * top):
            out.append(intent_id)
    return out


def _number_pick(reply: str) -> int | None:
    """The 1-based option a reply points at by number or ordinal, if it says exactly one."""
    found: set[int] = set()
    for m in re.finditer(r"(?<![0-9])([1-9])(?![0-9])", reply):
        found.add(int(m.group(1)))
    for m in re.finditer(r"第\s*([一二两三四1-4])", reply):
        ch = m.group(1)
        found.add(int(ch) if ch.isdigit() else _ZH_DIGITS[ch])
    for m in re.finditer(r"([一二两三四])\s*(?:个|号|项|种)", reply):
        found.add(_ZH_DIGITS[m.group(1)])
    if re.fullmatch(r"\s*[一二两三四]\s*", reply):
        found.add(_ZH_DIGITS[reply.strip()])
    for word in re.findall(r"[a-z0-9]+", reply):
        if word in _ORDINALS_EN:
            found.add(_ORDINALS_EN[word])
    # a bare cardinal ("two", "number two") but not "the card one", where one is a pronoun
    for m in re.finditer(r"(?:^|number |option |no\. ?)(one|two|three|four)\b", reply):
        found.add(_CARDINALS_EN[m.group(1)])
    return found.pop() if len(found) == 1 else None


def _keyword_pick(reply: str, candidates: Sequence[str]) -> str | None:
    """The one candidate whose label or keywords the reply mentions most (longest match)."""
    best: list[tuple[int, str]] = []
    for c in candidates:
        info = INTENTS.get(c)
        words = list(KEYWORDS.get(c, ()))
        if info is not None:
            label = info.label_en.lower()
            words += [info.label_zh, label]
            words += [w for w in re.findall(r"[a-z]+", label) if w not in _STOPWORDS]
        hits = sum(len(w) for w in set(words) if w and _mentions(reply, w))
        if hits:
            best.append((hits, c))
    if not best:
        return None
    best.sort(reverse=True)
    if len(best) > 1 and best[0][0] == best[1][0]:
        return None
    return best[0][1]


def _mentions(reply: str, word: str) -> bool:
    if re.search(r"[a-z]", word):
        return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", reply) is not None
    return word in reply


class ScoresText(Protocol):
    """The router's calibrated probabilities, used to read a free-form reply."""

    intents: tuple[str, ...]

    def probabilities(self, text: str) -> npt.NDArray[np.float64]: ...


def resolve_clarification(
    reply: str, candidates: list[str], language: str, router: ScoresText | None = None
) -> str | None:
    """Map the customer's answer to one of the offered intents, or None when it picks none.

    Numbers, ordinals and the options' names are read first; with a router, a free-form
    reply ("买房子的") goes to the offered intent it scores clearly highest.
    """
    if not candidates or not isinstance(reply, str):
        return None
    text = unicodedata.normalize("NFKC", reply)[:200].lower().strip()
    if not text or _NEGATIVE.search(text):
        return None
    if _LAST.search(text):
        return candidates[-1]
    if _FIRST.search(text):
        return candidates[0]
    kept = _RULED_OUT.sub(" ", text)
    picked = _keyword_pick(kept, candidates)
    if picked is not None:
        return picked
    number = _number_pick(text)
    if number is not None and 1 <= number <= len(candidates):
        return candidates[number - 1]
    del language  # both languages' words are matched: customers mix them
    return _router_pick(kept, candidates, router) if router is not None else None


def _router_pick(text: str, candidates: list[str], router: ScoresText) -> str | None:
    """The offered intent the router prefers, if it beats the runner-up by a clear factor."""
    if not text.strip():
        return None
    probs = router.probabilities(text)
    index = {c: i for i, c in enumerate(router.intents)}
    scored = sorted(((float(probs[index[c]]), c) for c in candidates if c in index), reverse=True)
    if not scored:
        return None
    if len(scored) == 1 or scored[0][0] >= 2.0 * scored[1][0]:
        return scored[0][1]
    return None
