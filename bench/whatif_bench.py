"""What-if staffing on a simulated branch day: how long it takes and what it says.

Usage: .venv/bin/python bench/whatif_bench.py [--seed 2026] [--at 11:40] [--out FILE]

Records the simulated day of bench/queue_sim.py as the engine's events (four earlier days of
the same weekday as history), cuts it at `--at`, and times `what_if` for a few changes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.queue_sim import day_start, run_day, simulate_arrivals
from edge.queue import QueueEngine, QueueSettings
from edge.queue.events import CounterClosed, CounterOpened, Issued
from edge.queue.forecast import situation
from edge.queue.model import Event
from edge.queue.staffing import parse_changes
from edge.queue.whatif import what_if

DAY = "2026-11-25"  # the simulated day (a Wednesday)
HISTORY_SEEDS = (101, 102, 103, 104)
CHANGES = ("", "serve c3 wealth", "close c6", "break c2 20", "prefer c4 vip", "close c1; close c2")


class Recorder:
    """An engine that keeps every event its operations produced (for run_day)."""

    def __init__(self, settings: QueueSettings, clock: Callable[[], float]) -> None:
        self.engine = QueueEngine(settings, clock)
        self.events: list[Event] = []

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.engine, name)

        def op(*args: Any, **kw: Any) -> Any:
            out = fn(*args, **kw)
            self.events.extend(out.events)
            return out

        return op


def record_day(seed: int, settings: QueueSettings) -> list[Event]:
    """The whole simulated day of `seed` as queue events, on 2026-11-25."""
    made: list[Recorder] = []

    def make(clock: Callable[[], float]) -> Recorder:
        made.append(Recorder(settings, clock))
        return made[-1]

    run_day(make, simulate_arrivals(seed), settings)
    return made[0].events


def shift(events: Sequence[Event], weeks: int) -> list[Event]:
    """The same events `weeks` weeks earlier (the branch's time zone has no DST here)."""
    from datetime import date, timedelta

    day = (date.fromisoformat(DAY) - timedelta(weeks=weeks)).isoformat()
    old, new = DAY.replace("-", ""), day.replace("-", "")
    out: list[Event] = []
    for e in events:
        moved = msgspec.structs.replace(e, at=e.at - weeks * 7 * 86400.0)
        match moved:
            case Issued():
                moved = msgspec.structs.replace(moved, ticket=moved.ticket.replace(old, new),
                                                day=day)
            case CounterOpened() | CounterClosed():
                pass
            case _:
                moved = msgspec.structs.replace(moved, ticket=moved.ticket.replace(old, new))
        out.append(moved)
    return out


def history(settings: QueueSettings) -> list[list[Event]]:
    """Four earlier Wednesdays, each a different seeded day."""
    return [shift(record_day(s, settings), w) for w, s in enumerate(HISTORY_SEEDS, 1)]


def live_engine(events: Sequence[Event], settings: QueueSettings, at: float) -> QueueEngine:
    """The queue as it stood at `at`: the day's events up to then, replayed."""
    return QueueEngine.restore(settings, lambda: at, [e for e in events if e.at <= at])


def clock_at(hhmm: str) -> float:
    """Epoch seconds of HH:MM on the simulated day (branch time)."""
    h, m = (int(x) for x in hhmm.split(":"))
    return day_start() + (h - 9) * 3600.0 + m * 60.0


def main(argv: Sequence[str] | None = None) -> int:
    """Time what_if for each change at the cut and print what it says."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--at", default="11:40")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "what_if.json"))
    args = ap.parse_args(argv)
    settings = QueueSettings()
    now = clock_at(args.at)
    engine = live_engine(record_day(args.seed, settings), settings, now)
    past = history(settings)
    t0 = time.perf_counter()
    here = situation(engine, now, past, 3600.0)
    situation_ms = (time.perf_counter() - t0) * 1000
    doc: dict[str, Any] = {"seed": args.seed, "at": args.at, "waiting": len(here.waiting),
                           "situation_ms": round(situation_ms, 2), "runs": []}
    doc["load_avg_1min"] = os.getloadavg()[0]
    for text in CHANGES:
        timings, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            result = what_if(settings, engine.policy, here, parse_changes(text, settings)
                             if text else [], horizon_min=60, seed=1)
            timings.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        ms = sorted(timings)[1] * 1000
        doc["runs"].append({"change": text, "median_ms": round(ms, 1),
                            "median_cpu_ms": round(sorted(cpu)[1] * 1000, 1),
                            "late": result.late_classes,
                            "suggestion": result.suggestion and result.suggestion.change,
                            "base_empty_at_s": result.base.empty_at_s,
                            "changed_empty_at_s": result.changed and result.changed.empty_at_s})
        print(f"{text or '(no change)':22} {ms:7.1f} ms  late {result.late_classes}  "
              f"suggestion {result.suggestion and result.suggestion.text}")
    quiet = msgspec.structs.replace(
        settings, what_if=msgspec.structs.replace(settings.what_if, suggest=False))
    t0 = time.perf_counter()
    what_if(quiet, engine.policy, here, parse_changes("serve c3 wealth", settings),
            horizon_min=60, seed=1)
    doc["without_suggestion_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    print(f"serve c3 wealth without the suggestion search: {doc['without_suggestion_ms']} ms "
          f"(load average {doc['load_avg_1min']:.1f} on 2 cores)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
