"""The dialogue's appointment check-in steps: ask for the number, act on what the book says.

Pure like the rest of the policy. The session looks a number up (see
`dialogue.appointment_number`) and passes the `Booking` in; these steps turn it into a
check-in, the customer's existing ticket, a normal ticket with the reason, or an offer of a
normal ticket or staff. One question at a time, within the conversation's follow-up budget.
"""

from __future__ import annotations

from dataclasses import replace

from intents.dialogue.appointment_rules import Booking, classify, due_at, opens_at
from intents.dialogue.phrases import TICKET_PHRASES, t
from intents.dialogue.policy import (
    Action,
    AlertStaff,
    CheckIn,
    DialogueState,
    IssueTicket,
    Policy,
    Say,
    ShowTicket,
    Understanding,
    _ticket_or_staff,
)
from intents.understanding.catalog import INTENTS
from intents.understanding.slot_appointment import (
    beyond_no_number,
    find_appointment_number,
    has_appointment_cue,
    hint_matches,
    is_bare_number,
    says_no_number,
)

Step = tuple[DialogueState, list[Action]]


def appointment_number(state: DialogueState, text: str, policy: Policy) -> str | None:
    """The appointment number this turn carries, for the session to look up in the book.

    Only where the customer means one: after we asked for it, next to "我预约了 / I have an
    appointment", or as the whole turn (typed, or sent by the kiosk's scanner) unless we
    asked for an amount."""
    rules = policy.appointments
    if state.asked in ("amount", "hint"):
        return None
    if state.asked == "appointment" or has_appointment_cue(text):
        return find_appointment_number(text, rules.min_chars, rules.max_chars)
    return is_bare_number(text, rules.min_chars, rules.max_chars)


def appointment_turn(
    state: DialogueState,
    text: str,
    u: Understanding,
    policy: Policy,
    choice: str | None,
    booking: Booking | None,
) -> Step | None:
    """This turn's appointment step, or None when the turn is about something else."""
    if booking is not None:
        return _on_booking(replace(state, wants=_wants(state, u, policy)), booking, policy)
    if state.asked == "hint":
        return _hint_answer(state, text)
    said = text.strip().lower()
    if (
        state.booking is not None
        and state.asked is None
        and (
            choice == "ticket"
            or any(p in said for p in (*TICKET_PHRASES, "普通号", "normal ticket"))
        )
    ):
        return _normal_ticket(state, state.booking, [])
    if state.asked == "appointment":
        return _no_number_given(state, text, u, policy, choice)
    if has_appointment_cue(text) and state.followups < policy.max_followups:
        state = replace(state, wants=_wants(state, u, policy))
        return _ask(state, "ask_appointment_number")
    return None


def _wants(state: DialogueState, u: Understanding, policy: Policy) -> str | None:
    """A counter intent the customer named next to their appointment, kept for a fallback."""
    service = INTENTS[u.intent].service if u.intent in INTENTS else None
    if u.unsure or service is None or u.confidence < policy.min_confidence:
        return state.wants
    return u.intent


def _ask(state: DialogueState, key: str, **values: object) -> Step:
    lang = state.language
    state = replace(state, asked="appointment", pending=None, followups=state.followups + 1)
    return state, [
        Say(t(key, lang, **values), lang, choices=(("no_number", t("choice_no_number", lang)),))
    ]


def _offers(state: DialogueState, booking: Booking | None) -> tuple[tuple[str, str], ...]:
    """Buttons after a booking that cannot be checked in: a normal ticket if we know for what."""
    lang = state.language
    staff = ("human_agent", t("choice_staff", lang))
    if _service(state, booking) is None:
        return (staff,)
    return (("ticket", t("choice_normal_ticket", lang)), staff)


def _service(state: DialogueState, booking: Booking | None) -> str | None:
    if booking is not None and booking.service:
        return booking.service
    service = INTENTS[state.wants].service if state.wants else None
    return None if service in (None, "self") else service


def _on_booking(state: DialogueState, booking: Booking, policy: Policy) -> Step:
    rules = policy.appointments
    lang = state.language
    verdict = classify(booking, rules)
    state = replace(state, asked=None, booking=None, pending=None, failures=0)
    shown = {"number": booking.number, "window": booking.window, "day": booking.day}
    if verdict == "due":
        if rules.ask_hint and booking.hint:
            if state.followups >= policy.max_followups:
                return _staff(state, "alert_appointment_help", "no_number_staff")
            return replace(state, asked="hint", booking=booking, followups=state.followups + 1), [
                Say(t("ask_hint", lang), lang)
            ]
        return _check_in(state, booking)
    if verdict == "checked_in":
        return replace(state, ended=True), [
            Say(t("already_checked_in", lang), lang),
            ShowTicket(booking.ticket or ""),
        ]
    if verdict == "late":
        return _normal_ticket(state, booking, [Say(t("appointment_late", lang, **shown), lang)])
    if verdict == "unknown" and state.followups < policy.max_followups:
        return _ask(state, "appointment_unknown", number=booking.number)
    if verdict == "early":
        text = t("appointment_early", lang, opens=opens_at(booking, rules), **shown)
        choices = (
            ("ticket", t("choice_normal_ticket", lang)),
            ("end", t("choice_come_back", lang)),
        )
        return replace(state, booking=booking), [Say(text, lang, choices=choices)]
    key = "appointment_unknown_final" if verdict == "unknown" else f"appointment_{verdict}"
    return replace(state, booking=booking), [
        Say(t(key, lang, **shown), lang, choices=_offers(state, booking))
    ]


def _check_in(state: DialogueState, booking: Booking) -> Step:
    lang = state.language
    assert booking.service is not None  # the book never holds a booking without a service
    return replace(state, ended=True), [
        Say(t("checked_in", lang, window=booking.window), lang),
        CheckIn(
            number=booking.number,
            service=booking.service,
            intent=booking.intent,
            appointment_at=due_at(booking),
            priority_class=state.priority_class,
            booked_class=booking.priority_class,
            flags=state.flags,
        ),
    ]


def _normal_ticket(state: DialogueState, booking: Booking | None, said: list[Action]) -> Step:
    """A walk-in ticket for the booked service (or what the customer came for), else staff."""
    service = _service(state, booking)
    if service is None:
        return _staff(state, "alert_appointment_help", "no_number_staff")
    intent = booking.intent if booking is not None and booking.service else state.wants
    return replace(state, ended=True, booking=None), [
        *said,
        IssueTicket(service, state.priority_class, intent, state.flags),
    ]


def _staff(state: DialogueState, alert: str, say: str) -> Step:
    lang = state.language
    return replace(state, asked=None, booking=None), [
        AlertStaff("appointment", "info", t(alert, "zh")),
        Say(t(say, lang), lang),
    ]


def _hint_answer(state: DialogueState, text: str) -> Step:
    booking = state.booking
    state = replace(state, asked=None, booking=None)
    if booking is not None and booking.hint and hint_matches(text, booking.hint):
        return _check_in(state, booking)
    return _staff(state, "alert_appointment_hint", "hint_mismatch")


def _no_number_given(
    state: DialogueState, text: str, u: Understanding, policy: Policy, choice: str | None
) -> Step | None:
    """We asked for the number and this turn carries none."""
    moved_on = (
        not u.unsure
        and u.intent != "out_of_scope"
        and u.confidence >= 0.8
        and not has_appointment_cue(text)
    )
    if choice == "no_number" or says_no_number(text):
        if moved_on and beyond_no_number(text):
            return None  # "没有，我要开户": route what they want
        state = replace(state, asked=None)
        if state.wants is not None:
            return _ticket_or_staff(state, state.wants, state.language)
        return _staff(state, "alert_appointment_help", "no_number_staff")
    if moved_on:
        return None
    if state.followups < policy.max_followups:
        return _ask(state, "ask_appointment_again")
    state = replace(state, asked=None)
    if state.wants is not None:
        return _ticket_or_staff(state, state.wants, state.language)
    return _staff(state, "alert_appointment_help", "no_number_staff")
