"""The dialogue's values: what the router understood, the conversation's state, the branch
facts the policy needs, and the actions the session in `edge/` carries out. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from intents.dialogue.appointment_rules import AppointmentRules, Booking
from intents.guardrails.large_value import Transaction
from intents.guardrails.suitability import Product
from intents.guardrails.verdict import GuardrailRules

Lang = Literal["zh", "en"]


@dataclass(frozen=True)
class Understanding:
    """What the router (or the LLM tier) made of one customer turn."""

    intent: str
    confidence: float
    candidates: tuple[str, ...]
    unsure: bool
    language: Lang
    slots: dict[str, Any] = field(default_factory=dict)
    scores: tuple[float, ...] = ()  # calibrated probability of each candidate
    source: Literal["router", "llm"] = "router"  # "llm": the second tier chose among candidates


@dataclass(frozen=True)
class Terminal:
    """A self-service terminal as the policy needs to know it."""

    id: str
    name: dict[str, str]
    location: dict[str, str]
    intents: frozenset[str]
    cash_withdrawal_limit_cny: int = 0


@dataclass(frozen=True)
class Say:
    """Tell the customer something; `choices` become buttons."""

    text: str
    language: Lang
    choices: tuple[tuple[str, str], ...] = ()
    ends_session: bool = False
    interruptible: bool = True  # False: anti-fraud / compliance warnings play to the end


@dataclass(frozen=True)
class IssueTicket:
    """Queue the customer for a counter service."""

    service: str
    priority_class: str
    intent: str | None  # None: a booked service with no intent named
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckIn:
    """Check a booked customer in: a ticket with the appointment's priority, book updated."""

    number: str  # the appointment number
    service: str
    intent: str | None
    appointment_at: float  # the booked time the queue ranks the ticket by
    priority_class: str  # the customer's own class (care, VIP); the queue takes the higher
    booked_class: str | None = None  # a class the booking itself carries (e.g. a VIP tier)
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShowTicket:
    """The customer already holds this ticket (an appointment checked in before)."""

    number: str


@dataclass(frozen=True)
class CancelTicket:
    """Withdraw a ticket the kiosk issued on a wrong guess (the customer said so)."""

    number: str


@dataclass(frozen=True)
class Guess:
    """What the kiosk acted on, kept a short while so the customer can say it was wrong."""

    intent: str
    alternatives: tuple[str, ...]  # the router's other candidates for that turn, best first
    ticket: str | None = None  # the number issued for it, once the session knows it


@dataclass(frozen=True)
class After:
    """The business the customer was just given (a ticket, a terminal, an answer, a rule),
    kept a while so "要带什么" or "还是取个号吧" is understood about it."""

    kind: Literal["ticket", "terminal", "answer"]
    intent: str
    ticket: str | None = None  # the number issued, once the session knows it
    rule: str | None = None  # a large-value rule that was explained (large_cash...)


@dataclass(frozen=True)
class GoTerminal:
    """Send the customer to a terminal, with what to bring."""

    terminal: Terminal
    intent: str
    bring: tuple[str, ...]


@dataclass(frozen=True)
class AlertStaff:
    """Raise a console alert (the lobby manager sees it at once)."""

    kind: str
    severity: Literal["info", "warning", "urgent"]
    text: str
    verify: bool = False  # a second verification a supervisor confirms before the counter goes on


@dataclass(frozen=True)
class AnswerQuestion:
    """Answer from the branch's documents (knowledge hub, LLM where present), with sources.

    `fallback` is said when no grounded answer can be given; `offer` is an intent whose
    ticket is offered next to the answer."""

    question: str
    fallback: str
    offer: str | None = None


@dataclass(frozen=True)
class FormState:
    """A form being filled at the kiosk. Its values live only here, in the conversation's
    memory: never stored, never logged, gone when the conversation ends or is reset."""

    kind: str = "account_opening"
    values: tuple[tuple[str, str], ...] = ()  # (field, value) in the order given
    asking: str | None = "id_number"  # None: all given, the read-back is being confirmed
    draft: str | None = None  # digits of the last number not accepted, for a partial repeat
    part: str | None = None  # the part of `draft` the customer was asked to repeat
    problem: str | None = None  # the sentence that said what was wrong (for the card)
    tries: int = 0  # turns on the current field that gave no value
    offer_elderly: bool = False  # asked whether to switch to the elderly mode
    elderly: bool | None = None  # the customer's answer (None: not asked)

    def value(self, field: str) -> str | None:
        return dict(self.values).get(field)


@dataclass(frozen=True)
class ShowForm:
    """Show (or redraw) the form card on the kiosk."""

    form: FormState
    done: bool = False
    cancelled: bool = False


Action = (Say | IssueTicket | GoTerminal | AlertStaff | AnswerQuestion | CheckIn | ShowTicket
          | CancelTicket | ShowForm)


@dataclass(frozen=True)
class DialogueState:
    """Everything remembered about the current customer; cleared when the session ends."""

    language: Lang = "zh"
    turns: int = 0
    failures: int = 0  # consecutive turns not understood
    idle_turns: int = 0  # turns since the last ticket, terminal or staff alert
    clarifying: tuple[str, ...] = ()
    offered: str | None = None  # intent whose terminal was offered
    priority_class: str = "normal"
    flags: tuple[str, ...] = ()
    ended: bool = False
    pending: str | None = None  # intent waiting for the answer to a follow-up question
    asked: Literal["amount", "currency", "appointment", "hint"] | None = None
    followups: int = 0
    amount: str | None = None  # from this conversation's turns
    currency: str | None = None
    booking: Booking | None = None  # the appointment looked up (hint asked, or ticket offered)
    wants: str | None = None  # what a booked customer also said they came for
    last_guess: Guess | None = None  # the ticket or terminal just given, open to "不对"
    replacing: str | None = None  # ticket to cancel once its replacement is decided
    after: After | None = None  # what the customer was just given, for follow-up questions
    form: FormState | None = None  # a form being filled (intents/dialogue/forms.py)
    elderly_mode: bool = False  # slower, shorter, large text (accepted in the form, 65+)
    risk_tolerance: int | None = None  # C1-C5 as 1-5: said, or known to the kiosk; None: unknown
    mood: str = "calm"  # this turn's reading: calm, upset, confused (intents/understanding/mood.py)
    mood_alerted: bool = False  # the lobby manager was told once in this conversation
    visit: tuple[Transaction, ...] = ()  # amounts asked for this visit (structuring rule)
    risks: tuple[str, ...] = ()  # risk flags raised this conversation, for the ticket


@dataclass(frozen=True)
class Policy:
    """Branch facts the policy needs, taken from config."""

    terminals: tuple[Terminal, ...]
    hours: dict[str, str]
    address: dict[str, str]
    vip_class: str = "vip"
    care_class: str = "elderly"
    guardrails: GuardrailRules = field(default_factory=GuardrailRules)  # every compliance rule
    max_followups: int = 2
    # Intents whose action is hard to undo (urgent ticket and alert, a complaint on record)
    # need this much confidence; below it the customer is asked instead.
    high_impact: frozenset[str] = frozenset({"fraud_report", "complaint"})
    high_impact_min_confidence: float = 0.5
    min_confidence: float = 0.0  # below this any routing counts as unsure
    max_turns_without_progress: int = 8  # chatter this long gets a person, not a loop
    appointments: AppointmentRules = field(default_factory=AppointmentRules)
    timezone: str = "Asia/Shanghai"  # the branch's day, for ages on birth dates
    elderly_age: int = 65  # a birth date this old offers the elderly mode and care class
    id_max_age: int = 120  # an older birth date on an ID number is taken as a wrong digit
    id_prefecture_check: bool = True  # the region code's prefecture must be in GB/T 2260
    max_form_tries: int = 3  # turns on one field without a value before staff are called
    products: tuple[Product, ...] = ()  # wealth products and their risk levels (suitability)
    # counter services a customer may take a ticket for from the menu: (id, zh, en)
    ticket_services: tuple[tuple[str, str, str], ...] = ()
