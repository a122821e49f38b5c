"""A kiosk turn once it is over: shown to consoles, counted in the metrics and the day's
sketch, written to the transcripts."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from devices.console_messages import TurnLog

if TYPE_CHECKING:
    from edge.service import Service

log = logging.getLogger("branch_teller.service")


def record_turn(service: Service, turn: TurnLog) -> None:
    """Every masked turn the kiosk sessions log (customer and teller)."""
    service.recent_turns.append(turn)
    service.to_consoles(turn)
    if turn.speaker == "customer":
        kind = "voice" if "stt_final" in turn.timings_ms else "text"
        service.metrics.observe_turn(kind, turn.intent, turn.timings_ms)
        if service.day_sketch is not None:
            service.day_sketch.turn(kind, turn.timings_ms)
        log.info("turn %s/%d %s intent=%s timings_ms=%s", turn.device, turn.turn, kind,
                 turn.intent, turn.timings_ms)
    assert service.store is not None
    service.spawn(service.store.add_transcripts([{
        "at": time.time(), "device": turn.device, "turn": turn.turn,
        "speaker": turn.speaker, "text": turn.text, "intent": turn.intent or ""}]),
        "transcript")
