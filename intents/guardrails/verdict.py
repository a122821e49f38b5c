"""The guardrails' one verdict API: what the dialogue asks before it acts, and what it gets.

Every compliance rule of the kiosk is reached from here, pure and synchronous:

- `assess_turn`: scam patterns (`scam.py`, the Anti-Telecom and Online Fraud Law) and the
  router's own fraud reading, then large-value and structuring rules (`large_value.py`,
  PBoC Order [2016] No. 3) for the amount the customer asks for;
- `assess_answer`: a generated answer states only numbers its passages state and never
  promises returns (`grounding.py`; CBIRC Measures on Wealth Management, Art. 29 and the
  Securities Investment Fund Sales Measures, Art. 26: no promise of principal or return);
- `mask`: identifiers masked before logs or screens (`masking.py`; the Personal Information
  Protection Law, Art. 51, and JR/T 0171-2020 on personal financial information).

Suitability (`suitability.py`) takes its place beside these once it is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from intents.guardrails.grounding import GroundingReport, HasText, check
from intents.guardrails.large_value import (
    KIND_OF_INTENT,
    LargeValueFinding,
    LargeValueRules,
    Transaction,
    evaluate,
    parse_amount,
)
from intents.guardrails.masking import mask_pii
from intents.guardrails.scam import LABELS as SCAM_LABELS
from intents.guardrails.scam import ScamFinding, detect

__all__ = [
    "GuardrailRules",
    "TurnVerdict",
    "assess_answer",
    "assess_request",
    "assess_turn",
    "assess_words",
    "describe_flag",
    "mask",
    "risk_flag",
]

FRAUD_INTENT = "fraud_report"


@dataclass(frozen=True)
class GuardrailRules:
    """Every guardrail default in one place (configurable: `[guardrails]`, `[thresholds]`)."""

    large_value: LargeValueRules = field(default_factory=LargeValueRules)
    scam_rules: bool = True  # the pattern rules (the router's fraud reading always counts)
    # The router reading a turn as a fraud report this surely is an intervention on its own.
    router_fraud_min_confidence: float = 0.5


@dataclass(frozen=True)
class TurnVerdict:
    """What one customer turn means for compliance; `ok` when nothing needs staff."""

    scam: ScamFinding | None = None
    large_value: LargeValueFinding | None = None
    request: Transaction | None = None  # the amount asked for, to remember for the visit

    @property
    def ok(self) -> bool:
        return self.scam is None and self.large_value is None

    @property
    def flags(self) -> tuple[str, ...]:
        """The risk flags this verdict attaches to the customer's ticket."""
        out: list[str] = []
        if self.scam is not None:
            out.append(risk_flag("scam", self.scam.kind))
        if self.large_value is not None:
            out.append(risk_flag(self.large_value.rule, str(int(self.large_value.total_cny))))
        return tuple(out)


def risk_flag(rule: str, detail: str = "") -> str:
    """A ticket flag naming a risk ('risk:scam:safe_account', 'risk:large_cash:80000')."""
    return f"risk:{rule}:{detail}" if detail else f"risk:{rule}"


_RULE_LABELS = {
    "large_cash": "大额现金",
    "large_transfer": "大额转账",
    "cross_border": "大额跨境汇款",
    "splitting": "疑似拆分交易",
}


def describe_flag(flag: str) -> tuple[str, str, str] | None:
    """A ticket's risk flag as (rule, detail, what staff read); None for other flags."""
    parts = flag.split(":", 2)
    if len(parts) < 2 or parts[0] != "risk":
        return None
    rule, detail = parts[1], parts[2] if len(parts) == 3 else ""
    if rule == "scam":
        return rule, detail, f"疑似诈骗：{SCAM_LABELS.get(detail, detail)}（已播放劝阻提示）"
    label = _RULE_LABELS.get(rule, rule)
    return rule, detail, f"{label}：合计{detail}元，须主管二次复核" if detail else label


def assess_turn(
    text: str,
    intent: str,
    confidence: float,
    amount: str | None,
    currency: str | None,
    visit: Iterable[Transaction],
    rules: GuardrailRules,
) -> TurnVerdict:
    """The verdict on one turn: a scam described, or an amount past a reporting threshold."""
    scam = assess_words(text, rules, intent, confidence)
    request = assess_request(intent, amount, currency, visit, rules)
    return TurnVerdict(scam=scam, large_value=request.large_value, request=request.request)


def assess_words(
    text: str, rules: GuardrailRules, intent: str | None = None, confidence: float = 0.0
) -> ScamFinding | None:
    """A scam in what the customer said: the pattern rules, or the router's fraud reading
    (`intent` and its `confidence`, when the caller has them)."""
    scam = detect(text) if rules.scam_rules else None
    if scam is None and intent == FRAUD_INTENT and confidence >= rules.router_fraud_min_confidence:
        scam = ScamFinding("reported", source="router")
    return scam


def assess_request(
    intent: str,
    amount: str | None,
    currency: str | None,
    visit: Iterable[Transaction],
    rules: GuardrailRules,
) -> TurnVerdict:
    """The large-value and structuring rules for the amount a request names (if any)."""
    kind = KIND_OF_INTENT.get(intent)
    value = parse_amount(amount)
    if kind is None or value is None:
        return TurnVerdict()
    request = Transaction(kind, value, (currency or "CNY").upper())
    return TurnVerdict(
        large_value=evaluate(request, tuple(visit), rules.large_value), request=request
    )


def assess_answer(answer_text: str, passages: Iterable[str | HasText]) -> GroundingReport:
    """May this generated answer be said? Grounded numbers and no promise of returns."""
    return check(answer_text, passages)


def mask(text: str) -> str:
    """The text as logs, screens and staff alerts may carry it."""
    return mask_pii(text)


def amount_value(value: str | None) -> Decimal | None:
    """A slot's amount, for callers that format it."""
    return parse_amount(value)
