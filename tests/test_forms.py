"""The account-opening form's pure steps: field parsing, repair phrases, masking, and the flow
through the dialogue policy without a service (the running-service tests are in
test_form_conversations.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from intents.dialogue.form_fields import (
    digit_correction,
    digit_question,
    masked,
    parse_field,
    position_said,
)
from intents.dialogue.policy import (
    DialogueState,
    IssueTicket,
    Policy,
    Say,
    Understanding,
    decide,
)
from intents.dialogue.values import ShowForm
from intents.understanding.resident_id import check_char

TODAY = dt.date(2026, 12, 7)
POLICY = Policy(terminals=(), hours={"zh": "", "en": ""}, address={"zh": "", "en": ""})
FIRST17 = "44030519851120003"
GOOD = FIRST17 + check_char(FIRST17)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("第三位是几", 3),
        ("第十一位", 11),
        ("第十七位是5", 17),
        ("第3位", 3),
        ("第二十位", 20),
        ("the third digit", 3),
        ("what is the 17th digit", 17),
        ("我要开户", None),
    ],
)
def test_positions_as_customers_say_them(text: str, where: int | None) -> None:
    assert position_said(text) == where


def test_asking_about_a_digit_and_correcting_one() -> None:
    assert digit_question("第三位是几？") == 3
    assert digit_question("what's the fifth digit?") == 5
    assert digit_question("第三位是5") is None
    assert digit_correction("第三位是5") == (3, "5")
    assert digit_correction("the third digit is five") == (3, "5")
    assert digit_correction("第三位改成幺") == (3, "1")
    assert digit_correction("第三位是几") is None


def test_a_partial_repeat_replaces_only_the_named_part() -> None:
    wrong = GOOD[:10] + "13" + GOOD[12:]
    first = parse_field("id_number", wrong, TODAY)
    assert first.value is None and first.verdict is not None
    assert first.verdict.part == "birth_date"
    again = parse_field("id_number", GOOD[6:14], TODAY, draft=wrong, part="birth_date")
    assert again.value == GOOD


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("name", "我叫欧阳娜娜", "欧阳娜娜"),
        ("name", "My name is Mary Ann Lee", "Mary Ann Lee"),
        ("name", "一二三四五六七", None),
        ("address", "我住在12 Bus Stop Road", "12 Bus Stop Road"),
        ("address", "123", None),
        ("occupation", "我退休了", "retired"),
        ("occupation", "I'm a software engineer", "a software engineer"),
    ],
)
def test_fields_from_words(field: str, text: str, value: str | None) -> None:
    assert parse_field(field, text, TODAY).value == value


def test_values_are_masked_for_screen_and_speech() -> None:
    assert masked("id_number", GOOD, "zh") == "440***********" + GOOD[-4:]
    assert masked("name", "欧阳娜娜", "zh") == "欧***"
    assert masked("name", "Mary Lee", "en") == "M*** L**"
    assert masked("address", "广东省深圳市南山区科技园", "zh") == "广东省深圳市****"
    assert masked("occupation", "retired", "en") == "Retired"


def u(language: str = "zh") -> Understanding:
    return Understanding("out_of_scope", 0.3, ("out_of_scope",), False, language)  # type: ignore[arg-type]


def run(turns: list[tuple[str, str | None]], language: str = "zh") -> tuple[DialogueState, list]:  # type: ignore[type-arg]
    state = DialogueState(language=language)  # type: ignore[arg-type]
    actions: list = []  # type: ignore[type-arg]
    for text, choice in turns:
        state, actions = decide(state, text, u(language), POLICY, choice, None, TODAY)
    return state, actions


def test_an_address_with_stop_in_it_does_not_cancel_the_form() -> None:
    state, _ = run(
        [
            ("fill in the form", None),
            (GOOD, None),
            ("13812345678", None),
            ("Mary Lee", None),
            ("12 Bus Stop Road", None),
        ],
        "en",
    )
    assert state.form is not None and state.form.asking == "occupation"


def test_confirmed_in_words_gives_the_ticket_and_forgets_the_values() -> None:
    state, actions = run(
        [
            ("我要填开户资料", None),
            (GOOD, None),
            ("13812345678", None),
            ("王芳", None),
            ("广东省深圳市南山区科技园", None),
            ("学生", None),
            ("确认", None),
        ]
    )
    assert state.form is None and state.ended
    assert [a.intent for a in actions if isinstance(a, IssueTicket)] == ["account_open"]
    [card] = [a for a in actions if isinstance(a, ShowForm)]
    assert card.done


def test_a_change_during_the_read_back_asks_that_field_again() -> None:
    state, actions = run(
        [
            ("我要填开户资料", None),
            (GOOD, None),
            ("13812345678", None),
            ("王芳", None),
            ("广东省深圳市南山区科技园", None),
            ("学生", None),
            ("手机号错了", None),
        ]
    )
    assert state.form is not None and state.form.asking == "mobile"
    assert "手机号" in next(a.text for a in actions if isinstance(a, Say))
