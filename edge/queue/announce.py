"""What the number-caller says and what staff alerts read: zh plus the ticket's language."""

from __future__ import annotations

from typing import Any

from edge.queue.model import Announcement, Ticket

_CALL: dict[str, str] = {
    "zh": "请{number}号到{counter}号窗口办理业务",
    "en": "Ticket {number}, please go to counter {counter}",
}
_RECALL: dict[str, str] = {
    "zh": "请{number}号到{counter}号窗口办理业务（再次呼叫）",
    "en": "Calling again: ticket {number}, please go to counter {counter}",
}


def announce(
    number: str, counter_number: int, language: str, *, recall: bool = False
) -> Announcement:
    """Call text in Mandarin (always spoken in a Chinese branch) and in the customer's language."""
    table = _RECALL if recall else _CALL
    zh = table["zh"].format(number=number, counter=counter_number)
    lang = language if language in table else "zh"
    text = table[lang].format(number=number, counter=counter_number)
    return Announcement(
        number=number,
        counter_number=counter_number,
        zh=zh,
        text=text,
        language=lang,
        recall=recall,
    )


def urgent_alert(ticket: Ticket, at: float) -> dict[str, Any]:
    """Staff alert for an urgent (fraud) ticket; the service forwards it to every console."""
    return {
        "kind": "urgent_ticket",
        "at": at,
        "ticket": ticket.id,
        "number": ticket.number,
        "service": ticket.service,
        "cls": ticket.cls,
        "intent": ticket.intent,
        "zh": f"紧急：{ticket.number}号客户需要立即处理（疑似诈骗{_pattern(ticket)}），请大堂经理关注",
        "en": f"Urgent: ticket {ticket.number} needs attention now (suspected fraud"
              f"{_pattern(ticket)})",
    }


def _pattern(ticket: Ticket) -> str:
    """The scam pattern the kiosk heard ("risk:scam:safe_account" -> ": safe_account")."""
    kinds = [f.split(":", 2)[2] for f in ticket.flags if f.startswith("risk:scam:")]
    return f": {', '.join(kinds)}" if kinds else ""
