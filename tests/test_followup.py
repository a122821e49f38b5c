"""The conversation after the ticket, with plain values (the router's answer given)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from intents.dialogue.followup import follow_up, remember
from intents.dialogue.policy import decide
from intents.dialogue.values import (
    After,
    AlertStaff,
    AnswerQuestion,
    DialogueState,
    GoTerminal,
    IssueTicket,
    Policy,
    Say,
    ShowTicket,
    Terminal,
    Understanding,
)

TERMINAL = Terminal(id="T1", name={"zh": "1号机", "en": "machine 1"},
                    location={"zh": "左侧", "en": "on the left"},
                    intents=frozenset({"balance_inquiry"}))
POLICY = Policy(terminals=(TERMINAL,), hours={"zh": "9-17", "en": "9-17"},
                address={"zh": "某路", "en": "Some Road"})


def heard(intent: str, confidence: float = 0.5, unsure: bool = True,
          language: str = "zh") -> Understanding:
    return Understanding(intent=intent, confidence=confidence, candidates=(intent, "branch_info"),
                         unsure=unsure, language="en" if language == "en" else "zh",
                         scores=(confidence, 0.1))


def after(kind: str, intent: str, ticket: str | None = None, rule: str | None = None,
          language: str = "zh") -> DialogueState:
    return DialogueState(language="en" if language == "en" else "zh",
                         after=After(kind, intent, ticket, rule))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "language"), [
    ("算了，还是帮我取个号吧", "zh"), ("那我去柜台办吧", "zh"), ("我想找个人办", "zh"),
    ("I'd rather see someone", "en"), ("can I just take a ticket", "en"),
    ("I would prefer to talk to a teller", "en"),
])
def test_after_a_terminal_asking_for_a_person_takes_a_ticket_for_it(text: str,
                                                                   language: str) -> None:
    state = after("terminal", "balance_inquiry", language=language)
    done = follow_up(state, text, heard("human_agent", 0.9, False, language))
    assert done is not None
    new, actions = done
    assert actions == [IssueTicket("personal", "normal", "balance_inquiry", ())]
    assert new.ended


def test_after_an_answer_a_ticket_is_for_the_business_asked_about() -> None:
    done = follow_up(after("answer", "time_deposit"), "还是帮我取个号吧", heard("cash_withdrawal"))
    assert done is not None and done[1] == [IssueTicket("wealth", "normal", "time_deposit", ())]


@pytest.mark.parametrize(("text", "language"), [
    ("多久轮到我", "zh"), ("前面还有几个人", "zh"), ("还要等多久啊", "zh"),
    ("how long will it take", "en"), ("how many people are ahead of me", "en"),
])
def test_with_a_ticket_a_wait_question_shows_it(text: str, language: str) -> None:
    done = follow_up(after("ticket", "foreign_exchange", "C001", language=language), text,
                     heard("out_of_scope", language=language))
    assert done is not None and done[1] == [ShowTicket("C001")]


@pytest.mark.parametrize("text", ["能不能快一点", "可以先给我办吗", "can you hurry up"])
def test_asking_to_go_faster_explains_the_order_and_shows_the_wait(text: str) -> None:
    lang = "en" if text.isascii() else "zh"
    done = follow_up(after("ticket", "cash_deposit", "B002", language=lang), text,
                     heard("out_of_scope", language=lang))
    assert done is not None
    say, show = done[1]
    assert isinstance(say, Say) and ("插队" in say.text or "cannot move you" in say.text)
    assert show == ShowTicket("B002")


@pytest.mark.parametrize(("text", "expected"), [
    ("要带什么", "银行卡、本人身份证"), ("需要哪些材料", "银行卡、本人身份证"),
    ("what do I need to bring", "bank card, ID card"),
])
def test_what_to_bring_comes_from_the_branchs_list(text: str, expected: str) -> None:
    lang = "en" if text.isascii() else "zh"
    done = follow_up(after("answer", "time_deposit", language=lang), text,
                     heard("branch_info", language=lang))
    assert done is not None
    assert isinstance(done[1][0], Say) and expected in done[1][0].text


def test_what_to_bring_without_a_list_asks_the_documents() -> None:
    done = follow_up(after("ticket", "foreign_exchange", "C001"), "要带什么", heard("branch_info"))
    assert done is not None
    answer = done[1][0]
    assert isinstance(answer, AnswerQuestion) and "外币兑换" in answer.question
    assert "身份证" in answer.fallback


@pytest.mark.parametrize(("rule", "text", "expected"), [
    ("large_cash", "明天上午可以吗", "提前一天预约"),
    ("large_cash", "can I come tomorrow morning", "booked at least a day ahead"),
    ("cross_border", "我下周再来行吗", "境外汇款"),
])
def test_after_a_large_value_rule_another_day_is_explained(rule: str, text: str,
                                                           expected: str) -> None:
    lang = "en" if text.isascii() else "zh"
    state = after("ticket", "cash_withdrawal", "B003", rule=rule, language=lang)
    done = follow_up(state, text, heard("branch_info", 0.76, False, lang))
    assert done is not None and expected in done[1][0].text  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "u"), [
    ("我还要取钱", heard("cash_withdrawal", 0.99, False)),  # a clear new request
    ("我想开个户", heard("account_open", 0.95, False)),
    ("今天天气不错", heard("out_of_scope", 0.9, False)),  # asks nothing about it
])
def test_a_new_request_or_unrelated_words_are_not_follow_ups(text: str,
                                                              u: Understanding) -> None:
    assert follow_up(after("ticket", "foreign_exchange", "C001"), text, u) is None


def test_without_a_ticket_a_wait_question_is_not_answered_about_one() -> None:
    assert follow_up(after("terminal", "balance_inquiry"), "多久轮到我", heard("out_of_scope")) \
        is None


def test_remember_keeps_the_last_business_given_and_any_rule() -> None:
    state = DialogueState()
    ticket = IssueTicket("cash", "normal", "cash_withdrawal")
    rule = remember(state, [Say("…", "zh"), AlertStaff("large_cash", "warning", "…"), ticket])
    assert rule.after == After("ticket", "cash_withdrawal", None, "large_cash")
    terminal = remember(state, [GoTerminal(TERMINAL, "balance_inquiry", ())])
    assert terminal.after == After("terminal", "balance_inquiry")
    answer = remember(state, [AnswerQuestion("定期利率？", "…", offer="time_deposit")])
    assert answer.after == After("answer", "time_deposit")
    fraud = remember(state, [IssueTicket("urgent", "urgent", "fraud_report")])
    assert fraud.after is None  # staff take over an urgent case
    assert remember(state, [Say("你好", "zh")]) is state


def test_the_policy_answers_a_follow_up_before_it_routes() -> None:
    state = replace(after("terminal", "balance_inquiry"), turns=0)
    new, actions = decide(state, "算了，还是帮我取个号吧", heard("cash_withdrawal", 0.44), POLICY)
    assert actions == [IssueTicket("personal", "normal", "balance_inquiry", ())]
    assert new.after == After("ticket", "balance_inquiry")
