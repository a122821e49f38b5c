"""Two rules for what Whisper hears: never refuse what sounds like banking, never lose a fraud.

The router reads the transcript, not what was said. "交电费" heard as "酒店肥" scores as
out_of_scope with high confidence; "盗刷" heard as "刀刷" scores as a card replacement. Both
words are still there by sound. So, on the router's answer:
- a confident `out_of_scope` whose Mandarin contains the sound of a banking word is asked
  about (the heard business named first), not refused;
- an answer other than `fraud_report` is asked about, with fraud named, when fraud keeps
  real probability or a fraud word is heard by sound: the customer is never silently routed
  away from a fraud report (the dialogue's fraud path alerts staff once they say so).
Pure functions over the router's candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from intents.understanding.router_clarify import KEYWORDS
from intents.understanding.router_sounds import SoundLexicon, banking_words

FRAUD: Final = "fraud_report"
OUT_OF_SCOPE: Final = "out_of_scope"
# intents whose words do not make a turn a banking request (the lobby, people, feelings)
_NOT_BUSINESS: Final = frozenset({OUT_OF_SCOPE, "branch_info", "human_agent", "complaint"})
# words customers use that the clarify keywords lack, as the lobby hears them
_HEARD_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "fraud_report": ("盗刷", "被骗", "诈骗", "骗子", "冒充", "安全账户", "刷走", "骗走"),
    "utility_payment": ("电费", "交电费", "水电费", "话费", "物业费", "学费"),
    "social_security": ("社保卡", "医保卡", "退休金"),
    "personal_loan": ("贷款", "借款"),
    "transfer": ("转钱", "打钱"),
    "cash_withdrawal": ("取款", "取点钱"),
    "card_lost": ("卡丢了", "挂失"),
}
# Kept out of the lexicon: common words that sound like a business by chance.
_TOO_COMMON: Final = frozenset({"修改", "查询", "地址", "其他", "别的", "关闭", "存款", "app"})


@dataclass(frozen=True, slots=True)
class Guarded:
    """The router's candidates after the rules, and which rule (if any) asked."""

    candidates: list[tuple[str, float]]
    unsure: bool
    rule: str | None  # "heard_banking" or "maybe_fraud"


def banking_lexicon() -> SoundLexicon:
    """Business words by folded sound, from the clarify keywords and the heard-word list."""
    table: dict[str, list[str]] = {}
    for intent, words in [*KEYWORDS.items(), *_HEARD_WORDS.items()]:
        if intent in _NOT_BUSINESS:
            continue
        table.setdefault(intent, []).extend(w for w in words if w not in _TOO_COMMON)
    return SoundLexicon(banking_words(table))


def guard(
    clean: str,
    candidates: Sequence[tuple[str, float]],
    unsure: bool,
    p_fraud: float,
    lexicon: SoundLexicon,
    fraud_floor: float,
) -> Guarded:
    """Apply both rules to one routed turn (`clean` is the normalised text)."""
    cands = list(candidates)
    top = cands[0][0] if cands else OUT_OF_SCOPE
    heard = lexicon.intents(clean)
    if top != FRAUD and (p_fraud >= fraud_floor or FRAUD in heard):
        rest = [c for c in cands[1:] if c[0] != FRAUD]
        return Guarded([cands[0], (FRAUD, p_fraud), *rest][:4], True, "maybe_fraud")
    if top == OUT_OF_SCOPE and not unsure:
        business = [i for i in heard if i not in _NOT_BUSINESS]
        if business:
            prob = dict(cands)
            named = [(i, prob.get(i, 0.0)) for i in business]
            others = [c for c in cands if c[0] not in business]
            return Guarded([*named, *others][:4], True, "heard_banking")
    return Guarded(cands, unsure, None)
