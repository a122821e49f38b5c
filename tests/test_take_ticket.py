""" "Take a ticket" at any time: the kiosk's button or a turn that only asks for a ticket gets
the branch's services as buttons; a pick issues the ticket at once."""

from __future__ import annotations

import pytest

from edge.branch_facts import build_policy
from edge.config import BranchConfig
from intents.dialogue.policy import DialogueState, IssueTicket, Say, decide
from intents.dialogue.take_ticket import asks_only_for_a_ticket
from tests.test_dialogue import u

POLICY = build_policy(BranchConfig())


def test_the_button_shows_the_branchs_services_then_a_pick_issues_the_ticket() -> None:
    state, [say] = decide(
        DialogueState(), "我要取号", u("cash_withdrawal"), POLICY, choice="take_ticket"
    )
    assert isinstance(say, Say) and say.choices
    keys = [k for k, _ in say.choices]
    assert keys[0] == "ticket:personal" and "ticket:urgent" not in keys
    assert ("ticket:fx", "外汇业务") in say.choices and not state.ended
    state, actions = decide(state, "外汇业务", u("foreign_exchange"), POLICY, choice="ticket:fx")
    assert actions == [IssueTicket("fx", "normal", None, ())] and state.ended


def test_it_works_in_the_middle_of_something_else_and_keeps_the_priority() -> None:
    state, _ = decide(DialogueState(), "我七十多岁了，想问问理财", u("wealth_products"), POLICY)
    state, [say] = decide(
        state, "I would like a ticket", u("out_of_scope", "en"), POLICY, choice="take_ticket"
    )
    assert isinstance(say, Say) and say.language == "en"
    assert ("ticket:loan", "Loans") in say.choices
    _, [ticket] = decide(state, "Loans", u("out_of_scope", "en"), POLICY, choice="ticket:loan")
    assert ticket == IssueTicket("loan", "elderly", None, ("elderly",))


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("我要取号", True),
        ("取号。", True),
        ("Take a ticket, please", True),
        ("I'd like a ticket", True),
        ("我要取号办理外汇", False),
        ("取款", False),
        ("a ticket for foreign exchange", False),
        # particles, politeness and Whisper's 取 -> 去 (same syllable) are still just a ticket
        ("帮我取个号吧。", True),
        ("麻烦帮我取一个号，谢谢", True),
        ("我想排个号", True),
        ("帮我去个号吧", True),
        ("能不能给我拿个号", True),
        ("Can I get a number, please?", True),
        ("I'd like to take a queue number", True),
        ("Could you get me a ticket", True),
        ("帮我取个号办外汇", False),
        ("我要取钱", False),
        ("帮我去柜台", False),
        ("number", False),
        ("my number is 138", False),
    ],
)
def test_a_turn_that_only_asks_for_a_ticket(text: str, only: bool) -> None:
    assert asks_only_for_a_ticket(text) is only


def test_said_without_the_button_it_still_opens_the_menu_not_a_withdrawal() -> None:
    _, [say] = decide(DialogueState(), "我要取号", u("cash_withdrawal"), POLICY)
    assert isinstance(say, Say) and say.choices[0][0] == "ticket:personal"


def test_an_unknown_service_pick_is_not_a_ticket() -> None:
    _, actions = decide(DialogueState(), "x", u("out_of_scope"), POLICY, choice="ticket:nope")
    assert not any(isinstance(a, IssueTicket) for a in actions)
