"""Dialogue policy: conversation state + understanding in, actions out. Pure and synchronous.

The session in `edge/` carries the actions out (issues tickets, alerts staff, speaks).
Channel per intent comes from the taxonomy: self-service intents are offered a terminal
first, counter intents get a ticket with the customer's priority class, fraud is urgent,
unsure routing asks one short question, and repeated failure hands over to staff.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal

from intents.dialogue import care, followup, forms, repair, risk_turns, wealth
from intents.dialogue.appointment_rules import Booking
from intents.dialogue.phrases import (
    BRING,
    COURTESY,
    END_PHRASES,
    NO_MACHINE,
    TICKET_PHRASES,
    clarify_question,
    handover_text,
    refusal_text,
    t,
)
from intents.dialogue.values import (
    Action,
    AlertStaff,
    AnswerQuestion,
    CancelTicket,
    CheckIn,
    DialogueState,
    GoTerminal,
    IssueTicket,
    Lang,
    Policy,
    Say,
    ShowTicket,
    Terminal,
    Understanding,
)
from intents.guardrails.scam import ScamFinding
from intents.guardrails.verdict import assess_words
from intents.understanding.catalog import INTENTS, IntentInfo

__all__ = [  # the values live in values.py; importers keep using this module
    "Action",
    "AlertStaff",
    "AnswerQuestion",
    "CancelTicket",
    "CheckIn",
    "DialogueState",
    "GoTerminal",
    "IssueTicket",
    "Lang",
    "Policy",
    "Say",
    "ShowTicket",
    "Terminal",
    "Understanding",
    "decide",
    "is_question",
    "priority_from_words",
]

MAX_FAILURES = 3
CARE_PATTERNS = (
    (re.compile(r"怀孕|孕妇|pregnan", re.I), "pregnant"),
    (re.compile(r"残疾|轮椅|disab|wheelchair", re.I), "disabled"),
    (re.compile(r"[七八九]十多?岁?了|[七八九]十好几|老年人|年纪大|I'?m (?:over )?[789]\d\b|elderly|senior",
                re.I), "elderly"),
)
VIP_PATTERN = re.compile(r"VIP|贵宾|金卡|白金卡|私人银行", re.I)


QUESTION = re.compile(
    r"[?？]\s*$|吗[？?。]?\s*$|多少|几点|什么|什么时候|怎么|如何|哪些|哪里|有没有|是不是|能不能"
    r"|可以.{0,8}吗|请问|想问|问一下|咨询"
    r"|^\W*(?:what|how|when|where|which|who|why|can|could|do|does|is|are)\b", re.I)
REQUEST = re.compile(r"^\W*(?:你好|您好|hi|hello)?\W*(?:我要|我想(?!问)|帮我|给我|想办|要办|我来"
                     r"|i (?:want|need|would like|'d like)\b)", re.I)


HOURS_OR_PLACE = re.compile(r"几点|营业时间|上班|下班|开门|关门|周末|地址|在哪|怎么走|哪里"
                            r"|hour|open|close|weekend|address|where", re.I)


def is_question(text: str) -> bool:
    """An information question ('定期利率多少？'), not a request to do something ('我要存定期')."""
    return bool(QUESTION.search(text.strip())) and not REQUEST.search(text)




def priority_from_words(text: str) -> tuple[str | None, tuple[str, ...]]:
    """Priority class the customer states about themselves ("我是VIP", "我怀孕了")."""
    flags = tuple(flag for pattern, flag in CARE_PATTERNS if pattern.search(text))
    if flags:
        return "care", flags
    if VIP_PATTERN.search(text):
        return "vip", ()
    return None, ()


def _terminal_for(policy: Policy, intent: str, amount: Decimal | None) -> Terminal | None:
    for term in policy.terminals:
        if intent not in term.intents:
            continue
        if (intent == "cash_withdrawal" and amount is not None
                and amount > term.cash_withdrawal_limit_cny):
            continue
        return term
    return None


def _amount(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value is not None else None
    except ArithmeticError:
        return None


def _nameable(candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The 2-4 intents a clarifying question can name ('something else' is not one)."""
    return tuple(c for c in candidates if c != "out_of_scope")[:4]


def _best_offered(u: Understanding, offered: tuple[str, ...]) -> str | None:
    """A free reply ("买房子的") picks the offered intent the router scores clearly highest."""
    scores = dict(zip(u.candidates, u.scores, strict=False))
    ranked = sorted(((scores.get(i, 0.0), i) for i in offered), reverse=True)
    if len(ranked) < 2:
        return None
    (best, intent), (second, _) = ranked[0], ranked[1]
    return intent if best >= 0.3 and best >= 2 * second else None


def _remember_slots(state: DialogueState, slots: dict[str, Any]) -> DialogueState:
    amount, currency = slots.get("amount"), slots.get("currency")
    return replace(state, amount=str(amount) if amount is not None else state.amount,
                   currency=str(currency) if currency is not None else state.currency)


def _ask(state: DialogueState, intent: str,
         what: Literal["amount", "currency"]) -> tuple[DialogueState, list[Action]]:
    """One follow-up question at a time, at most `max_followups` per conversation."""
    lang = state.language
    state = replace(state, pending=intent, asked=what, followups=state.followups + 1)
    return state, [Say(t(f"ask_{what}", lang), lang)]


def _follow_up(state: DialogueState, u: Understanding,
               policy: Policy) -> tuple[DialogueState, list[Action]] | None:
    """The customer's answer to our question; None when they moved on to something else."""
    assert state.pending is not None
    answered = (state.amount if state.asked == "amount" else state.currency) is not None
    moved_on = (not answered and not u.unsure and u.intent not in (state.pending, "out_of_scope")
                and u.confidence >= 0.8)
    if moved_on:
        return None
    intent = state.pending
    what: Literal["amount", "currency"] = "currency" if state.asked == "currency" else "amount"
    state = replace(state, pending=None, asked=None)
    if not answered and state.followups < policy.max_followups:
        return _ask(state, intent, what)
    # Answered, or asked enough: go on with what we have (a ticket at worst).
    state = replace(state, followups=policy.max_followups)
    return _act_on(state, intent, u, policy, "")


def decide(state: DialogueState, text: str, u: Understanding, policy: Policy,
           choice: str | None = None,
           booking: Booking | None = None,
           today: dt.date | None = None) -> tuple[DialogueState, list[Action]]:
    """Next state and actions for one customer turn; never an endless loop of chatter.

    `booking` is the appointment book's answer for the number that
    `appointment.appointment_number` found in this turn; `today` is the branch's date (forms
    read ages from birth dates)."""
    lang = u.language if re.search(r"[^\W\d_]", text) else state.language
    form = forms.form_turn(replace(state, language=lang, turns=state.turns + 1), text, choice,
                           policy, today)
    if form is not None:
        return care.attend(replace(form[0], idle_turns=0), text, u, form[1])
    state, actions = _decide_turn(state, text, u, policy, choice, booking)
    return care.attend(state, text, u, actions)


def _decide_turn(state: DialogueState, text: str, u: Understanding, policy: Policy,
                 choice: str | None, booking: Booking | None) -> tuple[DialogueState, list[Action]]:
    asked_among = state.clarifying
    state, actions = _decide(state, text, u, policy, choice, booking)
    state = repair.guessed(state, actions, asked_among or u.candidates)
    state = followup.remember(state, actions)
    state, actions = repair.cancel_replaced(state, actions)
    progress = state.ended or any(
        isinstance(a, IssueTicket | GoTerminal | AlertStaff | AnswerQuestion | CheckIn
                   | ShowTicket) for a in actions)
    if progress:
        return replace(state, idle_turns=0), actions
    if state.idle_turns + 1 >= policy.max_turns_without_progress:
        lang = state.language
        return replace(state, idle_turns=0, failures=0, clarifying=(), pending=None,
                       asked=None), [AlertStaff("handover", "info", t("alert_handover", "zh")),
                                     Say(handover_text(lang), lang)]
    return replace(state, idle_turns=state.idle_turns + 1), actions


def _is_goodbye(text: str) -> bool:
    """'没事了', 'that's all, thanks': the whole turn is a goodbye, not part of a request."""
    def words(s: str) -> str:
        return re.sub(r"[\s\W_]+", " ", s).strip()

    said = text.lower()
    if words(said) in END_PHRASES:  # "no, thanks" (before "thanks" is taken as a filler)
        return True
    for filler in COURTESY:
        said = said.replace(filler, " ")
    return words(said) in END_PHRASES


def _decide(state: DialogueState, text: str, u: Understanding, policy: Policy,
            choice: str | None, booking: Booking | None) -> tuple[DialogueState, list[Action]]:
    # A turn of digits alone ("335812", "20000") says nothing about the customer's language.
    lang = u.language if re.search(r"[^\W\d_]", text) else state.language
    state = replace(state, language=lang, turns=state.turns + 1)
    said = text.strip().lower()
    cls, flags = priority_from_words(text)
    if cls == "care":
        state = replace(state, priority_class=policy.care_class,
                        flags=tuple(dict.fromkeys(state.flags + flags)))
    elif cls == "vip" and state.priority_class == "normal":
        state = replace(state, priority_class=policy.vip_class)

    if (cls is not None and u.intent == "out_of_scope" and state.pending is None
            and not state.clarifying):
        return state, [Say(t("noted_priority", lang), lang)]

    scam = assess_words(text, policy.guardrails) if choice is None else None
    if scam is not None:  # before anything else: the customer may be about to lose money
        return risk_turns.intervene(state, scam)

    if choice == "end" or _is_goodbye(text):
        return replace(state, ended=True), [Say(t("goodbye", lang), lang, ends_session=True)]

    state = wealth.remember_tolerance(state, text)
    assessment = wealth.assessment_turn(state, choice)
    if assessment is not None:
        return assessment

    if state.last_guess is not None and choice is None:
        rest = repair.split_correction(text)
        if rest is not None:  # "不对，…": `u` is the understanding of the rest alone
            state, answer = repair.repair(state, rest, u)
            if answer is not None:
                return state, answer
            text = rest

    if state.after is not None and choice is None:
        answered = followup.follow_up(state, text, u)
        if answered is not None:
            return answered

    from intents.dialogue.take_ticket import take_ticket_turn

    taken = take_ticket_turn(state, text, choice, policy, lang)  # "take a ticket" at any time
    if taken is not None:
        return taken

    if state.offered and (choice == "ticket" or u.intent == "human_agent"
                          or any(p in said for p in TICKET_PHRASES)):
        return _ticket_or_staff(state, state.offered, lang)

    from intents.dialogue import appointment as appt

    handled = appt.appointment_turn(state, text, u, policy, choice, booking)
    if handled is not None:
        return handled
    if state.asked in ("appointment", "hint"):  # the customer moved on to something else
        state = replace(state, asked=None, booking=None)

    if not u.unsure and u.source == "router" and len(u.candidates) >= 2 and (
            u.confidence < policy.min_confidence
            or (u.intent in policy.high_impact
                and u.confidence < policy.high_impact_min_confidence)):
        u = replace(u, unsure=True)
    state = _remember_slots(state, u.slots)
    if state.pending is not None:
        followed = _follow_up(state, u, policy)
        if followed is not None:
            return followed
        state = replace(state, pending=None, asked=None)

    intent = u.intent
    if state.clarifying:
        picked = choice if choice in state.clarifying else None
        if picked is None and not u.unsure and u.intent in state.clarifying:
            picked = u.intent
        if picked is None:
            from intents.understanding.router_clarify import resolve_clarification

            picked = resolve_clarification(text, list(state.clarifying), lang)
        if picked is None:
            picked = _best_offered(u, state.clarifying)
        if picked is not None:
            intent = picked
            state = replace(state, clarifying=())
        elif u.unsure:
            return _fail(replace(state, clarifying=()), lang, policy)
        else:
            state = replace(state, clarifying=())
    elif choice in INTENTS:
        intent = choice
    elif u.unsure and len(named := _nameable(u.candidates)) >= 2:
        if state.failures + 1 >= MAX_FAILURES:
            return _fail(state, lang, policy)  # asked enough: a person takes over
        candidates = named
        question, choices = clarify_question(candidates, lang)
        # Not understood at once: it counts towards the handover after repeated failures.
        state = replace(state, clarifying=candidates, failures=state.failures + 1)
        return state, [Say(question, lang, choices=choices)]

    return _act_on(state, intent, u, policy, text)


def _act_on(state: DialogueState, intent: str, u: Understanding, policy: Policy,
            text: str) -> tuple[DialogueState, list[Action]]:
    lang = state.language
    info: IntentInfo = INTENTS[intent]
    if intent == "out_of_scope":
        return _fail(state, lang, policy)
    state = replace(state, failures=0)
    if intent == "branch_info":
        fixed = t("branch_info", lang, hours=policy.hours[lang], address=policy.address[lang])
        if HOURS_OR_PLACE.search(text):  # the branch's own settings, not a document search
            return state, [Say(fixed, lang)]
        return state, [AnswerQuestion(text, fixed)]
    suitability = wealth.suitability_turn(state, intent, text, policy)
    if suitability is not None:  # never recommended above the customer's tolerance
        return suitability
    if info.service is not None and is_question(text):
        # A question about a product or rule: answer it, and offer the counter.
        state = replace(state, offered=intent)
        return state, [AnswerQuestion(text, t("ask_staff", lang), offer=intent)]
    if intent == "human_agent":
        return state, [AlertStaff("human_agent", "info", t("alert_human", "zh")),
                       Say(t("staff_coming", lang), lang)]
    if intent == "complaint":
        return state, [AlertStaff("complaint", "warning", t("alert_complaint", "zh", text=text)),
                       Say(t("complaint_taken", lang), lang)]
    if intent == "fraud_report":  # the router's (or LLM tier's) reading: the same intervention
        return risk_turns.intervene(state, ScamFinding("reported", source=u.source))
    state, risk = risk_turns.large_value(state, intent, policy)
    if risk is not None:
        return state, risk
    may_ask = state.followups < policy.max_followups
    if intent == "cash_withdrawal" and state.amount is None and may_ask:
        return _ask(state, intent, "amount")
    if intent == "foreign_exchange" and state.currency is None and may_ask:
        return _ask(state, intent, "currency")
    no_machine = any(p in text.lower() for p in NO_MACHINE)
    if info.self_service and not no_machine:
        terminal = _terminal_for(policy, intent, _amount(state.amount))
        if terminal is not None:
            bring = tuple(BRING.get(intent, {}).get(lang, ()))
            state = replace(state, offered=intent)
            choices = (("ticket", t("choice_ticket", lang)), ("end", t("choice_ok", lang)))
            return state, [GoTerminal(terminal, intent, bring),
                           Say(t("go_terminal", lang, terminal=terminal.name[lang],
                                 location=terminal.location[lang],
                                 bring="、".join(bring) if lang == "zh" else ", ".join(bring)),
                               lang, choices=choices)]
    return _ticket_or_staff(state, intent, lang)


def _ticket_or_staff(state: DialogueState, intent: str,
                     lang: Lang) -> tuple[DialogueState, list[Action]]:
    service = INTENTS[intent].service
    if service is None or service == "self":
        return replace(state, offered=None), [
            AlertStaff("assist", "info", t("alert_assist", "zh", intent=INTENTS[intent].label_zh)),
            Say(t("staff_coming", lang), lang)]
    return replace(state, offered=None, ended=True), [
        IssueTicket(service, state.priority_class, intent, state.flags)]


def _fail(state: DialogueState, lang: Lang, policy: Policy) -> tuple[DialogueState, list[Action]]:
    failures = state.failures + 1
    if failures >= MAX_FAILURES:
        return replace(state, failures=0, clarifying=()), [
            AlertStaff("handover", "info", t("alert_handover", "zh")),
            Say(handover_text(lang), lang)]
    return replace(state, failures=failures), [Say(refusal_text(lang), lang)]
