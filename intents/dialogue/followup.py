"""The conversation after the ticket: follow-up questions about what the customer was given.

For a while after a ticket, a terminal or an answer (`DialogueState.after`, kept across the
end of the conversation by the core like a guess), a turn that asks about it is answered
about that business: "还是帮我取个号吧" / "I'd rather see someone" after a terminal or an answer
takes a ticket for it; "要带什么" lists what to bring; "多久轮到我" shows the ticket and its
wait; "能不能快一点" explains the order; "明天上午可以吗" after a large-value rule explains
booking. A clear new request starts over. Pure and synchronous.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from intents.dialogue.phrases import BRING, t
from intents.dialogue.values import (
    Action,
    After,
    AlertStaff,
    AnswerQuestion,
    DialogueState,
    GoTerminal,
    IssueTicket,
    Say,
    ShowTicket,
    Understanding,
)
from intents.understanding.catalog import INTENTS

# What a follow-up turn asks for, in the words customers use.
_TICKET: Final = re.compile(
    r"(?:取|拿|排|领)(?:个|一个|张)?号|排队|人工办|柜台办|去柜台|到柜台|找人办|找个人|要人工"
    r"|(?:rather|prefer to|want to|like to) (?:see|talk to|speak (?:to|with)) "
    r"(?:someone|somebody|a person|a teller|staff|a human)"
    r"|(?:take|get|give me) a (?:ticket|number)|at the counter|see a teller", re.I)
_BRING: Final = re.compile(
    r"带(?:什么|啥|哪些|些什么)|什么(?:材料|证件|资料)|哪些(?:材料|证件|资料)|要不要带"
    r"|\bbring\b|what (?:documents|papers)|documents? (?:do|should) i", re.I)
_WAIT: Final = re.compile(
    r"多久|多长时间|等多|要等|还要等|几个人|几位|轮到我|前面还有|到我了吗|什么时候叫"
    r"|how long|my turn|ahead of me|how many (?:people|customers)|when will (?:i|you) call",
    re.I)
_FASTER: Final = re.compile(
    r"快一?点|快些|加急|插队|先办|先给我|提前叫|优先办"
    r"|faster|quicker|hurry|speed (?:it |this )?up|jump the queue|sooner|go first", re.I)
_BOOK: Final = re.compile(
    r"明天|后天|改天|下次|下周|周[一二三四五六日天]|星期|预约|上午|下午|约个时间"
    r"|tomorrow|another day|next week|\bbook|appointment|\bmonday|\btuesday|\bwednesday"
    r"|\bthursday|\bfriday|\bsaturday|in the morning|in the afternoon", re.I)
# The router's answer for a follow-up ("要带什么" reads as branch_info): intents that do not
# name another business, so the turn is taken as being about the one just given.
_NO_NEW_BUSINESS: Final = frozenset({"out_of_scope", "branch_info", "human_agent"})
_NEW_REQUEST_CONFIDENCE: Final = 0.8  # a clear request for another business starts over
RULES: Final = ("large_cash", "large_transfer", "cross_border")


def remember(state: DialogueState, actions: list[Action]) -> DialogueState:
    """What this turn gave the customer, for the follow-up window (the last one counts)."""
    after = None
    rule = next((a.kind for a in actions if isinstance(a, AlertStaff) and a.kind in RULES), None)
    for action in actions:
        if isinstance(action, IssueTicket) and action.intent not in (None, "fraud_report"):
            after = After("ticket", action.intent, rule=rule)
        elif isinstance(action, GoTerminal):
            after = After("terminal", action.intent)
        elif isinstance(action, AnswerQuestion) and action.offer is not None and after is None:
            after = After("answer", action.offer)
    return replace(state, after=after) if after is not None else state


def follow_up(state: DialogueState, text: str,
              u: Understanding) -> tuple[DialogueState, list[Action]] | None:
    """Answer a turn about what the customer was just given; None when it is not one (a new
    request, or words that ask nothing about it)."""
    after = state.after
    if after is None or _new_request(after.intent, u):
        return None
    lang = state.language
    if _BOOK.search(text) and after.rule is not None:
        return state, [Say(t(f"followup_book_{after.rule}", lang), lang)]
    if _BRING.search(text):
        return state, [_bring(after.intent, lang)]
    if _WAIT.search(text) or _FASTER.search(text):
        if after.ticket is None:
            return None  # no ticket to talk about (a terminal, an answer)
        said = [Say(t("followup_faster", lang), lang)] if _FASTER.search(text) else []
        return state, [*said, ShowTicket(after.ticket)]
    if _TICKET.search(text):
        if after.ticket is not None:  # they have one already: show it again
            return state, [ShowTicket(after.ticket)]
        service = INTENTS[after.intent].service
        if service is None:
            return None
        counter = "personal" if service == "self" else service  # a teller does it too
        return replace(state, offered=None, ended=True, after=None), [
            IssueTicket(counter, state.priority_class, after.intent, state.flags)]
    return None


def _new_request(intent: str, u: Understanding) -> bool:
    """The customer clearly asks for another business: the conversation starts over."""
    return (not u.unsure and u.intent not in _NO_NEW_BUSINESS and u.intent != intent
            and u.confidence >= _NEW_REQUEST_CONFIDENCE)


def _bring(intent: str, lang: str) -> Action:
    """What to bring: the branch's own list, else the documents (with a general fallback)."""
    items = BRING.get(intent, {}).get(lang)
    label = INTENTS[intent].label_en if lang == "en" else INTENTS[intent].label_zh
    if items:
        listed = ", ".join(items) if lang == "en" else "、".join(items)
        return Say(t("followup_bring", lang, business=label, items=listed),
                   "en" if lang == "en" else "zh")
    question = (f"What do I need to bring for {label}?" if lang == "en"
                else f"办理{label}需要带什么材料？")
    return AnswerQuestion(question, t("followup_bring_general", lang, business=label))
