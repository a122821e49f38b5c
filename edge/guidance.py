"""Teller guidance: what the console shows when a counter calls a ticket.

The operation guidance for the ticket's business comes from the knowledge hub's staff
passages (documents to check, identity verification standard, compliance wording), found by
keyword search so a call never waits on a model; the risk flags are those the kiosk attached
to the ticket (stored with its `issued` event, so a restart keeps them), masked.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from devices.result_payloads import GuidanceData, Passage, RiskFlag
from intents.guardrails.verdict import describe_flag, mask
from intents.understanding.catalog import INTENTS

if TYPE_CHECKING:
    from edge.service import Service

log = logging.getLogger("branch_teller.guidance")

GUIDANCE_SOURCE = "teller_guidance.md"  # the knowledge pack's guidance document
GUIDANCE_PASSAGES = 2


def risk_flags(flags: list[str], verify_open: bool) -> list[RiskFlag]:
    """The ticket's risk flags as staff read them (masked)."""
    out = []
    for flag in flags:
        described = describe_flag(flag)
        if described is not None:
            rule, detail, text = described
            out.append(
                RiskFlag(
                    rule=rule,
                    detail=mask(detail),
                    text=mask(text),
                    verify=verify_open and rule != "scam",
                )
            )
    return out


def guidance_query(intent: str | None) -> str:
    """What the hub is asked for a business."""
    label = INTENTS[intent].label_zh if intent in INTENTS else "个人业务"
    return f"{label} 柜员操作指引 核对材料 身份核验 合规话术"


async def teller_guidance(service: Service, ticket_id: str, number: str) -> GuidanceData:
    """Guidance and risk flags for a ticket just called."""
    desk = service.desk
    assert desk is not None
    ticket = next((t for t in desk.engine.tickets() if t.id == ticket_id), None)
    intent = ticket.intent if ticket is not None else None
    flags = list(ticket.flags) if ticket is not None else []
    business = INTENTS[intent].label_zh if intent in INTENTS else "个人业务"
    passages: list[Passage] = []
    hub = service.hub
    if hub is not None:
        query = guidance_query(intent)
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                None, lambda: hub.search(query, k=8, audience="staff", mode="bm25")
            )
        except Exception:  # guidance helps the teller; a broken index must not block the call
            log.exception("guidance search failed")
            results = []
        own = [
            r
            for r in results
            if r.source.endswith(GUIDANCE_SOURCE)
            and (business in r.section or business in r.passage.title)
        ]
        chosen = (own or [r for r in results if r.source.endswith(GUIDANCE_SOURCE)] or results)[
            :GUIDANCE_PASSAGES
        ]
        passages = [
            Passage(
                source=r.source,
                section=r.section,
                title=r.passage.title,
                text=r.passage.text,
                risk_note=r.passage.risk_note,
                audience=r.passage.audience,
                version=r.passage.version,
                effective_date=r.passage.effective_date,
                score=round(r.score, 4),
            )
            for r in chosen
        ]
    verify_open = desk.awaiting_verification(number) is not None
    return GuidanceData(
        ticket=number,
        intent=intent,
        business=business,
        passages=passages,
        risks=risk_flags(flags, verify_open),
    )
