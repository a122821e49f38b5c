"""One kiosk's conversation: a customer turn in, the dialogue's actions carried out.

The dialogue policy decides; this shell runs the router off the event loop, issues tickets
through the queue desk, raises staff alerts, answers the kiosk, and logs the masked turn.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from devices.protocol import (
    Alert,
    Choice,
    EndSession,
    Error,
    GoToTerminal,
    KioskContext,
    KioskText,
    ProtocolError,
    Reply,
    TicketCancelled,
    TicketIssued,
    TurnLog,
)
from devices.server import Peer
from edge.appointments import look_up
from edge.desk import QueueDesk
from edge.lanes import LaneBusy, run_on
from edge.queue.model import QueueError, TicketView
from edge.store import BookingTaken
from edge.voice import TurnTimer, VoiceChannel
from intents.answers import Answer
from intents.appointment_policy import Booking
from intents.dialogue import (
    AlertStaff,
    AnswerQuestion,
    CancelTicket,
    CheckIn,
    DialogueState,
    GoTerminal,
    IssueTicket,
    Policy,
    Say,
    ShowTicket,
    Understanding,
    decide,
)
from intents.dialogue_appointment import appointment_number
from intents.dialogue_repair import split_correction
from intents.masking import mask_pii
from intents.phrases import label, t
from intents.slot_appointment import mask_numbers
from speech.tts import TextFeed

log = logging.getLogger("branch_teller.sessions")
_NAMED_COUNTERS = 3  # a ticket reply names the counters only when this few serve it

Understand = Callable[[str], Understanding]


@dataclass
class _ReplyParts:
    """What one turn's actions add to the single `reply` that closes the turn."""

    texts: list[str] = field(default_factory=list)
    choices: list[tuple[str, str]] = field(default_factory=list)
    ends: bool = False
    kept: bool = False  # the ticket to replace could not be withdrawn: issue no other
    sources: list[str] = field(default_factory=list)
    interruptible: bool = True  # anti-fraud and compliance warnings always play to the end
    feed: TextFeed | None = None  # speech already playing while the turn is carried out

    def add(self, text: str, spoken: bool = False) -> None:
        """A sentence of the reply; to the voice at once unless it was `spoken` already."""
        self.texts.append(text)
        if self.feed is not None and not spoken and text:
            self.feed.put(text)


class KioskSession:
    """The conversation at one kiosk; a new customer starts from a clean state."""

    def __init__(self, peer: Peer, desk: QueueDesk, policy: Policy, understand: Understand,
                 executor: Executor, max_text_chars: int, on_turn: Callable[[TurnLog], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.peer = peer
        self.desk = desk
        self.policy = policy
        self.understand = understand
        self.executor = executor  # routing: the service's vad_route lane
        self.answer_lane: Executor = executor  # answers: the service's answers lane
        self.max_text_chars = max_text_chars
        self.on_turn = on_turn
        self.clock = clock
        self.state = DialogueState(language="en" if peer.identity.language == "en" else "zh")
        self.context = KioskContext()
        self.turn = 0
        self.last_activity = clock()
        self.conversation = secrets.token_hex(4)
        self.voice: VoiceChannel | None = None
        # (question, language, on_sentence) -> the answer, in a worker thread
        self.answer: Callable[[str, str, Callable[[str], None] | None],
                              Answer | None] | None = None
        self.llm_route: Callable[[str, list[tuple[str, str]]],
                                 Awaitable[str | None]] | None = None
        self.correction_window_s = 30.0  # sessions.correction_window_s
        self.guess_until = 0.0  # the last ticket or terminal can be corrected until then

    def reset(self, reason: str, keep_guess: bool = False) -> None:
        """Forget the customer (ticket issued, idle timeout, 'that's all', kiosk reset);
        with `keep_guess`, what they were given stays open to a correction for a while."""
        log.info("kiosk %s conversation %s ended (%s)", self.peer.device_id,
                 self.conversation, reason)
        lang = self.context.language or self.peer.identity.language
        guess = self.state.last_guess if keep_guess else None
        self.state = DialogueState(language="en" if lang == "en" else "zh", last_guess=guess)
        self.context = KioskContext()
        self.conversation = secrets.token_hex(4)

    async def on_context(self, msg: KioskContext) -> None:
        """The kiosk reports flags it knows (elderly mode, VIP card, preferred language)."""
        self.context = msg
        self.last_activity = self.clock()

    async def on_end(self, msg: EndSession) -> None:
        """The kiosk was reset."""
        self.reset(f"kiosk: {msg.reason}")

    async def on_text(self, msg: KioskText) -> None:
        """One typed customer turn, end to end."""
        if len(msg.text) > self.max_text_chars:
            raise ProtocolError("text_too_long", f"Text turns are limited to "
                                f"{self.max_text_chars} characters; this one had "
                                f"{len(msg.text)}.", msg.id)
        await self.take_turn(msg.text, msg.language, msg.choice, msg.id, None)

    async def voice_turn(self, text: str, language: str | None,
                         timer: TurnTimer | None) -> None:
        """A spoken turn, once its final transcript is in."""
        await self.take_turn(text, language, None, None, timer)

    async def take_turn(self, text: str, language: str | None, choice: str | None,
                        ref: str | None, timer: TurnTimer | None) -> None:
        """Route, decide, carry out, answer (and speak, for kiosks that play audio)."""
        self.turn += 1
        turn = self.turn
        self.last_activity = self.clock()
        started = time.perf_counter()
        if self.state.last_guess is not None and self.last_activity > self.guess_until:
            self.state = replace(self.state, last_guess=None)
        # "不对，我是要换外币": the router hears the request without the correction words.
        rest = split_correction(text) if self.state.last_guess is not None else None
        loop = asyncio.get_running_loop()
        try:
            understood = await loop.run_in_executor(self.executor, self.understand, rest or text)
        except LaneBusy:
            self.peer.send(Error(code="busy", ref=ref, message="The service is very busy right "
                                 "now; please say that again in a moment."))
            return
        if language in ("zh", "en"):
            understood = replace(understood, language=language)  # type: ignore[arg-type]
        if understood.unsure and self.llm_route is not None and not self.state.clarifying:
            understood = await self._second_tier(text, understood)
        route_ms = (time.perf_counter() - started) * 1000
        if timer is not None:
            timer.mark("route")
        # Appointment numbers and booking hints stay out of transcripts and logs.
        private = self.state.asked in ("appointment", "hint")
        booking = await self._booking(text)
        private = private or booking is not None
        guess_before = self.state.last_guess
        self.state, actions = decide(self.state, text, understood, self.policy, choice, booking)
        private = private or self.state.asked in ("appointment", "hint")
        lang = self.state.language
        reply = _ReplyParts()
        said = ""

        def logged(timer: TurnTimer | None) -> None:
            timings = timer.as_ms() if timer is not None else {}
            timings["route"] = round(route_ms, 2)
            timings["turn"] = round((time.perf_counter() - started) * 1000, 2)
            self.on_turn(TurnLog(device=self.peer.device_id, turn=turn, speaker="customer",
                                 text=masked, intent=understood.intent, timings_ms=timings))
            teller = mask_numbers(mask_pii(said)) if private else mask_pii(said)
            self.on_turn(TurnLog(device=self.peer.device_id, turn=turn, speaker="teller",
                                 text=teller))

        masked = mask_pii(text)
        if private:
            masked = mask_numbers(masked, 4)
        if (self.voice is not None and self.voice.speaks
                and any(isinstance(a, AnswerQuestion) for a in actions)):
            # An answer from the model is spoken sentence by sentence as it is written.
            reply.feed = TextFeed().bind()
            self.voice.speak(turn, reply.feed, lang, self.context.elderly,
                             all(a.interruptible for a in actions if isinstance(a, Say)),
                             timer, logged)
        try:
            for action in actions:
                await self._carry_out(action, ref, reply)
        finally:
            if reply.feed is not None:
                reply.feed.close()
        said = " ".join(reply.texts) if lang == "en" else "".join(reply.texts)
        self.peer.send(Reply(
            id=ref, turn=turn, text=said, language=lang, intent=understood.intent,
            confidence=round(understood.confidence, 4),
            choices=[Choice(key=k, label=v) for k, v in reply.choices], sources=reply.sources,
            large_text=self.context.elderly, ends_session=self.state.ended or reply.ends))
        if timer is not None:
            timer.mark("answer")
        if self.voice is not None:
            self.voice.set_expect_digits(self.state.asked in ("amount", "appointment", "hint"))
            if reply.feed is None:
                self.voice.speak(turn, said, lang, self.context.elderly, reply.interruptible,
                                 timer, logged)
        else:
            logged(timer)
        if self.state.last_guess is not None and self.state.last_guess is not guess_before:
            self.guess_until = self.clock() + self.correction_window_s
        if self.state.ended or reply.ends:
            self.reset("conversation complete", keep_guess=True)

    async def _carry_out(self, action: Any, ref: str | None, reply: _ReplyParts) -> None:
        lang = self.state.language
        if isinstance(action, CancelTicket):
            reply.kept = not await self._withdraw(action.number, ref, reply)
        elif reply.kept and not isinstance(action, AlertStaff):
            return  # the customer keeps the ticket being called; the teller sorts it out
        elif isinstance(action, Say):
            reply.add(action.text)
            reply.choices.extend(action.choices)
            reply.ends = reply.ends or action.ends_session
            reply.interruptible = reply.interruptible and action.interruptible
        elif isinstance(action, GoTerminal):
            term = action.terminal
            self.peer.send(GoToTerminal(id=ref, turn=self.turn, terminal=term.id,
                                        name=term.name[lang], location=term.location[lang],
                                        bring=list(action.bring), language=lang))
        elif isinstance(action, AlertStaff):
            self.desk.raise_alert(Alert(
                alert=secrets.token_hex(4), kind=action.kind, severity=action.severity,
                text=mask_pii(action.text), device=self.peer.device_id, at=self.clock(),
                requires_ack=action.severity != "info"))
        elif isinstance(action, IssueTicket):
            view = await self._issue_view(action.service, action.priority_class, action.flags,
                                          action.intent, ref)
            guess = self.state.last_guess
            if guess is not None and guess.intent == action.intent and guess.ticket is None:
                self.state = replace(self.state, last_guess=replace(guess, ticket=view.number))
            reply.add(self._send_ticket(view, ref))
        elif isinstance(action, CheckIn):
            reply.add(await self._check_in(action, ref))
        elif isinstance(action, ShowTicket):
            reply.add(self._show_ticket(action.number, ref))
        elif isinstance(action, AnswerQuestion):
            text, sources, spoken = await self._answer(action, reply.feed)
            reply.add(text, spoken)
            reply.sources.extend(sources)
            if action.offer is not None:
                reply.add(t("offer_ticket", lang))
                reply.choices.extend([("ticket", t("choice_ticket", lang)),
                                      ("end", t("choice_no_thanks", lang))])

    async def _withdraw(self, number: str, ref: str | None, reply: _ReplyParts) -> bool:
        """Cancel a ticket the customer says was wrong; False when it is past cancelling."""
        lang = self.state.language
        withdrawn = False
        try:
            view = self.desk.engine.find(number)
            if view.state == "waiting":  # once called, the teller helps or transfers it
                await self.desk.run("cancel", view.id, reason="corrected")
                withdrawn = True
        except QueueError:  # gone meanwhile
            pass
        if not withdrawn:
            log.info("kiosk %s: ticket %s kept (no longer waiting)", self.peer.device_id, number)
            reply.add(t("ticket_kept", lang, number=number))
            return False
        self.peer.send(TicketCancelled(id=ref, turn=self.turn, number=number))
        reply.add(t("ticket_cancelled", lang, number=number))
        return True

    async def _second_tier(self, text: str, understood: Understanding) -> Understanding:
        """Ask the LLM to choose among the router's close candidates before asking the customer."""
        assert self.llm_route is not None
        lang = understood.language
        offered = [(c, label(c, lang)) for c in understood.candidates]
        try:
            pick = await self.llm_route(text, offered)
        except Exception:  # the LLM tier is optional: the customer is asked instead
            log.exception("LLM routing failed")
            return understood
        if pick is None or pick not in understood.candidates:
            return understood
        return replace(understood, intent=pick, unsure=False, source="llm")

    async def _answer(self, action: AnswerQuestion,
                      feed: TextFeed | None) -> tuple[str, list[str], bool]:
        """A grounded answer with its sources, or the policy's fallback sentence; and whether
        the answer's sentences already went to `feed` as the model wrote them."""
        lang = self.state.language
        if self.answer is None:
            return action.fallback, [], False
        say = feed.put_threadsafe if feed is not None else None
        try:
            found = await run_on(self.answer_lane, self.answer, action.question, lang, say)
        except LaneBusy as busy:  # another kiosk's answer holds the model: no wait, no hang
            log.info("answer lane busy (%s); using the fallback", busy.why)
            return action.fallback, [], False
        except Exception:  # a broken index or model must not cost the customer the turn
            log.exception("answering failed; using the fallback")
            return action.fallback, [], False
        if found is None or found.mode == "none":
            return action.fallback, [], False
        return found.text, list(found.sources), say is not None

    async def _booking(self, text: str) -> Booking | None:
        """The appointment book's answer for a number this turn carries, if it carries one."""
        number = appointment_number(self.state, text, self.policy)
        if number is None:
            return None
        now = self.clock()
        engine = self.desk.engine
        booking = await look_up(self.desk.store, number, engine.day_of(now), now,
                                engine.settings.timezone)
        log.info("kiosk %s appointment %s: %s", self.peer.device_id, mask_numbers(number, 4),
                 booking.status)
        return booking

    async def _issue_view(self, service: str, priority_class: str, action_flags: tuple[str, ...],
                          intent: str | None, ref: str | None,
                          appointment_at: float | None = None,
                          check_in: str | None = None) -> TicketView:
        """Issue a ticket (committed before anyone hears of it) with the customer's class."""
        lang = self.state.language
        flags = set(action_flags)
        for flag in ("elderly", "disabled", "pregnant"):
            if getattr(self.context, flag):
                flags.add(flag)
        vip = self.context.vip or (priority_class if priority_class.startswith("vip") else None)
        try:
            outcome = await self.desk.run("issue", service, language=lang,
                                          flags=sorted(flags), vip_tier=vip, intent=intent,
                                          appointment_at=appointment_at,
                                          origin=self.peer.device_id, check_in=check_in)
        except QueueError as err:
            raise ProtocolError(err.code, err.message, ref, refusal=True) from None
        return outcome.ticket

    async def _check_in(self, action: CheckIn, ref: str | None) -> str:
        """The ticket and the booking's mark commit together: a crash between them, or two
        kiosks checking the same booking in at once, can never leave a ticket nobody heard of."""
        settings = self.desk.engine.settings
        booked = action.booked_class
        cls = action.priority_class
        flags = action.flags
        if booked is not None and booked.startswith("vip") and not cls.startswith("vip"):
            cls = booked
        elif booked == settings.care_class and not flags:
            flags = ("elderly",)  # booked as a care customer; the queue has one care class
        try:
            view = await self._issue_view(action.service, cls, flags, action.intent, ref,
                                          appointment_at=action.appointment_at,
                                          check_in=action.number)
        except BookingTaken:
            # Another kiosk checked this booking in a moment ago: show the ticket it got.
            row = await self.desk.store.appointment(action.number)
            if row is None or not row["ticket"]:
                raise ProtocolError("appointment_changed", "The appointment changed while "
                                    "checking in; please ask a member of staff.", ref) from None
            return self._show_ticket(row["ticket"], ref)
        return self._send_ticket(view, ref)

    def _show_ticket(self, number: str, ref: str | None) -> str:
        """The ticket an appointment got earlier: shown again while it waits."""
        lang = self.state.language
        try:
            view = self.desk.engine.find(number)
        except QueueError:
            view = None
        if view is None or view.state != "waiting":
            return t("ticket_not_waiting", lang, number=number)
        return self._send_ticket(view, ref)

    def _send_ticket(self, view: TicketView, ref: str | None) -> str:
        """Tell the kiosk about a ticket; returns the sentence for the reply."""
        lang = self.state.language
        settings = self.desk.engine.settings
        counters = [str(c.number) for c in settings.counters if view.service in c.services]
        service = next(s for s in settings.services if s.id == view.service)
        minutes = max(1, round((view.estimated_wait_s or 0) / 60))
        # Naming most of the counters is noise; the number-caller says which one.
        key = "ticket" if len(counters) <= _NAMED_COUNTERS else "ticket_any_counter"
        text = t(key, lang, number=view.number,
                 service=service.name_en if lang == "en" else service.name_zh,
                 counters="、".join(counters) if lang == "zh" else ", ".join(counters),
                 ahead=view.people_ahead or 0, minutes=minutes)
        self.peer.send(TicketIssued(
            id=ref, turn=self.turn, number=view.number, service=view.service,
            priority_class=view.cls, counters=counters, ahead=view.people_ahead or 0,
            estimated_wait_s=int(view.estimated_wait_s or 0), text=text, language=lang))
        return text
