"""Appointment check-in as pure policy and parsing: numbers, windows, the dialogue steps, the book file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.appointments import BookFileError, BookRules, parse_book
from edge.config import BranchConfig, ConfigError, config_from_dict
from intents.dialogue.appointment import appointment_number
from intents.dialogue.appointment_rules import AppointmentRules, Booking, classify, due_at, opens_at
from intents.dialogue.policy import (
    AlertStaff,
    CheckIn,
    DialogueState,
    IssueTicket,
    Policy,
    Say,
    ShowTicket,
    Understanding,
    decide,
)
from intents.understanding.slot_appointment import (
    find_appointment_number,
    has_appointment_cue,
    hint_matches,
    is_bare_number,
    mask_numbers,
)

POLICY = Policy(terminals=(), hours={"zh": "", "en": ""}, address={"zh": "", "en": ""})
RULES = POLICY.appointments
NOW = 1_000_000.0
DIGITS_ZH = "零一二三四五六七八九"


def u(
    intent: str = "out_of_scope",
    lang: Literal["zh", "en"] = "zh",
    unsure: bool = False,
    confidence: float = 0.95,
) -> Understanding:
    return Understanding(
        intent=intent, confidence=confidence, candidates=(intent,), unsure=unsure, language=lang
    )


def booking(**kw: Any) -> Booking:
    base: dict[str, Any] = dict(
        number="335812",
        today="2026-11-25",
        now=NOW,
        found=True,
        status="booked",
        day="2026-11-25",
        start="10:00",
        end="10:30",
        start_at=NOW - 600,
        end_at=NOW + 1200,
        service="wealth",
        intent=None,
    )
    base.update(kw)
    return Booking(**base)


# ---------------------------------------------------------------- numbers as people say them


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("我预约了，预约号A1234567", "A1234567"),
        ("我有预约 号码是 3 3 5 8 1 2", "335812"),
        ("I have an appointment, number 335812", "335812"),
        ("我预约了，号码三三五八一二", "335812"),
        ("预约号幺幺二三四五六", "1123456"),
        ("预约号是 a 1234567", "A1234567"),
        ("I have a booking, three three five eight one two", "335812"),
        ("我预约了，预约号３３５８１２", "335812"),  # full-width digits
        ("我预约了取200000元", None),  # an amount, not a booking
        ("我预约了2026-11-26", None),  # a date
        ("我预约了，手机13812345678", None),  # too long: a phone number
        ("我预约了，号码是12345", None),  # too short
    ],
)
def test_numbers_are_found_in_the_forms_customers_use(text: str, number: str | None) -> None:
    assert find_appointment_number(text, 6, 8) == number


@given(st.text(alphabet="0123456789", min_size=6, max_size=8))
def test_spoken_chinese_digits_read_as_the_printed_number(digits: str) -> None:
    spoken = "".join(DIGITS_ZH[int(d)] for d in digits).replace("一", "幺")
    assert find_appointment_number(f"我预约了，预约号{spoken}", 6, 8) == digits
    assert is_bare_number(" ".join(digits), 6, 8) == digits


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("我预约了", True),
        ("我有预约", True),
        ("我已经预约过了", True),
        ("I have an appointment", True),
        ("I've got a booking", True),
        ("I'd like to check in", True),
        ("需要预约吗", False),
        ("我想预约明天取钱", False),
        ("do I need an appointment?", False),
        ("Can I make an appointment online", False),
    ],
)
def test_the_cue_is_a_booking_made_not_a_question_about_booking(text: str, cue: bool) -> None:
    assert has_appointment_cue(text) is cue


def test_number_detection_follows_the_conversation() -> None:
    fresh = DialogueState()
    assert appointment_number(fresh, "335812", POLICY) == "335812"  # scanned or typed alone
    assert appointment_number(fresh, "我要取335812", POLICY) is None  # no cue, not alone
    asked = replace(fresh, asked="appointment")
    assert appointment_number(asked, "是3 3 5 8 1 2", POLICY) == "335812"
    amount = replace(fresh, asked="amount", pending="cash_withdrawal")
    assert appointment_number(amount, "200000", POLICY) is None  # the amount we asked for


def test_hint_and_masking() -> None:
    assert hint_matches("幺二三四", "王*1234") and hint_matches("尾号是1234", "王 1234")
    assert not hint_matches("5678", "王*1234") and not hint_matches("", "王*1234")
    assert hint_matches("我姓王", "王") and not hint_matches("我姓李", "王")
    assert mask_numbers("预约号335812，号码A023") == "预约号****12，号码A023"


# ---------------------------------------------------------------- the window


@pytest.mark.parametrize(
    ("now", "verdict"),
    [
        (NOW - 600 - 1800 - 1, "early"),
        (NOW - 600 - 1800, "due"),
        (NOW, "due"),
        (NOW + 1200 + 900, "due"),
        (NOW + 1200 + 901, "late"),
    ],
)
def test_check_in_window(now: float, verdict: str) -> None:
    assert classify(booking(now=now), RULES) == verdict


def test_verdicts_other_than_the_window() -> None:
    assert classify(booking(found=False), RULES) == "unknown"
    assert classify(booking(status="cancelled"), RULES) == "cancelled"
    assert classify(booking(status="checked_in", ticket="E001"), RULES) == "checked_in"
    assert classify(booking(day="2026-11-26"), RULES) == "other_day"
    assert classify(booking(day="2026-11-24"), RULES) == "expired"
    assert classify(booking(day="2026-11-24", status="checked_in"), RULES) == "expired"


def test_the_queue_ranks_by_the_booked_window() -> None:
    b = booking()
    assert due_at(replace(b, now=b.start_at - 900)) == b.start_at  # early: from the start
    assert due_at(b) == b.now  # inside the window: from arrival
    assert due_at(replace(b, now=b.end_at + 60)) == b.end_at
    assert opens_at(b, RULES) == "09:30"
    assert opens_at(replace(b, start="00:10"), RULES) == "00:00"


# ---------------------------------------------------------------- the dialogue steps


def test_due_booking_is_checked_in_with_the_customers_class() -> None:
    state = replace(DialogueState(), priority_class="elderly", flags=("elderly",))
    state, actions = decide(state, "我预约了，预约号335812", u(), POLICY, booking=booking())
    assert isinstance(actions[0], Say) and "签到成功" in actions[0].text
    check_in = actions[1]
    assert isinstance(check_in, CheckIn)
    assert (check_in.number, check_in.service, check_in.priority_class) == (
        "335812",
        "wealth",
        "elderly",
    )
    assert check_in.appointment_at == NOW and state.ended


def test_cue_without_number_asks_once_then_takes_the_number() -> None:
    state, actions = decide(DialogueState(), "我预约了", u(), POLICY)
    assert state.asked == "appointment" and state.followups == 1
    assert isinstance(actions[0], Say) and "预约号" in actions[0].text
    state, actions = decide(state, "三三五八一二", u(), POLICY, booking=booking())
    assert any(isinstance(a, CheckIn) for a in actions)


def test_no_number_after_two_questions_gives_a_ticket_for_what_they_want() -> None:
    state, _ = decide(DialogueState(), "我预约了开户", u("account_open"), POLICY)
    assert state.wants == "account_open"
    state, actions = decide(state, "嗯", u(), POLICY)
    assert state.asked == "appointment" and state.followups == 2
    state, actions = decide(state, "嗯嗯", u(), POLICY)
    assert actions == [IssueTicket("personal", "normal", "account_open", ())]


def test_no_number_and_nothing_else_known_calls_staff() -> None:
    state, _ = decide(DialogueState(), "我预约了", u(), POLICY)
    state, actions = decide(state, "我不记得了", u("balance_inquiry"), POLICY)
    assert isinstance(actions[0], AlertStaff) and actions[0].kind == "appointment"
    assert state.asked is None


def test_customer_who_moves_on_is_routed_normally() -> None:
    state, _ = decide(DialogueState(), "我预约了", u(), POLICY)
    state, actions = decide(state, "算了我要开户", u("account_open"), POLICY)
    assert actions == [IssueTicket("personal", "normal", "account_open", ())]


def test_early_offers_a_normal_ticket_late_gives_one_with_the_reason() -> None:
    early = booking(now=NOW - 5000)
    state, actions = decide(DialogueState(), "我预约了 335812", u(), POLICY, booking=early)
    assert isinstance(actions[0], Say) and "09:30起可以签到" in actions[0].text
    assert not state.ended
    _, actions = decide(state, "", u(), POLICY, choice="ticket")
    assert actions == [IssueTicket("wealth", "normal", None, ())]
    late = booking(now=NOW + 5000)
    state, actions = decide(
        DialogueState(), "I have an appointment 335812", u(lang="en"), POLICY, booking=late
    )
    assert isinstance(actions[0], Say) and "has passed" in actions[0].text
    assert actions[1] == IssueTicket("wealth", "normal", None, ())
    assert state.ended


def test_unknown_is_asked_again_within_the_budget_then_offered_a_ticket_or_staff() -> None:
    unknown = booking(found=False, service=None, number="555123")
    state, actions = decide(DialogueState(), "我预约了 555123", u(), POLICY, booking=unknown)
    assert state.asked == "appointment" and "没有找到预约号555123" in actions[0].text  # type: ignore[union-attr]
    state, actions = decide(state, "555124", u(), POLICY, booking=replace(unknown, number="555124"))
    assert state.asked == "appointment"
    state, actions = decide(state, "555125", u(), POLICY, booking=replace(unknown, number="555125"))
    say = actions[0]
    assert isinstance(say, Say) and state.asked is None
    assert [k for k, _ in say.choices] == ["human_agent"]  # no service known: staff only


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"status": "cancelled"}, "已经取消"),
        ({"day": "2026-11-26"}, "不是今天"),
        ({"day": "2026-11-20"}, "已经过期"),
    ],
)
def test_bookings_that_cannot_be_checked_in_say_why_and_offer_a_ticket(
    kw: dict[str, Any], words: str
) -> None:
    state, actions = decide(DialogueState(), "我预约了 335812", u(), POLICY, booking=booking(**kw))
    say = actions[0]
    assert isinstance(say, Say) and words in say.text and not state.ended
    assert [k for k, _ in say.choices] == ["ticket", "human_agent"]
    _, actions = decide(state, "取普通号", u("cash_withdrawal"), POLICY)
    assert actions == [IssueTicket("wealth", "normal", None, ())]


def test_checked_in_booking_shows_its_ticket() -> None:
    b = booking(status="checked_in", ticket="E001")
    state, actions = decide(DialogueState(), "335812", u(), POLICY, booking=b)
    assert actions[-1] == ShowTicket("E001") and state.ended


def test_hint_is_asked_when_configured() -> None:
    policy = replace(POLICY, appointments=AppointmentRules(ask_hint=True))
    b = booking(hint="王*1234")
    state, actions = decide(DialogueState(), "我预约了 335812", u(), policy, booking=b)
    assert state.asked == "hint" and "后四位" in actions[0].text  # type: ignore[union-attr]
    assert appointment_number(state, "1234", policy) is None  # the hint is not a booking number
    _, ok = decide(state, "幺二三四", u(), policy)
    assert any(isinstance(a, CheckIn) for a in ok)
    _, wrong = decide(state, "五六七八", u(), policy)
    assert isinstance(wrong[0], AlertStaff) and not any(isinstance(a, CheckIn) for a in wrong)
    _, no_hint = decide(DialogueState(), "335812", u(), policy, booking=booking())
    assert any(isinstance(a, CheckIn) for a in no_hint)


# ---------------------------------------------------------------- the book file and config

BOOK_RULES = BookRules.of(BranchConfig().queue, BranchConfig().appointments)
HEADER = "number,date,start,end,service,intent,priority_class,hint,status\n"


def test_a_good_file_parses_with_intents_mapped_to_services() -> None:
    rows = parse_book(
        HEADER + "335812,2026-11-25,10:00,10:30,wealth,,,王*1234,\n"
        "a1234567,2026-11-25,11:00,11:30,,account_open,vip,,cancelled\n",
        BOOK_RULES,
    )
    assert [(r["number"], r["service"], r["status"]) for r in rows] == [
        ("335812", "wealth", "booked"),
        ("A1234567", "personal", "cancelled"),
    ]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("33,2026-11-25,10:00,10:30,wealth,,,,", "number"),
        ("335812,2026-13-01,10:00,10:30,wealth,,,,", "date"),
        ("335812,2026-11-25,25:00,10:30,wealth,,,,", "start"),
        ("335812,2026-11-25,10:30,10:00,wealth,,,,", "end"),
        ("335812,2026-11-25,10:00,10:30,casino,,,,", "service"),
        ("335812,2026-11-25,10:00,10:30,,,,,", "service"),
        ("335812,2026-11-25,10:00,10:30,,nonsense,,,", "intent"),
        ("335812,2026-11-25,10:00,10:30,,balance_inquiry,,,", "intent"),  # self-service: no counter
        ("335812,2026-11-25,10:00,10:30,wealth,,urgent,,", "priority_class"),
        ("335812,2026-11-25,10:00,10:30,wealth,,,13812345678,", "hint"),  # not masked
        ("335812,2026-11-25,10:00,10:30,wealth,,,,maybe", "status"),
        (",2026-11-25,10:00,10:30,wealth,,,,", "number"),
    ],
)
def test_a_bad_row_names_its_line_and_field_and_nothing_is_taken(line: str, field: str) -> None:
    good = "445566,2026-11-25,09:00,09:30,fx,,,,\n"
    with pytest.raises(BookFileError) as err:
        parse_book(HEADER + good + line + "\n", BOOK_RULES, "book.csv")
    assert any(p.startswith(f"line 3, field '{field}'") for p in err.value.problems), (
        err.value.problems
    )
    assert "13812345678" not in str(err.value)  # a hint is never echoed


def test_bad_header_and_duplicate_numbers() -> None:
    with pytest.raises(BookFileError, match="line 1, field 'phone': unknown column"):
        parse_book("number,date,start,end,service,phone\n", BOOK_RULES)
    with pytest.raises(BookFileError, match="missing column"):
        parse_book("number,date,service\n", BOOK_RULES)
    with pytest.raises(BookFileError, match="line 3, field 'number': 335812 already on line 2"):
        parse_book(HEADER + "335812,2026-11-25,10:00,10:30,fx,,,,\n" * 2, BOOK_RULES)


def test_config_window_is_checked_against_the_queue(tmp_path: Path) -> None:
    assert config_from_dict(
        {"appointments": {"check_in_early_min": 45}}
    ).appointments.rules() == AppointmentRules(early_s=2700.0)
    with pytest.raises(ConfigError, match=r"appointments\.check_in_late_min"):
        config_from_dict({"appointments": {"check_in_late_min": 30}})
    with pytest.raises(ConfigError, match="number_min_chars"):
        config_from_dict({"appointments": {"number_min_chars": 9}})
