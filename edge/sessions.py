"""One kiosk's conversation shell: carries out what the conversation core decides.

Text and voice turns take one path (`edge/conversation.py` decides; this module gathers the
facts it asks for, issues tickets through the queue desk (`edge/session_tickets.py`), raises
staff alerts, answers and logs the masked turn). Turns wait in a short per-kiosk inbox and
run in one worker task, in the order they came, so the connection's reader never waits for
a turn: a barge-in or a `context` message lands while an answer is still being written.
Every turn ends in exactly one `reply` or one `error`; a refused or failed turn leaves the
conversation where it was, and is logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from devices.console_messages import Alert, TurnLog
from devices.kiosk_messages import EndSession, KioskContext, KioskText
from devices.protocol import ProtocolError
from devices.server import Peer
from devices.session_messages import Error
from edge.appointments import look_up
from edge.config import SessionSettings
from edge.conversation import (
    Conversation,
    Decision,
    Prepared,
    ReplyParts,
    TurnInput,
    form_card,
    go_terminal,
)
from edge.desk import QueueDesk
from edge.lanes import LaneBusy, run_on
from edge.session_tickets import KioskTickets
from edge.voice import TurnTimer, VoiceChannel
from intents.answers.composer import Answer
from intents.dialogue.appointment_rules import Booking
from intents.dialogue.phrases import t
from intents.dialogue.policy import (
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
)
from intents.dialogue.take_ticket import asks_only_for_a_ticket
from intents.dialogue.values import ShowForm
from intents.guardrails.masking import mask_pii
from intents.understanding.router import OUT_OF_SCOPE
from intents.understanding.slot_appointment import mask_numbers
from speech.tts import TextFeed

log = logging.getLogger("branch_teller.sessions")

Understand = Callable[[str], Understanding]
AnswerFn = Callable[[str, str, Callable[[str], None] | None], Answer | None]
LlmRoute = Callable[[str, list[tuple[str, str]]], Awaitable[str | None]]


def request_confidence(understood: Understanding) -> float:
    """The router's confidence that words make a request the branch handles: 0.0 when it is
    unsure or reads them as out of scope (a sentence that is no banking request, "And so my
    fellow Americans.", is more likely the start of a longer turn than a finished one)."""
    if understood.unsure or understood.intent == OUT_OF_SCOPE:
        return 0.0
    return float(understood.confidence)


def pause_confidence(understand: Understand, text: str) -> float:
    """request_confidence of a voice pause's words; a turn that only asks for a ticket
    ("帮我取个号吧", heard or misheard) is a complete request whatever the router makes of it:
    the dialogue answers it with the services menu."""
    if asks_only_for_a_ticket(text):
        return 1.0
    return request_confidence(understand(text))


@dataclass
class _Queued:
    turn: TurnInput
    timer: TurnTimer | None


class KioskSession:
    """The conversation at one kiosk; a new customer starts from a clean state."""

    def __init__(self, peer: Peer, desk: QueueDesk, policy: Policy, understand: Understand,
                 executor: Executor, max_text_chars: int, on_turn: Callable[[TurnLog], None],
                 clock: Callable[[], float] = time.time,
                 on_failure: Callable[[str, str], None] | None = None,
                 settings: SessionSettings | None = None) -> None:
        self.peer = peer
        self.desk = desk
        self.understand = understand
        self.executor = executor  # routing: the service's vad_route lane
        self.answer_lane: Executor = executor  # answers: the service's answers lane
        self.on_turn = on_turn
        self.on_failure = on_failure  # (channel, error code) of every turn that failed
        self.clock = clock
        settings = settings or SessionSettings()
        self.core = Conversation(policy, peer.identity.language or "zh", max_text_chars,
                                 settings.correction_window_s, lambda: secrets.token_hex(4),
                                 settings.followup_window_s)
        self.voice: VoiceChannel | None = None
        self.answer: AnswerFn | None = None  # (question, language, on_sentence), worker thread
        self.llm_route: LlmRoute | None = None
        # (conversation id, "ticket" | "terminal" | "") after each committed turn: the day's
        # statistics count conversations and those that ended at a self-service terminal
        self.on_outcome: Callable[[str, str], None] | None = None
        self.max_waiting = settings.max_queued_turns
        self._inbox: deque[_Queued] = deque()  # turns waiting behind the one being answered
        self._worker: asyncio.Task[None] | None = None
        self.tickets = KioskTickets(peer, desk, self.core)

    # ------------------------------------------------------------ the core's state, for staff

    @property
    def state(self) -> DialogueState:
        return self.core.state

    @property
    def conversation(self) -> str:
        """The current customer's conversation id (a new one after every reset)."""
        return self.core.conversation

    @property
    def last_activity(self) -> float:
        return self.core.last_activity

    @property
    def answering(self) -> bool:
        """A turn is being answered (or waits behind one): no time to swap models."""
        return self._worker is not None and not self._worker.done()

    # ------------------------------------------------------------ what the kiosk sends

    def reset(self, reason: str, keep_guess: bool = False) -> None:
        """Forget the customer (idle timeout, 'that's all', kiosk reset)."""
        log.info("kiosk %s conversation %s ended (%s)", self.peer.device_id,
                 self.core.conversation, reason)
        self.core.reset(keep_guess)

    async def on_context(self, msg: KioskContext) -> None:
        """The kiosk reports flags it knows (elderly mode, VIP card, preferred language)."""
        self.core.on_context(msg, self.clock())

    async def on_end(self, msg: EndSession) -> None:
        """The kiosk was reset: a turn still being answered no longer changes anything, and
        the reply being spoken stops (the next customer is not talking over it)."""
        if self.voice is not None:
            self.voice.barge_in(customer=False)
        self.reset(f"kiosk: {msg.reason}")

    async def on_text(self, msg: KioskText) -> None:
        """A typed or touched turn: queued, answered by the worker (never awaited here)."""
        self._enqueue(TurnInput(text=msg.text, channel="text", language=msg.language,
                                choice=msg.choice, ref=msg.id), None)

    async def voice_turn(self, text: str, language: str | None,
                         timer: TurnTimer | None) -> None:
        """A spoken turn, once its final transcript is in."""
        try:
            self._enqueue(TurnInput(text=text, channel="voice", language=language), timer)
        except ProtocolError as err:  # the kiosk hears why instead of silence
            self._failed("voice", err.code)
            self.peer.send(Error(code=err.code, message=err.message))

    def pause_confidence(self, text: str) -> float:
        """How sure routing is of a voice pause's words as a request (semantic end of turn; runs
        on the routing lane, and the router's recent-turns memory then makes the final turn's
        routing of the same words a repeat)."""
        return pause_confidence(self.understand, text)

    def _enqueue(self, turn: TurnInput, timer: TurnTimer | None) -> None:
        queued = _Queued(turn, timer)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(queued),
                                               name=f"turns-{self.peer.device_id}")
        elif len(self._inbox) >= self.max_waiting:
            raise ProtocolError("busy", "Still answering the previous requests; please wait "
                                "for the reply and try again.", turn.ref, refusal=True)
        else:
            self._inbox.append(queued)

    async def close(self) -> None:
        """The kiosk left: stop its turns, decodes and speech."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self.voice is not None:
            await self.voice.close()

    async def _work(self, first: _Queued) -> None:
        """Answer turns one at a time, in order; nothing escapes but cancellation."""
        queued: _Queued | None = first
        while queued is not None:
            await self.run_turn(queued.turn, queued.timer)
            queued = self._inbox.popleft() if self._inbox else None

    # ------------------------------------------------------------ one turn

    async def run_turn(self, turn: TurnInput, timer: TurnTimer | None) -> None:
        """Gather, decide, carry out, reply (or send the one error); commit only on success."""
        started = time.perf_counter()
        conversation = self.core.conversation  # the commit may start the next one
        prepared: Prepared | None = None
        feed: TextFeed | None = None
        said: list[str] = []  # the reply's text, once known (for the turn log)
        try:
            prepared = self.core.prepare(turn, self.clock())
            decision = await self._decide(prepared)
            route_ms = (time.perf_counter() - started) * 1000
            if timer is not None:
                timer.mark("route")
            if self._speaks and decision.speaks_answer:
                # An answer from the model is spoken sentence by sentence as it is written.
                feed = TextFeed().bind()
                self._speak(decision, feed, timer, started, route_ms, said)
            parts = ReplyParts()
            for action in decision.actions:
                await self._carry_out(decision, action, parts, feed)
            await self._compliance(decision, parts)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._refused(turn, prepared, err)
            if feed is not None:
                feed.close()
            return
        if feed is not None:
            feed.close()
        reply = self.core.reply(decision, parts)
        ended = self.core.commit(decision, parts, self.clock())
        self.peer.send(reply)  # the turn's one reply; nothing awaited since the commit
        said.append(reply.text)
        if ended:
            log.info("kiosk %s conversation complete", self.peer.device_id)
        if self.on_outcome is not None:
            kinds = {type(a) for a in decision.actions}
            self.on_outcome(conversation, "ticket" if parts.issued or CheckIn in kinds
                            else "terminal" if GoTerminal in kinds else "")
        if timer is not None:
            timer.mark("answer")
        if self.voice is not None:
            self.voice.set_expect_digits(decision.expects_digits)
        if feed is None:
            self._speak(decision, reply.text, timer, started, route_ms, said)

    def _refused(self, turn: TurnInput, prepared: Prepared | None, err: Exception) -> None:
        """The turn's one `error`: a refusal said plainly, anything else logged in full."""
        number = prepared.turn if prepared is not None else None
        if isinstance(err, ProtocolError):
            code, message = err.code, err.message
            log.info("kiosk %s turn %s refused: %s", self.peer.device_id, number, code)
        else:
            code = "internal"
            message = ("Sorry, something went wrong with that request; please try again or "
                       "ask a member of staff.")
            log.error("kiosk %s turn %s failed", self.peer.device_id, number,
                      exc_info=(type(err), err, err.__traceback__))
        self._failed(turn.channel, code)
        self.peer.send(Error(code=code, message=message, ref=turn.ref, turn=number))

    def _failed(self, channel: str, code: str) -> None:
        if self.on_failure is not None:
            self.on_failure(channel, code)

    async def _decide(self, p: Prepared) -> Decision:
        """The facts the core asked for, then its one decision."""
        loop = asyncio.get_running_loop()
        try:
            understood = await loop.run_in_executor(self.executor, self.understand, p.route_text)
        except LaneBusy:
            raise ProtocolError("busy", "The service is very busy right now; please say that "
                                "again in a moment.", refusal=True) from None
        if self.llm_route is not None and self.core.wants_second_tier(p, understood):
            understood = await self._second_tier(p.input.text, understood)
        booking = await self._booking(p.booking_number)
        return self.core.decide(p, understood, booking)

    async def _second_tier(self, text: str, understood: Understanding) -> Understanding:
        """The LLM tier chooses among the router's close candidates (None: late, busy, unsure)."""
        assert self.llm_route is not None
        try:
            pick = await self.llm_route(text, self.core.second_tier_offer(understood))
        except Exception:  # the LLM tier is optional: the customer is asked instead
            log.exception("LLM routing failed")
            return understood
        return self.core.with_pick(understood, pick)

    async def _booking(self, number: str | None) -> Booking | None:
        """The appointment book's answer for a number this turn carries."""
        if number is None:
            return None
        now = self.clock()
        engine = self.desk.engine
        booking = await look_up(self.desk.store, number, engine.day_of(now), now,
                                engine.settings.timezone)
        log.info("kiosk %s appointment %s: %s", self.peer.device_id, mask_numbers(number, 4),
                 booking.status)
        return booking

    # ------------------------------------------------------------ speaking and logging

    @property
    def _speaks(self) -> bool:
        return self.voice is not None and self.voice.speaks

    def _speak(self, d: Decision, text: str | TextFeed, timer: TurnTimer | None,
               started: float, route_ms: float, said: list[str]) -> None:
        """Speak the reply where the kiosk plays audio; log the turn once it was sent.
        `said` receives the reply's text when the turn is over (an answer may still be
        being written while it is spoken)."""
        def logged(timer: TurnTimer | None) -> None:
            timings = timer.as_ms() if timer is not None else {}
            timings["route"] = round(route_ms, 2)
            timings["turn"] = round((time.perf_counter() - started) * 1000, 2)
            device, number = self.peer.device_id, d.prepared.turn
            self.on_turn(TurnLog(device=device, turn=number, speaker="customer",
                                 text=d.customer_log_text(), intent=d.understood.intent,
                                 timings_ms=timings))
            self.on_turn(TurnLog(device=device, turn=number, speaker="teller",
                                 text=d.reply_log_text("".join(said))))

        if self.voice is None:
            logged(timer)
            return
        self.voice.speak(d.prepared.turn, text, d.language, self.core.elderly,
                         d.interruptible, timer, logged, expression=d.expression)

    # ------------------------------------------------------------ carrying out actions

    async def _carry_out(self, d: Decision, action: Any, parts: ReplyParts,
                         feed: TextFeed | None) -> None:
        lang = d.language
        ref, turn = d.prepared.input.ref, d.prepared.turn

        def add(text: str, spoken: bool = False) -> None:
            parts.texts.append(text)
            if feed is not None and not spoken and text:
                feed.put(text)

        if isinstance(action, CancelTicket):
            parts.kept = not await self.tickets.withdraw(action.number, d, add)
        elif parts.kept and not isinstance(action, AlertStaff):
            return  # the customer keeps the ticket being called; the teller sorts it out
        elif isinstance(action, Say):
            add(action.text)
            parts.choices.extend(action.choices)
            parts.ends = parts.ends or action.ends_session
        elif isinstance(action, GoTerminal):
            self.peer.send(go_terminal(action, turn, ref, lang))
        elif isinstance(action, ShowForm):
            self.peer.send(form_card(action, turn, ref, lang))
        elif isinstance(action, AlertStaff) and action.verify:
            parts.verify.append(action)  # raised once its ticket is issued (_compliance)
        elif isinstance(action, AlertStaff):
            await self.desk.raise_alert(Alert(
                alert=secrets.token_hex(4), kind=action.kind, severity=action.severity,
                text=mask_pii(action.text), device=self.peer.device_id, at=self.clock(),
                requires_ack=action.severity != "info"))
        elif isinstance(action, IssueTicket):
            view = await self.tickets.issue(action.service, action.priority_class,
                                            action.flags, action.intent)
            parts.issued.append((action.intent, view.number))
            add(self.tickets.send(view, d))
        elif isinstance(action, CheckIn):
            add(await self.tickets.check_in(action, d))
        elif isinstance(action, ShowTicket):
            add(self.tickets.show(action.number, d))
        elif isinstance(action, AnswerQuestion):
            text, sources, spoken = await self._answer(action, lang, feed)
            add(text, spoken)
            parts.sources.extend(sources)
            if action.offer is not None:
                add(t("offer_ticket", lang))
                parts.choices.extend([("ticket", t("choice_ticket", lang)),
                                      ("end", t("choice_no_thanks", lang))])

    async def _compliance(self, d: Decision, parts: ReplyParts) -> None:
        """Second-verification alerts, naming the ticket they hold back, and every guardrail
        decision in the audit log (the kiosk is the actor; nothing customer-identifying)."""
        number = parts.issued[-1][1] if parts.issued else None
        for action in parts.verify:
            await self.desk.raise_alert(Alert(
                alert=secrets.token_hex(4), kind=action.kind, severity=action.severity,
                text=mask_pii(action.text), ticket=number, device=self.peer.device_id,
                at=self.clock(), requires_ack=True, verify=True))
        new = [r for r in d.state.risks if r not in d.prepared.state.risks]
        if new:
            await self.desk.store.audit(self.peer.device_id, "guardrail",
                                        {"risks": new, "ticket": number,
                                         "intent": d.understood.intent,
                                         "warning": d.warning})

    async def _answer(self, action: AnswerQuestion, lang: str,
                      feed: TextFeed | None) -> tuple[str, list[str], bool]:
        """A grounded answer with its sources, or the policy's fallback sentence; and whether
        the answer's sentences already went to `feed` as the model wrote them."""
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
