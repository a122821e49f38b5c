"""The conversation core: one kiosk's turns as values in, a plan out. Pure and synchronous.

Sans-I/O, in the manner of the websockets library's protocol: the shell (`edge/sessions.py`)
hands a turn to `prepare`, gathers the facts the returned `Prepared` asks for (the router's
understanding of `route_text`, the LLM tier's pick when `wants_second_tier`, the appointment
book's answer for `booking_number`), asks `decide` once, carries out the `Decision`'s
actions and then `commit`s it. The core never awaits, sleeps, reads a clock or touches a
socket, and the dialogue state only moves at `commit`, so a refused turn leaves the
conversation exactly where it was. Text and voice turns take this one path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from zoneinfo import ZoneInfo

from devices.branch_payloads import FormField, FormOption
from devices.kiosk_messages import Choice, FormCard, GoToTerminal, KioskContext, Reply, TicketIssued
from devices.protocol import ProtocolError
from edge.queue.model import TicketView
from edge.queue.settings import QueueSettings
from intents.dialogue.appointment import appointment_number
from intents.dialogue.appointment_rules import Booking
from intents.dialogue.form_fields import DIGIT_FIELDS, FIELDS, LABELS, OCCUPATIONS, masked
from intents.dialogue.phrases import label, t
from intents.dialogue.policy import (
    Action,
    AlertStaff,
    AnswerQuestion,
    DialogueState,
    GoTerminal,
    Lang,
    Policy,
    Say,
    Understanding,
    decide,
)
from intents.dialogue.repair import split_correction
from intents.dialogue.values import ShowForm
from intents.guardrails.masking import mask_pii
from intents.guardrails.suitability import tolerance_level
from intents.understanding.slot_appointment import mask_numbers

Channel = Literal["text", "voice"]
NAMED_COUNTERS = 3  # a ticket reply names the counters only when this few serve it
PRIVATE_ASKS = ("appointment", "hint")  # answers to these stay out of transcripts and logs


@dataclass(frozen=True)
class TurnInput:
    """A customer turn as the kiosk gave it: typed or touched text, or a final transcript."""

    text: str
    channel: Channel
    language: str | None = None  # the kiosk's or the recogniser's, when it knows
    choice: str | None = None  # key of a button from the previous reply
    ref: str | None = None  # the kiosk's message id, echoed on everything this turn sends


@dataclass(frozen=True)
class Prepared:
    """A turn accepted for work, and what the shell must find out before it is decided."""

    turn: int
    generation: int  # the conversation it belongs to (a reset starts a new one)
    input: TurnInput
    state: DialogueState  # the state the turn starts from
    today: dt.date  # the branch's date when the turn came (ages on birth dates)
    route_text: str  # what the router should read ("不对，我要换美元" -> "我要换美元")
    booking_number: str | None  # an appointment number to look up in the book


@dataclass(frozen=True)
class Decision:
    """What one turn decided: the state it leads to and the actions to carry out."""

    prepared: Prepared
    understood: Understanding
    state: DialogueState
    actions: tuple[Action, ...]
    private: bool  # the turn carried an appointment number or booking hint
    form_field: str | None = None  # the form field this turn answered (its words stay out of logs)

    @property
    def language(self) -> Lang:
        return self.state.language

    @property
    def speaks_answer(self) -> bool:
        """An answer from the model is spoken sentence by sentence as it is written."""
        return any(isinstance(a, AnswerQuestion) for a in self.actions)

    @property
    def interruptible(self) -> bool:
        """Anti-fraud and compliance warnings always play to the end."""
        return all(a.interruptible for a in self.actions if isinstance(a, Say))

    @property
    def expression(self) -> Literal["concerned"] | None:
        """An upset or confused customer, or a warning, gets a concerned face
        (intents/dialogue/care.py)."""
        return "concerned" if self.state.mood != "calm" or not self.interruptible else None

    @property
    def warning(self) -> str | None:
        """The rule behind an uninterruptible warning ("scam", "large_cash"...), if any."""
        if self.interruptible:
            return None
        return self.state.risks[-1].split(":")[1] if self.state.risks else "compliance"

    @property
    def expects_digits(self) -> bool:
        """The next turn is a number being dictated: the endpointer allows longer pauses."""
        form = self.state.form
        return (self.state.asked in ("amount", "appointment", "hint")
                or (form is not None and form.asking in ("id_number", "mobile")))

    def customer_log_text(self) -> str:
        """The customer's words as they may be stored: identifiers masked; a form's answers
        not at all (a name or an address is not a pattern a mask can find)."""
        if self.form_field is not None:
            return f"[form: {self.form_field}]"
        masked = mask_pii(self.prepared.input.text)
        return mask_numbers(masked, 4) if self.private else masked

    def reply_log_text(self, said: str) -> str:
        """The reply as it may be stored."""
        return mask_numbers(mask_pii(said)) if self.private else mask_pii(said)


@dataclass
class ReplyParts:
    """What the carried-out actions add to the single `reply` that closes the turn."""

    texts: list[str] = field(default_factory=list)
    choices: list[tuple[str, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ends: bool = False
    kept: bool = False  # the ticket to replace could not be withdrawn: issue no other
    issued: list[tuple[str | None, str]] = field(default_factory=list)  # (intent, number)
    verify: list[AlertStaff] = field(default_factory=list)  # raised once the ticket is issued

    def joined(self, language: Lang) -> str:
        return " ".join(self.texts) if language == "en" else "".join(self.texts)


class Conversation:
    """One kiosk's conversation state, advanced only by committed turns."""

    def __init__(self, policy: Policy, default_language: str, max_text_chars: int,
                 correction_window_s: float, new_id: Callable[[], str],
                 followup_window_s: float = 120.0) -> None:
        self.policy = policy
        self.default_language = default_language
        self.max_text_chars = max_text_chars
        self.correction_window_s = correction_window_s
        self.followup_window_s = followup_window_s
        self.new_id = new_id
        self.context = KioskContext()
        self.state = DialogueState(language=_lang(default_language))
        self.turn = 0
        self.generation = 0
        self.conversation = new_id()
        self.last_activity = 0.0
        self.guess_until = 0.0  # the last ticket or terminal can be corrected until then
        self.after_until = 0.0  # follow-up questions about it are understood until then

    # ------------------------------------------------------------ what the kiosk says

    def on_context(self, context: KioskContext, now: float) -> None:
        """Flags the kiosk knows (elderly mode, VIP card, preferred language)."""
        self.context = context
        self.last_activity = now

    def reset(self, keep_guess: bool = False) -> None:
        """Forget the customer; with `keep_guess`, what they were given stays open to a
        correction and to follow-up questions for a while."""
        lang = self.context.language or self.default_language
        guess = self.state.last_guess if keep_guess else None
        after = self.state.after if keep_guess else None
        # The visit's requests stay while the customer is still at the kiosk (structuring).
        visit = self.state.visit if keep_guess else ()
        self.state = DialogueState(language=_lang(lang), last_guess=guess, after=after,
                                   visit=visit)
        self.context = KioskContext()
        self.conversation = self.new_id()
        self.generation += 1

    def idle(self, now: float, timeout_s: float) -> bool:
        """A conversation with turns that nobody continued for `timeout_s`."""
        return self.state.turns > 0 and now - self.last_activity > timeout_s

    # ------------------------------------------------------------ one turn

    def prepare(self, turn: TurnInput, now: float) -> Prepared:
        """Accept a turn (or refuse it with a ProtocolError; nothing changes then)."""
        if len(turn.text) > self.max_text_chars:
            raise ProtocolError("text_too_long", f"Text turns are limited to "
                                f"{self.max_text_chars} characters; this one had "
                                f"{len(turn.text)}.", turn.ref, refusal=True)
        self.turn += 1  # numbers every turn's messages, refused or not
        self.last_activity = now
        state = self.state
        if state.last_guess is not None and now > self.guess_until:
            state = replace(state, last_guess=None)
        if state.after is not None and now > self.after_until:
            state = replace(state, after=None)
        # "不对，我是要换外币": the router hears the request without the correction words.
        rest = split_correction(turn.text) if state.last_guess is not None else None
        number = None if state.form is not None else appointment_number(state, turn.text,
                                                                           self.policy)
        today = dt.datetime.fromtimestamp(now, ZoneInfo(self.policy.timezone)).date()
        return Prepared(turn=self.turn, generation=self.generation, input=turn, state=state,
                        today=today, route_text=rest or turn.text, booking_number=number)

    @staticmethod
    def wants_second_tier(p: Prepared, u: Understanding) -> bool:
        """The LLM tier chooses among close candidates before the customer is asked; a turn that
        may be a fraud report (fraud among the others) is always asked, never picked away."""
        return (u.unsure and not p.state.clarifying and p.state.form is None
                and "fraud_report" not in u.candidates[1:])

    @staticmethod
    def second_tier_offer(u: Understanding) -> list[tuple[str, str]]:
        """The candidates as the LLM tier sees them: intent ids with their labels."""
        return [(c, label(c, u.language)) for c in u.candidates]

    @staticmethod
    def with_pick(u: Understanding, pick: str | None) -> Understanding:
        """The LLM tier's choice, when it made one among the candidates."""
        if pick is None or pick not in u.candidates:
            return u
        return replace(u, intent=pick, unsure=False, source="llm")

    def decide(self, p: Prepared, understood: Understanding,
               booking: Booking | None) -> Decision:
        """The policy's one pass over the turn with everything it needs."""
        if p.input.language in ("zh", "en"):
            understood = replace(understood, language=_lang(p.input.language))
        start = p.state
        known = tolerance_level(self.context.risk_tolerance)
        if start.risk_tolerance is None and known is not None:
            start = replace(start, risk_tolerance=known)
        state, actions = decide(start, p.input.text, understood, self.policy, p.input.choice,
                                booking, p.today)
        private = (p.state.asked in PRIVATE_ASKS or booking is not None
                   or state.asked in PRIVATE_ASKS)
        form = p.state.form
        field = (form.asking or "confirm") if form is not None else None
        return Decision(prepared=p, understood=understood, state=state,
                        actions=tuple(actions), private=private, form_field=field)

    def commit(self, d: Decision, parts: ReplyParts, now: float) -> bool:
        """The turn was carried out: the conversation moves on. Returns True when it ended
        (the next customer starts afresh). A turn from before a reset changes nothing."""
        if d.prepared.generation != self.generation:
            return False
        state = d.state
        guess, after = state.last_guess, state.after
        for intent, number in parts.issued:
            if guess is not None and guess.intent == intent and guess.ticket is None:
                guess = replace(guess, ticket=number)
                state = replace(state, last_guess=guess)
            if after is not None and after.intent == intent and after.ticket is None:
                after = replace(after, ticket=number)
                state = replace(state, after=after)
        if state.last_guess is not None and d.state.last_guess is not d.prepared.state.last_guess:
            self.guess_until = now + self.correction_window_s
        if state.after is not None and d.state.after is not d.prepared.state.after:
            self.after_until = now + self.followup_window_s
        self.state = state
        self.last_activity = now
        if state.ended or parts.ends:
            self.reset(keep_guess=True)
            return True
        return False

    # ------------------------------------------------------------ what the kiosk is sent

    def reply(self, d: Decision, parts: ReplyParts) -> Reply:
        """The one `reply` that closes a carried-out turn."""
        lang = d.language
        return Reply(id=d.prepared.input.ref, turn=d.prepared.turn, text=parts.joined(lang),
                     language=lang, intent=d.understood.intent,
                     confidence=round(d.understood.confidence, 4),
                     choices=[Choice(key=k, label=v) for k, v in parts.choices],
                     sources=parts.sources, large_text=self.elderly or d.state.elderly_mode,
                     ends_session=d.state.ended or parts.ends, expression=d.expression,
                     interruptible=d.interruptible, warning=d.warning)

    @property
    def elderly(self) -> bool:
        """Slower speech and large text: the kiosk's switch, or accepted in a form."""
        return self.context.elderly or self.state.elderly_mode

    def priority(self, action_flags: Sequence[str],
                 priority_class: str) -> tuple[list[str], str | None]:
        """Flags and VIP tier for a ticket: the policy's and what the kiosk knows."""
        flags = set(action_flags)
        for flag in ("elderly", "disabled", "pregnant"):
            if getattr(self.context, flag):
                flags.add(flag)
        vip = self.context.vip or (priority_class if priority_class.startswith("vip") else None)
        return sorted(flags), vip


def go_terminal(action: GoTerminal, turn: int, ref: str | None, lang: Lang) -> GoToTerminal:
    """The card that sends the customer to a self-service terminal."""
    term = action.terminal
    return GoToTerminal(id=ref, turn=turn, terminal=term.id, name=term.name[lang],
                        location=term.location[lang], bring=list(action.bring), language=lang)


def form_card(action: ShowForm, turn: int, ref: str | None, lang: Lang,
              problem: str | None = None) -> FormCard:
    """The form card: every field with its masked value and the one asked now."""
    form = action.form
    fields = []
    for key in FIELDS:
        value = form.value(key)
        options = ([FormOption(key=k, label=v[1] if lang == "en" else v[0])
                    for k, v in OCCUPATIONS.items()] if key == "occupation" else [])
        fields.append(FormField(
            key=key, label=LABELS[key][lang], value=masked(key, value, lang) if value else "",
            filled=value is not None, options=options,
            input="digits" if key in DIGIT_FIELDS else "choice" if options else "text"))
    state: Literal["filling", "confirming", "done", "cancelled"] = (
        "done" if action.done else "cancelled" if action.cancelled
        else "confirming" if form.asking is None else "filling")
    title = "开户资料" if lang == "zh" else "Account opening"
    return FormCard(id=ref, turn=turn, form=form.kind, title=title, fields=fields,
                    asking=form.asking if state == "filling" else None, state=state,
                    problem=problem if problem is not None else form.problem, language=lang)


def ticket_card(view: TicketView, settings: QueueSettings, turn: int, ref: str | None,
                lang: Lang) -> TicketIssued:
    """The ticket card, with the sentence that says it."""
    counters = [str(c.number) for c in settings.counters if view.service in c.services]
    service = next(s for s in settings.services if s.id == view.service)
    minutes = wait_minutes(view, lang)
    # Naming most of the counters is noise; the number-caller says which one.
    key = "ticket" if len(counters) <= NAMED_COUNTERS else "ticket_any_counter"
    text = t(key, lang, number=view.number,
             service=service.name_en if lang == "en" else service.name_zh,
             counters="、".join(counters) if lang == "zh" else ", ".join(counters),
             ahead=view.people_ahead or 0, minutes=minutes)
    return TicketIssued(id=ref, turn=turn, number=view.number, service=view.service,
                        priority_class=view.cls, counters=counters, ahead=view.people_ahead or 0,
                        estimated_wait_s=int(view.estimated_wait_s or 0),
                        wait_p50_s=_whole(view.wait_p50_s), wait_p90_s=_whole(view.wait_p90_s),
                        text=text, language=lang)


def wait_minutes(view: TicketView, lang: Lang) -> str:
    """The wait as the customer hears it: the p50-p90 range learnt from the branch's own
    service times ("3到6" / "3-6"), one figure when the range is a single minute."""
    if view.wait_p50_s is None or view.wait_p90_s is None:
        return str(max(1, round((view.estimated_wait_s or 0) / 60)))
    low = max(1, round(view.wait_p50_s / 60))
    high = max(low, round(view.wait_p90_s / 60))
    if high == low:
        return str(low)
    return f"{low}-{high}" if lang == "en" else f"{low}到{high}"


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds)


def _lang(language: str | None) -> Lang:
    return "en" if language == "en" else "zh"
