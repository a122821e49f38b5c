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
# A whole turn that asks for a ticket and names no business ("我要取号", "帮我取个号吧",
# "can I get a number"). Mandarin: politeness and particles around 取/排/拿/领 + (一)个 + 号;
# 去 and 娶 are Whisper's usual mishearings of 取 (same syllable qu), and "去个号" means nothing
# else in a bank lobby. English: a ticket, a number or a queue number, asked for in any of the
# usual ways.
_ZH_TICKET: Final = re.compile(
    r"(?:算了|那|那就|还是|就|请|麻烦(?:你|您)?|你|您|帮我|给我|我(?:要|想|想要|需要)|"
    r"能不能|可不可以|可以|先)*"
    r"(?:帮我|给我|帮忙)?(?:取|去|娶|排|拿|领)(?:一)?(?:个|一个|下|一下)?(?:号|号码|排队号)"
    r"(?:吧|呢|啊|呀|好吗|可以吗|行吗|谢谢)*"
)
_EN_TICKET: Final = re.compile(
    r"(?!number$)"  # a bare "number" answers a question ("your phone number?")
    r"(?:(?:ok|okay|so|then|well|actually|just|please)\s+)*"
    r"(?:(?:i(?:'d| would)? (?:like|want|need)(?: to (?:get|take|have))?|"
    r"(?:can|could|may) (?:i|you) (?:get|take|have|give me|get me)(?: me)?|"
    r"(?:get|give) me|get|take)\s+)?"
    r"(?:a |one )?(?:queue |waiting )?(?:ticket|number)"
    r"(?: (?:please|thanks|thank you))*"
)


def asks_only_for_a_ticket(text: str) -> bool:
    """The turn is just "a ticket, please", with no business named."""
    words = re.sub(r"[^\w\s']+", " ", text.lower())
    words = " ".join(words.split())
    return bool(_ZH_TICKET.fullmatch(words.replace(" ", "")) or _EN_TICKET.fullmatch(words))


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
