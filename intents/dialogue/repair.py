"""Repair after a wrong guess: "不对，我是要换外币" right after a ticket or a terminal.

The router is right about nine times in ten, so the tenth customer must be able to say so.
For a short while after a ticket or a terminal the dialogue keeps what it acted on
(`DialogueState.last_guess`). A turn that opens with a correction is understood without the
correction words; a clear new request replaces the guess (the wrong ticket is cancelled when
its replacement is decided), the same request shows the ticket again, and a bare "不对"
asks among the router's other candidates for the first turn. Pure and synchronous.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from intents.dialogue.phrases import clarify_question, t
from intents.dialogue.values import (
    Action,
    CancelTicket,
    DialogueState,
    GoTerminal,
    Guess,
    IssueTicket,
    Say,
    ShowTicket,
    Understanding,
)

_SEP: Final = r"[，,。.！!、~\s]+"
_END: Final = r"(?:" + _SEP + r"|$)"
# "不对", "不是的，", "错了错了": the whole clause says the kiosk got it wrong.
_WRONG_ZH: Final = r"(?:不对|不是|错了|搞错了|弄错了|说错了|听错了|不是这个|不是这样|不要这个)"
_LEAD_ZH: Final = re.compile(
    r"^(?:" + _WRONG_ZH + r"[啊呀吧了啦的哦]*(?:" + _SEP + r"|$|(?=" + _WRONG_ZH + r")))+")
# "我不是要取钱，是存钱": the first clause names what was wrong, the rest what is right.
_NEGATED_ZH: Final = re.compile(
    r"^我?(?:不是|没|没有)(?:要|想|说|想要|来)(?!到)(?:办|办理)?[^，,。.！!]{0,20}[，,。.！!]\s*"
    r"(?:而?是|我是|我要|我想|要|想)?")
# "no, I want...", "that's wrong", "not that one". A bare "no" is not one: after a terminal
# offer it means "no ticket, thanks".
_LEAD_EN: Final = re.compile(
    r"^(?:wrong|that'?s wrong|that is wrong|not that(?: one)?|that'?s not (?:it|right|what i "
    r"(?:want|wanted|said|meant|asked for))|no,? that'?s (?:wrong|not (?:it|right)))\b"
    + _END + r"|^no\s*[,.!]+\s*(?=\S)", re.I)
_NEGATED_EN: Final = re.compile(
    r"^i (?:didn'?t|did not|don'?t|do not) (?:want|say|ask for|need|mean)\b[^,.!]{0,40}[,.!]\s*"
    r"(?:i (?:want|wanted|need|said|meant)\b\s*|it'?s\s*)?", re.I)
_MEANT_EN: Final = re.compile(r"^(?:actually,?\s*)?i (?:said|meant)\b[\s,]*", re.I)
_PATTERNS: Final = (_NEGATED_ZH, _LEAD_ZH, _NEGATED_EN, _MEANT_EN, _LEAD_EN)


def split_correction(text: str) -> str | None:
    """The request left once the correction words are taken off, or None if the turn does
    not open with a correction ("" when it is nothing but one, e.g. "不对")."""
    rest = text.strip()
    found = False
    for _ in range(3):  # "不对不对，我不是要取钱，是存钱"
        for pattern in _PATTERNS:
            m = pattern.match(rest)
            if m is not None and m.end() > 0:
                rest, found = rest[m.end():].strip(), True
                break
        else:
            break
    return rest if found else None


def guessed(state: DialogueState, actions: list[Action],
            candidates: tuple[str, ...]) -> DialogueState:
    """Remember the ticket or terminal this turn acted on, so "不对" can undo it;
    `candidates` are what the router (or the clarifying question) had in mind."""
    for action in actions:
        intent = action.intent if isinstance(action, IssueTicket | GoTerminal) else None
        if intent is None or intent == "fraud_report":  # staff handle a mistaken urgent alert
            continue
        others = tuple(c for c in candidates if c != intent)
        return replace(state, last_guess=Guess(intent, others))
    return state


def repair(state: DialogueState, rest: str, u: Understanding
           ) -> tuple[DialogueState, list[Action] | None]:
    """Answer a correction of `state.last_guess`; `u` is the understanding of `rest` alone.

    Returns the new state and the turn's actions, or None for the actions when the dialogue
    should act on `u` as a new request (the guessed ticket is then marked for replacement)."""
    guess = state.last_guess
    assert guess is not None
    lang = state.language
    state = replace(state, last_guess=None, replacing=guess.ticket, offered=None,
                    clarifying=(), pending=None, asked=None)
    clear = bool(rest) and not u.unsure and u.intent != "out_of_scope"
    if clear and u.intent == guess.intent:
        if guess.ticket is not None:  # they meant what they got: show it again
            return replace(state, replacing=None), [ShowTicket(guess.ticket)]
        return state, None
    if clear:
        return state, None
    said = u.candidates if rest and u.intent != "out_of_scope" else ()
    options = tuple(dict.fromkeys(
        c for c in (*said, *guess.alternatives) if c not in (guess.intent, "out_of_scope")
    ))[:3]
    sorry = t("sorry_wrong", lang)
    if not options:
        return state, [Say(sorry + (" " if lang == "en" else "") + t("ask_again", lang), lang)]
    question, choices = clarify_question(options, lang)
    if len(options) == 1:  # "which one: 1. X?" reads oddly with one option
        question = t("clarify_one", lang, option=choices[0][1])
    state = replace(state, clarifying=options)
    return state, [Say(sorry + (" " if lang == "en" else "") + question, lang, choices=choices)]


def cancel_replaced(state: DialogueState, actions: list[Action]
                    ) -> tuple[DialogueState, list[Action]]:
    """Put the wrong ticket's cancellation before the ticket or terminal that replaces it."""
    if state.replacing is None or not any(
            isinstance(a, IssueTicket | GoTerminal) for a in actions):
        return state, actions
    return replace(state, replacing=None), [CancelTicket(state.replacing), *actions]
