"""Care for the customer's state of mind in the dialogue: an upset or confused customer (by
their words, a complaint, or turns the kiosk failed to understand) gets shorter replies, a
concerned face, and one gentle alert to the lobby manager per conversation (failed turns
alone get none: the handover that follows them calls staff already). The elderly mode's
replies are shorter too. Pure like the rest of the policy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from intents.dialogue.values import Action, AlertStaff, DialogueState, Say, Understanding
from intents.understanding.mood import brief, read_mood

ALERT_TEXT: Final = {
    "upset": "客户情绪不满，请留意并上前问候",
    "confused": "客户似乎没听明白，请上前协助",
}


def attend(
    state: DialogueState, text: str, u: Understanding, actions: list[Action]
) -> tuple[DialogueState, list[Action]]:
    """The turn's mood on the state (for the face), shorter replies, and the alert once."""
    reading = read_mood(text, failures=state.failures, intent=u.intent)
    state = replace(state, mood=reading.mood)
    if not reading.needs_care and not state.elderly_mode:
        return state, actions
    actions = [
        replace(a, text=brief(a.text, a.language)) if isinstance(a, Say) and a.interruptible else a
        for a in actions
    ]
    # Failed turns alone get no alert of their own: the handover after the next one calls staff.
    if not reading.needs_care or reading.reason == "failures" or state.mood_alerted:
        return state, actions
    state = replace(state, mood_alerted=True)
    if any(isinstance(a, AlertStaff) for a in actions):
        return state, actions  # staff are already coming (complaint, handover, fraud)
    return state, [*actions, AlertStaff("mood", "info", ALERT_TEXT[reading.mood])]
