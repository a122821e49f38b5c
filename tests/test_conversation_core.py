"""The conversation core with plain values: no service, no router, no clock but the one given."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from devices.kiosk_messages import KioskContext
from devices.protocol import ProtocolError
from edge.conversation import Conversation, ReplyParts, TurnInput
from intents.dialogue.policy import DialogueState, IssueTicket, Policy, Say, Terminal, Understanding

TERMINAL = Terminal(id="T1", name={"zh": "一号机", "en": "Terminal 1"},
                    location={"zh": "门口", "en": "by the door"},
                    intents=frozenset({"cash_withdrawal", "balance_inquiry"}),
                    cash_withdrawal_limit_cny=20_000)
POLICY = Policy(terminals=(TERMINAL,), hours={"zh": "9-17", "en": "9-17"},
                address={"zh": "某路", "en": "Some Road"})


def core(max_chars: int = 200, window_s: float = 30.0) -> Conversation:
    ids = itertools.count()
    return Conversation(POLICY, "zh", max_chars, window_s, lambda: f"c{next(ids)}")


def understood(intent: str, confidence: float = 0.95, unsure: bool = False,
               candidates: tuple[str, ...] = (), language: str = "zh",
               slots: dict[str, object] | None = None) -> Understanding:
    return Understanding(intent=intent, confidence=confidence,
                         candidates=candidates or (intent,), unsure=unsure,
                         language="en" if language == "en" else "zh", slots=dict(slots or {}),
                         scores=tuple(1.0 / (i + 1) for i in range(len(candidates or (intent,)))))


def text(s: str, **kw: object) -> TurnInput:
    return TurnInput(text=s, channel="text", **kw)  # type: ignore[arg-type]


def test_a_decision_changes_nothing_until_it_is_committed() -> None:
    c = core()
    before = c.state
    p = c.prepare(text("我要取钱"), now=100.0)
    d = c.decide(p, understood("cash_withdrawal"), None)
    assert d.state.pending == "cash_withdrawal" and d.state.asked == "amount"
    assert c.state is before  # decided, not carried out: the conversation has not moved
    c.commit(d, ReplyParts(), now=101.0)
    assert c.state.pending == "cash_withdrawal" and c.state.turns == 1


def test_a_refused_turn_leaves_the_conversation_where_it_was() -> None:
    """The shell got a refusal carrying the turn out: it never commits, so the next turn
    starts from the same state as if the refused one had not happened."""
    c, fresh = core(), core()
    p = c.prepare(text("我要换美元"), now=100.0)
    c.decide(p, understood("foreign_exchange", slots={"currency": "USD"}), None)  # refused
    again = c.decide(c.prepare(text("我要取钱"), now=102.0), understood("cash_withdrawal"), None)
    first = fresh.decide(fresh.prepare(text("我要取钱"), now=102.0),
                         understood("cash_withdrawal"), None)
    assert again.state == first.state and again.actions == first.actions
    assert c.turn == 2  # turns are still numbered (the refusal's error carried turn 1)


def test_text_over_the_limit_is_refused_before_anything_changes() -> None:
    c = core(max_chars=10)
    with pytest.raises(ProtocolError) as refused:
        c.prepare(text("我" * 11, ref="r1"), now=1.0)
    assert refused.value.code == "text_too_long" and refused.value.ref == "r1"
    assert refused.value.refusal
    assert c.turn == 0 and c.state == DialogueState()


def test_a_correction_routes_without_its_correction_words_inside_the_window() -> None:
    c = core(window_s=30.0)
    p = c.prepare(text("我想开个户"), now=100.0)
    d = c.decide(p, understood("account_open", candidates=("account_open",
                                                               "foreign_exchange")), None)
    issued = [a for a in d.actions if isinstance(a, IssueTicket)]
    assert issued, d.actions
    parts = ReplyParts(issued=[(issued[0].intent, "A001")])
    assert c.commit(d, parts, now=101.0)  # a ticket ends the conversation ...
    assert c.state.last_guess is not None and c.state.last_guess.ticket == "A001"  # ... kept
    inside = c.prepare(text("不对，我是要换美元"), now=120.0)
    assert inside.route_text == "我是要换美元"
    late = c.prepare(text("不对，我是要换美元"), now=140.0)
    assert late.route_text == "不对，我是要换美元" and late.state.last_guess is None


def test_a_turn_from_before_a_reset_commits_nothing() -> None:
    c = core()
    p = c.prepare(text("我要取钱"), now=1.0)
    d = c.decide(p, understood("cash_withdrawal"), None)
    c.reset()  # the kiosk was reset while the turn was being answered
    assert not c.commit(d, ReplyParts(), now=2.0)
    assert c.state == DialogueState() and c.conversation == "c1"


def test_the_kiosk_language_overrides_the_routers() -> None:
    c = core()
    d = c.decide(c.prepare(text("ATM", language="en"), now=1.0),
                 understood("balance_inquiry", language="zh"), None)
    assert d.language == "en" and d.understood.language == "en"


def test_the_second_tier_is_asked_only_when_unsure_and_not_already_clarifying() -> None:
    c = core()
    p = c.prepare(text("卡的事"), now=1.0)
    unsure = understood("card_lost", 0.4, unsure=True, candidates=("card_lost", "card_replace"))
    assert c.wants_second_tier(p, unsure)
    assert not c.wants_second_tier(p, understood("card_lost"))
    assert c.with_pick(unsure, "card_replace").intent == "card_replace"
    assert c.with_pick(unsure, "card_replace").source == "llm"
    assert c.with_pick(unsure, "mortgage") is unsure  # outside the candidates: no answer
    assert c.with_pick(unsure, None) is unsure
    asked = c.decide(p, unsure, None)
    assert asked.state.clarifying
    c.commit(asked, ReplyParts(), now=2.0)
    assert not c.wants_second_tier(c.prepare(text("挂失"), now=3.0), unsure)


def test_a_turn_that_may_be_fraud_is_asked_not_left_to_the_second_tier() -> None:
    c = core()
    p = c.prepare(text("我的卡被刀刷了"), now=1.0)
    maybe = understood("card_replace", 0.6, unsure=True,
                       candidates=("card_replace", "fraud_report", "card_lost"))
    assert not c.wants_second_tier(p, maybe)
    asked = c.decide(p, maybe, None)
    assert asked.state.clarifying and "fraud_report" in asked.state.clarifying


def test_the_kiosk_flags_join_the_tickets_priority() -> None:
    c = core()
    c.on_context(KioskContext(elderly=True, vip="vip_gold"), now=1.0)
    flags, vip = c.priority(("pregnant",), "normal")
    assert flags == ["elderly", "pregnant"] and vip == "vip_gold"


def test_warnings_make_the_reply_uninterruptible() -> None:
    c = core()
    p = c.prepare(text("我要取现金十万元"), now=1.0)
    d = c.decide(p, understood("cash_withdrawal", slots={"amount": "100000"}), None)
    says = [a for a in d.actions if isinstance(a, Say)]
    assert says and not d.interruptible


def test_the_customer_hears_the_wait_as_the_range_the_branch_supports() -> None:
    from edge.conversation import wait_minutes
    from edge.queue.model import TicketView

    view = TicketView(id="20251125-A001", number="A001", service="personal", cls="normal",
                      state="waiting", language="zh", counter=None, counter_number=None,
                      waited_s=0.0, people_ahead=3, estimated_wait_s=300.0, wait_p10_s=60.0,
                      wait_p50_s=250.0, wait_p90_s=560.0)
    assert wait_minutes(view, "zh") == "4到9" and wait_minutes(view, "en") == "4-9"
    narrow = msgspec.structs.replace(view, wait_p50_s=290.0, wait_p90_s=310.0)
    assert wait_minutes(narrow, "zh") == "5"
    unknown = msgspec.structs.replace(view, wait_p50_s=None, wait_p90_s=None)
    assert wait_minutes(unknown, "en") == "5"  # no range learnt yet: the mean
