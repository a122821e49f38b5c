"""A kiosk's ticket actions: issue (with the customer's class), check a booking in, show a
ticket again, withdraw one issued by mistake; each tells the kiosk what it got."""

from __future__ import annotations

import logging
from collections.abc import Callable

from devices.kiosk_messages import TicketCancelled
from devices.protocol import ProtocolError
from devices.server import Peer
from edge.conversation import Conversation, Decision, ticket_card
from edge.desk import QueueDesk
from edge.queue.model import QueueError, TicketView
from edge.store import BookingTaken
from intents.dialogue.phrases import t
from intents.dialogue.policy import CheckIn

log = logging.getLogger("branch_teller.sessions")


class KioskTickets:
    """The queue desk as one kiosk's conversation uses it."""

    def __init__(self, peer: Peer, desk: QueueDesk, core: Conversation) -> None:
        self.peer = peer
        self.desk = desk
        self.core = core

    async def withdraw(self, number: str, d: Decision, add: Callable[[str], None]) -> bool:
        """Cancel a ticket the customer says was wrong; False when it is past cancelling."""
        lang = d.language
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
            add(t("ticket_kept", lang, number=number))
            return False
        self.peer.send(TicketCancelled(id=d.prepared.input.ref, turn=d.prepared.turn,
                                       number=number))
        add(t("ticket_cancelled", lang, number=number))
        return True

    async def issue(self, service: str, priority_class: str, action_flags: tuple[str, ...],
                    intent: str | None, appointment_at: float | None = None,
                    check_in: str | None = None) -> TicketView:
        """Issue a ticket (committed before anyone hears of it) with the customer's class;
        a queue refusal becomes the turn's error."""
        flags, vip = self.core.priority(action_flags, priority_class)
        try:
            outcome = await self.desk.run("issue", service, language=self.core.state.language,
                                          flags=flags, vip_tier=vip, intent=intent,
                                          appointment_at=appointment_at,
                                          origin=self.peer.device_id, check_in=check_in)
        except QueueError as err:
            raise ProtocolError(err.code, err.message, refusal=True) from None
        return outcome.ticket

    async def check_in(self, action: CheckIn, d: Decision) -> str:
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
            view = await self.issue(action.service, cls, flags, action.intent,
                                    appointment_at=action.appointment_at,
                                    check_in=action.number)
        except BookingTaken:
            # Another kiosk checked this booking in a moment ago: show the ticket it got.
            row = await self.desk.store.appointment(action.number)
            if row is None or not row["ticket"]:
                raise ProtocolError("appointment_changed", "The appointment changed while "
                                    "checking in; please ask a member of staff.") from None
            return self.show(row["ticket"], d)
        return self.send(view, d)

    def show(self, number: str, d: Decision) -> str:
        """The ticket an appointment got earlier: shown again while it waits."""
        try:
            view = self.desk.engine.find(number)
        except QueueError:
            view = None
        if view is None or view.state != "waiting":
            return t("ticket_not_waiting", d.language, number=number)
        return self.send(view, d)

    def send(self, view: TicketView, d: Decision) -> str:
        """Tell the kiosk about a ticket; returns the sentence for the reply."""
        card = ticket_card(view, self.desk.engine.settings, d.prepared.turn,
                           d.prepared.input.ref, d.language)
        self.peer.send(card)
        return card.text
