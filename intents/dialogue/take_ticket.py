""" "Take a ticket" at any time: the kiosk's always-there button (choice `take_ticket`), or a
turn that says only that, gets the branch's counter services as buttons; a pick (choice
`ticket:<service>`) issues the ticket for that service straight away. Pure."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from intents.dialogue.phrases import t
from intents.dialogue.values import Action, DialogueState, IssueTicket, Lang, Policy, Say

TAKE_TICKET: Final = "take_ticket"  # the kiosk page's button
PICK_PREFIX: Final = "ticket:"
# A whole turn that asks for a ticket and names no business ("我要取号", "take a ticket").
_ONLY_A_TICKET: Final = frozenset(
    {
        "取号",
        "我要取号",
        "我想取号",
        "取个号",
        "我要取个号",
        "帮我取号",
        "排号",
        "我要排号",
        "我想排号",
        "take a ticket",
        "a ticket",
        "ticket",
        "get a ticket",
        "i would like a ticket",
        "i'd like a ticket",
        "i want a ticket",
        "i need a ticket",
        "can i get a ticket",
        "can i have a ticket",
    }
)


def asks_only_for_a_ticket(text: str) -> bool:
    """The turn is just "a ticket, please", with no business named."""
    words = re.sub(r"[^\w\s']+", " ", text.lower())
    words = re.sub(r"\b(please|thanks|thank you)\b|请|谢谢", " ", words)
    return " ".join(words.split()) in _ONLY_A_TICKET


def take_ticket_turn(
    state: DialogueState, text: str, choice: str | None, policy: Policy, lang: Lang
) -> tuple[DialogueState, list[Action]] | None:
    """The menu of services, a ticket for the one picked, or None (not this flow's turn)."""
    services = {s[0]: s for s in policy.ticket_services}
    if choice is not None and choice.startswith(PICK_PREFIX):
        service = choice.removeprefix(PICK_PREFIX)
        if service in services:
            return replace(
                state, offered=None, clarifying=(), pending=None, asked=None, ended=True
            ), [IssueTicket(service, state.priority_class, None, state.flags)]
        return None
    if choice != TAKE_TICKET and (
        choice is not None or state.offered or not asks_only_for_a_ticket(text)
    ):
        return None
    if not services:
        return None
    buttons = tuple(
        (PICK_PREFIX + sid, en if lang == "en" else zh) for sid, zh, en in policy.ticket_services
    )
    return replace(state, clarifying=(), pending=None, asked=None), [
        Say(t("which_service", lang), lang, choices=buttons)
    ]
