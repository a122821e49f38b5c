"""The dialogue consumes the guardrails' verdicts, in both languages: the anti-fraud
intervention, large-value second verification and structuring across one visit (through the
conversation core, the way the kiosk shell drives it)."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from edge.branch_facts import build_policy
from edge.config import BranchConfig
from edge.conversation import Conversation, ReplyParts, TurnInput
from intents.dialogue.policy import (
    AlertStaff,
    DialogueState,
    IssueTicket,
    Say,
    Understanding,
    decide,
)

POLICY = build_policy(BranchConfig())


def u(intent: str, lang: str = "zh", confidence: float = 0.95, **slots: Any) -> Understanding:
    return Understanding(
        intent=intent,
        confidence=confidence,
        candidates=(intent,),
        unsure=False,
        language=lang,
        slots=slots,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "routed", "lang", "kind"),
    [
        (
            "对方说是公安局的，我涉嫌洗钱，让我把存款转到他们的监管账户",
            "transfer",
            "zh",
            "safe_account",
        ),
        (
            "群里老师带我们炒币，一个月翻倍，我要汇二十万过去",
            "international_remittance",
            "zh",
            "investment",
        ),
        ("淘宝客服说要给我退款，让我把验证码发给他", "out_of_scope", "zh", "code_request"),
        (
            "A man from customs called, my parcel has illegal goods and I must pay a fine",
            "transfer",
            "en",
            "impersonation",
        ),
        (
            "My grandson called, he was in an accident and needs money urgently, send it now",
            "cash_withdrawal",
            "en",
            "relative_emergency",
        ),
    ],
)
def test_a_described_scam_gets_the_warning_an_urgent_ticket_and_its_pattern(
    text: str, routed: str, lang: str, kind: str
) -> None:
    state, actions = decide(DialogueState(language=lang), text, u(routed, lang), POLICY)  # type: ignore[arg-type]
    warning, ticket = actions
    assert isinstance(warning, Say) and not warning.interruptible
    assert ("不要转账" in warning.text) if lang == "zh" else ("do not transfer" in warning.text)
    assert isinstance(ticket, IssueTicket) and ticket.service == "urgent"
    assert ticket.priority_class == "urgent" and f"risk:scam:{kind}" in ticket.flags
    assert state.ended and state.risks == (f"risk:scam:{kind}",)


def test_a_scam_interrupts_whatever_was_being_asked() -> None:
    state, actions = decide(DialogueState(), "我要取钱", u("cash_withdrawal"), POLICY)
    assert state.asked == "amount"  # the kiosk asked how much
    state, actions = decide(
        state,
        "十万，有个警官说我涉案，要我取出来交给他保管",
        u("cash_withdrawal", amount="100000"),
        POLICY,
    )
    assert isinstance(actions[0], Say) and not actions[0].interruptible
    assert isinstance(actions[1], IssueTicket) and actions[1].service == "urgent"


@pytest.mark.parametrize(
    ("text", "routed", "lang"),
    [
        ("给我孙子转学费", "transfer", "zh"),
        ("公安局开的无犯罪证明可以用来开户吗", "account_open", "zh"),
        ("I'd like to collect my police pension", "cash_withdrawal", "en"),
        ("I'm not receiving the verification code for mobile banking", "mobile_banking", "en"),
    ],
)
def test_innocent_look_alikes_are_served_as_usual(text: str, routed: str, lang: str) -> None:
    _, actions = decide(DialogueState(language=lang), text, u(routed, lang), POLICY)  # type: ignore[arg-type]
    assert not any(isinstance(a, IssueTicket) and a.service == "urgent" for a in actions)
    assert all(a.interruptible for a in actions if isinstance(a, Say))


@pytest.mark.parametrize(
    ("lang", "intent", "amount", "currency", "rule"),
    [
        ("zh", "cash_withdrawal", "80000", None, "large_cash"),
        ("en", "transfer", "600000", None, "large_transfer"),
        ("en", "international_remittance", "12000", "USD", "cross_border"),
        ("zh", "international_remittance", "250000", None, "cross_border"),
    ],
)
def test_large_values_need_a_supervisors_verification(
    lang: str, intent: str, amount: str, currency: str | None, rule: str
) -> None:
    slots: dict[str, Any] = {"amount": amount} | ({"currency": currency} if currency else {})
    _, actions = decide(DialogueState(language=lang), "…", u(intent, lang, **slots), POLICY)  # type: ignore[arg-type]
    say, alert, ticket = actions
    assert isinstance(say, Say) and not say.interruptible
    assert isinstance(alert, AlertStaff) and alert.kind == rule and alert.verify
    assert isinstance(ticket, IssueTicket) and any(
        f.startswith(f"risk:{rule}:") for f in ticket.flags
    )


class Kiosk:
    """The conversation core driven turn by turn, as edge/sessions.py drives it."""

    def __init__(self) -> None:
        ids = count()
        self.core = Conversation(POLICY, "zh", 2000, 60.0, lambda: f"c{next(ids)}")
        self.now = 1000.0

    def say(self, text: str, understood: Understanding) -> list[Any]:
        self.now += 5
        prepared = self.core.prepare(TurnInput(text, "text"), self.now)
        decision = self.core.decide(prepared, understood, None)
        parts = ReplyParts()
        for action in decision.actions:
            if isinstance(action, IssueTicket):
                parts.issued.append((action.intent, f"A{len(parts.issued) + 1:03d}"))
        self.core.commit(decision, parts, self.now)
        return list(decision.actions)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_requests_just_under_the_threshold_in_one_visit_are_caught(lang: str) -> None:
    kiosk = Kiosk()
    first = kiosk.say("取四万九", u("cash_withdrawal", lang, amount="49000"))  # type: ignore[arg-type]
    assert not any(isinstance(a, AlertStaff) for a in first)  # a counter ticket, nothing more
    second = kiosk.say("再取四万八", u("cash_withdrawal", lang, amount="48000"))  # type: ignore[arg-type]
    alert = next(a for a in second if isinstance(a, AlertStaff))
    assert alert.kind == "splitting" and alert.verify and "9.7万元" in alert.text
    say = second[0]
    assert isinstance(say, Say) and not say.interruptible
    assert ("9.7万元" in say.text) if lang == "zh" else ("97,000 yuan" in say.text)


def test_a_new_customer_starts_a_new_visit() -> None:
    kiosk = Kiosk()
    kiosk.say("取四万九", u("cash_withdrawal", amount="49000"))
    kiosk.core.reset()  # idle timeout: the next customer
    again = kiosk.say("取四万八", u("cash_withdrawal", amount="48000"))
    assert not any(isinstance(a, AlertStaff) for a in again)
