"""Repair after a wrong guess: "不对，我是要换外币" right after a ticket or a terminal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from edge.branch_facts import build_policy
from edge.config import BranchConfig
from intents.dialogue.policy import (
    CancelTicket,
    DialogueState,
    IssueTicket,
    Say,
    ShowTicket,
    Understanding,
    decide,
)
from intents.dialogue.repair import split_correction
from intents.dialogue.values import Guess

POLICY = build_policy(BranchConfig())


def u(intent: str, lang: str = "zh", unsure: bool = False,
      candidates: tuple[str, ...] = (), **slots: Any) -> Understanding:
    return Understanding(intent=intent, confidence=0.4 if unsure else 0.95,
                         candidates=candidates or (intent,), unsure=unsure,
                         language=lang, slots=slots)  # type: ignore[arg-type]


def kinds(actions: list[Any]) -> list[str]:
    return [type(a).__name__ for a in actions]


@pytest.mark.parametrize(("text", "rest"), [
    ("不对", ""),
    ("不对不对", ""),
    ("不是的", ""),
    ("错了，我要换外币", "我要换外币"),
    ("不对，我是要换外币", "我是要换外币"),
    ("搞错了 我要存钱", "我要存钱"),
    ("我不是要取钱，是存钱", "存钱"),
    ("不对，我不是要取钱，我要存钱", "存钱"),
    ("不是这个，贷款", "贷款"),
    ("No, I want to open an account", "I want to open an account"),
    ("wrong", ""),
    ("That's not what I wanted. Credit card please", "Credit card please"),
    ("not that one, the lost card", "the lost card"),
    ("I didn't want a ticket, I want to pay my bill", "to pay my bill"),
    ("I meant the credit card", "the credit card"),
])
def test_a_correction_is_found_and_taken_off_the_request(text: str, rest: str) -> None:
    assert split_correction(text) == rest


@pytest.mark.parametrize("text", [
    "我要存钱", "不是很急，我想存钱", "没想到人这么多，我要存钱", "不要紧", "no", "No.",
    "nothing else", "I want to open an account", "not now", "不用了",
])
def test_ordinary_turns_are_not_corrections(text: str) -> None:
    assert split_correction(text) is None


def ticketed(intent: str, candidates: tuple[str, ...], number: str = "A023") -> DialogueState:
    """The state right after the kiosk issued `number` for `intent` (the session fills the
    number in and keeps the guess over its reset)."""
    state, actions = decide(DialogueState(), "我想开户", u(intent, candidates=candidates), POLICY)
    assert kinds(actions) == ["IssueTicket"] and state.last_guess is not None
    assert state.last_guess.alternatives == candidates[1:]
    return DialogueState(last_guess=replace(state.last_guess, ticket=number))


def test_a_clear_new_request_cancels_the_wrong_ticket_and_issues_the_right_one() -> None:
    state = ticketed("account_open", ("account_open", "card_replace"))
    state, actions = decide(state, "不对，我是要换外币", u("foreign_exchange"), POLICY)
    assert kinds(actions) == ["Say"]  # fx asks which currency first; the ticket stays till then
    assert state.replacing == "A023" and state.pending == "foreign_exchange"
    state, actions = decide(state, "美元", u("out_of_scope", currency="USD"), POLICY)
    assert actions[0] == CancelTicket("A023")
    assert actions[1] == IssueTicket("fx", "normal", "foreign_exchange", ())
    assert state.replacing is None and state.last_guess is not None
    assert state.last_guess.intent == "foreign_exchange"  # the new ticket can be corrected too


def test_a_bare_no_asks_among_the_router_s_other_candidates() -> None:
    state = ticketed("account_open", ("account_open", "card_replace", "account_info_change"))
    state, actions = decide(state, "不对", u("out_of_scope", unsure=True), POLICY)
    assert kinds(actions) == ["Say"]
    say = actions[0]
    assert isinstance(say, Say) and say.text.startswith("抱歉")
    assert [k for k, _ in say.choices] == ["card_replace", "account_info_change"]
    assert state.clarifying == ("card_replace", "account_info_change")
    state, actions = decide(state, "", u("out_of_scope"), POLICY, choice="account_info_change")
    assert actions[0] == CancelTicket("A023")
    assert kinds(actions)[1:] == ["GoTerminal", "Say"]  # a self-service intent


def test_a_bare_no_with_nothing_else_in_mind_asks_again_in_english() -> None:
    state = DialogueState(language="en", last_guess=Guess("account_open", (), "A023"))
    state, actions = decide(state, "that's wrong", u("out_of_scope", "en", unsure=True), POLICY)
    assert kinds(actions) == ["Say"] and "What would you like to do" in actions[0].text  # type: ignore[union-attr]
    assert state.replacing == "A023"
    state, actions = decide(state, "I want to open a credit card", u("credit_card", "en"), POLICY)
    assert actions[0] == CancelTicket("A023")


def test_the_same_request_again_shows_the_ticket_it_already_has() -> None:
    state = ticketed("account_open", ("account_open", "card_replace"))
    state, actions = decide(state, "不是，我就是要开户", u("account_open"), POLICY)
    assert actions == [ShowTicket("A023")]
    assert state.replacing is None


def test_a_wrong_terminal_has_no_ticket_to_cancel() -> None:
    state, actions = decide(DialogueState(), "我卡丢了", u("card_lost", candidates=(
        "card_lost", "card_replace")), POLICY)
    assert kinds(actions) == ["GoTerminal", "Say"]
    state, actions = decide(state, "不对，我要开户", u("account_open"), POLICY)
    assert actions == [IssueTicket("personal", "normal", "account_open", ())]


def test_without_a_recent_guess_a_no_is_an_ordinary_turn() -> None:
    _, actions = decide(DialogueState(), "不对", u("out_of_scope", unsure=True), POLICY)
    assert not any(isinstance(a, CancelTicket) for a in actions)
    assert "帮不上" in actions[0].text  # type: ignore[union-attr]


def test_an_urgent_fraud_ticket_is_not_open_to_a_correction() -> None:
    state, actions = decide(DialogueState(), "我被骗了", u("fraud_report"), POLICY)
    assert kinds(actions) == ["Say", "IssueTicket"] and state.last_guess is None


def test_no_thanks_after_a_ticket_is_a_goodbye_not_a_correction() -> None:
    state = DialogueState(language="en", last_guess=Guess("account_open", ("credit_card",), "A1"))
    state, actions = decide(state, "No, thanks", u("out_of_scope", "en"), POLICY)
    assert state.ended and not any(isinstance(a, CancelTicket) for a in actions)


def test_one_other_candidate_is_offered_as_a_yes_or_something_else() -> None:
    state = DialogueState(language="en", last_guess=Guess("account_open", ("credit_card",), "A1"))
    state, actions = decide(state, "that's wrong", u("out_of_scope", "en", unsure=True), POLICY)
    say = actions[0]
    assert isinstance(say, Say) and say.text.endswith("Do you mean a credit card, or something else?")
    assert [k for k, _ in say.choices] == ["credit_card"]
