"""The dialogue's guardrail turns: what the kiosk does when a verdict of intents/guardrails
fires (the anti-fraud intervention, the large-value and structuring rules). Pure."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from intents.dialogue.phrases import money, t
from intents.dialogue.values import (
    Action,
    AlertStaff,
    DialogueState,
    IssueTicket,
    Lang,
    Policy,
    Say,
)
from intents.guardrails.large_value import LargeValueFinding, parse_amount
from intents.guardrails.scam import ScamFinding
from intents.guardrails.verdict import assess_request, risk_flag
from intents.understanding.catalog import INTENTS


def large_value(
    state: DialogueState, intent: str, policy: Policy
) -> tuple[DialogueState, list[Action] | None]:
    """Large-value and structuring rules (intents/guardrails): explain, alert staff for the
    second verification a supervisor confirms, send to a counter."""
    verdict = assess_request(intent, state.amount, state.currency, state.visit, policy.guardrails)
    if verdict.request is not None:
        state = replace(state, visit=(*state.visit, verdict.request))
    found = verdict.large_value
    if found is None:
        return state, None
    lang = state.language
    said = parse_amount(state.amount)
    assert said is not None  # a finding needs an amount
    state = replace(state, ended=True, risks=tuple(dict.fromkeys(state.risks + verdict.flags)))
    service = INTENTS[intent].service or "cash"
    return state, [
        Say(_rule_text(found, said, state.currency, intent, lang), lang, interruptible=False),
        AlertStaff(
            found.rule, "warning", _alert_text(found, said, state.currency, intent), verify=True
        ),
        IssueTicket(service, state.priority_class, intent, state.flags + state.risks),
    ]


def _rule_text(
    found: LargeValueFinding, amount: Decimal, currency: str | None, intent: str, lang: Lang
) -> str:
    if found.rule == "splitting":
        return t(
            "splitting_rule",
            lang,
            total=money(found.total_cny, "CNY", lang),
            business=INTENTS[intent].label_zh if lang == "zh" else INTENTS[intent].label_en,
        )
    return t(f"{found.rule}_rule", lang, amount=money(amount, currency, lang))


def _alert_text(
    found: LargeValueFinding, amount: Decimal, currency: str | None, intent: str
) -> str:
    if found.rule == "splitting":
        return t(
            "alert_splitting",
            "zh",
            total=money(found.total_cny, "CNY", "zh"),
            business=INTENTS[intent].label_zh,
        )
    return t(f"alert_{found.rule}", "zh", amount=money(amount, currency, "zh"))


def intervene(state: DialogueState, finding: ScamFinding) -> tuple[DialogueState, list[Action]]:
    """Anti-fraud intervention: the warning script said to the end and an urgent ticket that
    carries the pattern; the urgent class raises the staff alert naming the kiosk
    (edge/queue: urgent class, the desk names the device that asked)."""
    lang = state.language
    flag = risk_flag("scam", finding.kind)
    risks = tuple(dict.fromkeys((*state.risks, flag)))
    why = t(f"scam_why_{finding.kind}", lang)
    return replace(state, ended=True, risks=risks, pending=None, asked=None, clarifying=()), [
        Say(t("scam_warning", lang, why=why), lang, interruptible=False),
        IssueTicket("urgent", "urgent", "fraud_report", state.flags + risks),
    ]
