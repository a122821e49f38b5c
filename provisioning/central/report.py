"""`central report`: branches compared from their day aggregates (pure: rows in, figures out).

Percentiles cannot be merged exactly from percentiles, so a branch's p50/p90 over several days
(and a service's over its customer classes) is the served-weighted mean of the daily figures,
and a model's p50/p95 the n-weighted mean: good enough to see which branch is far off.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from provisioning.central.fleet import Box
from provisioning.central.wire import DayAggregates


@dataclass
class _Mean:
    """A weighted mean built up day by day."""

    total: float = 0.0
    weight: float = 0.0

    def add(self, value: float, weight: float) -> None:
        if weight > 0:
            self.total += value * weight
            self.weight += weight

    def value(self) -> float | None:
        return self.total / self.weight if self.weight else None


@dataclass
class Figures:
    """One branch's (or the fleet's) figures over the report's days."""

    name: str
    boxes: list[str] = field(default_factory=list)
    days: int = 0
    tickets: int = 0
    conversations: int = 0
    within_target: float | None = None
    deflected: float | None = None
    turns: dict[str, int] = field(default_factory=dict)
    waits: dict[str, dict[str, float]] = field(default_factory=dict)  # service -> p50/p90/served
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> p50/p95/n
    flags: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, name: str) -> None:
        self.figures = Figures(name)
        self.days: set[str] = set()
        self.within, self.deflected = _Mean(), _Mean()
        self.waits: dict[str, tuple[_Mean, _Mean, list[int]]] = {}
        self.latency: dict[str, tuple[_Mean, _Mean, list[float]]] = {}
        self.turns: dict[str, int] = defaultdict(int)

    def add(self, box_id: str, day: str, agg: DayAggregates) -> None:
        f = self.figures
        if box_id not in f.boxes:
            f.boxes.append(box_id)
        self.days.add(day)
        f.tickets += agg.tickets
        f.conversations += agg.conversations
        self.within.add(agg.within_target, agg.tickets)
        self.deflected.add(agg.deflected, agg.conversations)
        for channel, turns in agg.turns.items():
            self.turns[channel] += turns
        for service, classes in agg.waits.items():
            p50, p90, served = self.waits.setdefault(service, (_Mean(), _Mean(), [0]))
            for stats in classes.values():
                p50.add(stats.p50_s, stats.served)
                p90.add(stats.p90_s, stats.served)
                served[0] += stats.served
        for model, lat in agg.latency_ms.items():
            n = float(lat.get("n", 0.0))
            m50, m95, count = self.latency.setdefault(model, (_Mean(), _Mean(), [0.0]))
            m50.add(float(lat.get("p50_ms", 0.0)), n)
            m95.add(float(lat.get("p95_ms", 0.0)), n)
            count[0] += n

    def build(self) -> Figures:
        f = self.figures
        f.days, f.within_target, f.deflected = len(self.days), self.within.value(), \
            self.deflected.value()
        f.turns = dict(sorted(self.turns.items()))
        f.waits = {s: {"p50_s": p50.value() or 0.0, "p90_s": p90.value() or 0.0,
                       "served": served[0]}
                   for s, (p50, p90, served) in sorted(self.waits.items())}
        f.latency_ms = {m: {"p50_ms": p50.value() or 0.0, "p95_ms": p95.value() or 0.0,
                            "n": n[0]}
                        for m, (p50, p95, n) in sorted(self.latency.items())}
        return f


def compare(rows: list[tuple[str, str, DayAggregates]], boxes: list[Box], gap: float = 0.15,
            latency_factor: float = 1.5) -> tuple[list[Figures], Figures]:
    """Per branch (the box's branch name, else its id) and the fleet; a branch is flagged
    when its share within target or deflection is `gap` below the fleet's, or its turn
    latency p95 is `latency_factor` times the fleet's."""
    names = {b.box_id: b.branch or b.box_id for b in boxes}
    branches: dict[str, _Builder] = {}
    fleet = _Builder("FLEET")
    for box_id, day, agg in rows:
        name = names.get(box_id, box_id)
        branches.setdefault(name, _Builder(name)).add(box_id, day, agg)
        fleet.add(box_id, day, agg)
    total = fleet.build()
    out = [b.build() for _, b in sorted(branches.items())]
    for f in out:
        f.flags = flags(f, total, gap, latency_factor)
    return out, total


def flags(f: Figures, fleet: Figures, gap: float, latency_factor: float) -> list[str]:
    """Why a branch is far below the fleet (empty when it is not)."""
    said: list[str] = []
    if f.within_target is not None and fleet.within_target is not None \
            and f.within_target < fleet.within_target - gap:
        said.append(f"within target {f.within_target:.0%} vs fleet {fleet.within_target:.0%}")
    if f.deflected is not None and fleet.deflected is not None \
            and f.deflected < fleet.deflected - gap:
        said.append(f"self-service {f.deflected:.0%} vs fleet {fleet.deflected:.0%}")
    mine, all_ = f.latency_ms.get("turn"), fleet.latency_ms.get("turn")
    if mine and all_ and all_["p95_ms"] and mine["p95_ms"] > all_["p95_ms"] * latency_factor:
        said.append(f"turn p95 {mine['p95_ms']:.0f} ms vs fleet {all_['p95_ms']:.0f} ms")
    return said


def as_json(branches: list[Figures], fleet: Figures) -> dict[str, Any]:
    return {"branches": [asdict(b) for b in branches], "fleet": asdict(fleet)}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_report(branches: list[Figures], fleet: Figures) -> str:
    """Branches, then the fleet line, then waits per service; flagged branches marked."""
    if not branches:
        return "no day aggregates in this range (boxes send them after each queue day closes)"
    channels = sorted({c for f in [*branches, fleet] for c in f.turns})
    head = ["BRANCH", "DAYS", "TICKETS", "IN TARGET", "SELF-SERVICE",
            *[f"TURNS {c.upper()}" for c in channels], "TURN P50/P95 MS", "FLAGS"]
    rows = []
    for f in [*branches, fleet]:
        turn = f.latency_ms.get("turn")
        rows.append([f.name, str(f.days), str(f.tickets), _pct(f.within_target),
                     _pct(f.deflected), *[str(f.turns.get(c, 0)) for c in channels],
                     f"{turn['p50_ms']:.0f}/{turn['p95_ms']:.0f}" if turn else "-",
                     "; ".join(f.flags) or "-"])
    rows.insert(len(branches), ["-" * len(h) for h in head])
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=False)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]
    services = sorted({s for f in [*branches, fleet] for s in f.waits})
    if services:
        lines += ["", "waits per service, p50/p90 in minutes (served):"]
        for f in [*branches, fleet]:
            parts = [f"{s} {f.waits[s]['p50_s'] / 60:.1f}/{f.waits[s]['p90_s'] / 60:.1f} "
                     f"({f.waits[s]['served']:.0f})" for s in services if s in f.waits]
            lines.append(f"  {f.name}: " + ("; ".join(parts) or "-"))
    models = sorted({m for f in [*branches, fleet] for m in f.latency_ms})
    if models:
        lines += ["", "model latency p50/p95 ms:"]
        for f in [*branches, fleet]:
            parts = [f"{m} {f.latency_ms[m]['p50_ms']:.0f}/{f.latency_ms[m]['p95_ms']:.0f}"
                     for m in models if m in f.latency_ms]
            lines.append(f"  {f.name}: " + ("; ".join(parts) or "-"))
    flagged = [f.name for f in branches if f.flags]
    lines += ["", f"{len(flagged)} of {len(branches)} branches far below the fleet"
              + (f": {', '.join(flagged)}" if flagged else "")]
    return "\n".join(lines)
