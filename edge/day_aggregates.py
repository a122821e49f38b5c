"""A branch's day in numbers for central (`wire.DayAggregates`): pure, plain values in.

From the queue's history: waits per service and customer class, the share called within the
class's target wait, tickets. From the day's statistics (`edge/day_sketch.py`): conversations
and how many ended at a self-service terminal, turns per channel, and model latency
percentiles from a bounded log-bucket sketch. Nothing here reads or returns a ticket number,
a transcript, a name or any customer field: only counts, shares and percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from edge.queue.model import Ticket
from edge.queue.reports import percentile, wait_s
from edge.queue.settings import QueueSettings
from provisioning.central.wire import DayAggregates, WaitStats

# Latency sketch: bucket 0 holds everything under 1 ms; bucket i >= 1 holds
# [RATIO^(i-1), RATIO^i) ms, so a percentile read back is within ~5% of the true value;
# the last bucket (about 2 minutes and above) holds the rest. At most BUCKETS rows per model.
RATIO = 1.1
BUCKETS = 130


def bucket_of(ms: float) -> int:
    """The sketch bucket of one latency."""
    if not ms >= 1.0:  # also NaN
        return 0
    return min(BUCKETS - 1, int(math.log(ms) / math.log(RATIO)) + 1)


def bucket_ms(bucket: int) -> float:
    """The value a bucket stands for (its geometric middle)."""
    return 0.5 if bucket <= 0 else RATIO ** (bucket - 0.5)


def sketch_percentile(counts: Mapping[int, int], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a bucket -> count sketch (0.0 when empty)."""
    total = sum(counts.values())
    if total <= 0:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * total))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return round(bucket_ms(bucket), 1)
    return round(bucket_ms(max(counts)), 1)


def model_latencies(kind: str, timings_ms: Mapping[str, float]) -> dict[str, float]:
    """One customer turn's latencies per model from the stages the turn timed (see
    `edge/sessions.py` and `edge/voice.TurnTimer`): stt = end of speech to the final
    transcript; router = the turn's start to its decision; tts = reply ready to first audio
    (skipped for answers spoken while written); turn = the whole turn."""
    out: dict[str, float] = {}
    if "turn" in timings_ms:
        out["turn"] = timings_ms["turn"]
    if "route" in timings_ms:
        out["router"] = timings_ms["route"]
    if kind == "voice" and "stt_final" in timings_ms:
        out["stt"] = timings_ms["stt_final"]
    first, ready = timings_ms.get("first_audio"), timings_ms.get("answer")
    if first is not None and ready is not None and first >= ready:
        out["tts"] = first - ready
    return {k: max(0.0, v) for k, v in out.items()}


def queue_aggregates(tickets: Iterable[Ticket], settings: QueueSettings,
                     day: str) -> DayAggregates:
    """Waits per service and class, the share within target and the ticket count."""
    chosen = [t for t in tickets if t.day == day]
    targets = {c.id: c.target_wait_s for c in settings.classes}
    groups: dict[str, dict[str, list[float]]] = {}
    for t in chosen:
        w = wait_s(t)
        if w is not None:
            groups.setdefault(t.service, {}).setdefault(t.cls, []).append(w)
    waits: dict[str, dict[str, WaitStats]] = {}
    met = called = 0
    for service, classes in sorted(groups.items()):
        for cls, values in sorted(classes.items()):
            target = targets.get(cls, math.inf)
            within = sum(1 for v in values if v <= target)
            met, called = met + within, called + len(values)
            waits.setdefault(service, {})[cls] = WaitStats(
                served=len(values), p50_s=round(percentile(values, 50) or 0.0, 1),
                p90_s=round(percentile(values, 90) or 0.0, 1),
                within_target=round(within / len(values), 4))
    return DayAggregates(waits=waits, within_target=round(met / called, 4) if called else 0.0,
                         tickets=len(chosen))


def day_aggregates(tickets: Iterable[Ticket], settings: QueueSettings, day: str,
                   conversations: int, deflected: int, turns: Mapping[str, int],
                   latency: Mapping[str, Mapping[int, int]]) -> DayAggregates:
    """The day for central: the queue's figures plus the day's statistics."""
    agg = queue_aggregates(tickets, settings, day)
    agg.conversations = conversations
    agg.deflected = round(deflected / conversations, 4) if conversations else 0.0
    agg.turns = {k: v for k, v in sorted(turns.items()) if v > 0}
    agg.latency_ms = {
        model: {"p50_ms": sketch_percentile(counts, 50), "p95_ms": sketch_percentile(counts, 95),
                "n": float(sum(counts.values()))}
        for model, counts in sorted(latency.items()) if sum(counts.values()) > 0}
    return agg
