"""What-if staffing's shell: the same weekday's history from the store, the comparison as a
table, and `branch-teller queue what-if` (the pure part is edge/queue/whatif.py)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from devices.result_payloads import WhatIfData
from edge.config import BranchConfig, ConfigError
from edge.queue.engine import QueueEngine
from edge.queue.forecast import same_weekday_days, situation
from edge.queue.model import Event
from edge.queue.settings import QueueSettings
from edge.queue.staffing import CHANGE_HELP, ChangeError, parse_changes
from edge.queue.whatif import Comparison, GroupStats
from edge.queue.whatif import what_if as simulate_what_if
from edge.store import Store


async def same_weekday_history(store: Store, today: str, weeks: int) -> list[list[Event]]:
    """Queue events of the last `weeks` same weekdays before `today` (oldest data first)."""
    days = same_weekday_days(await store.event_days(), today, weeks)
    return [await store.load_events(d) for d in sorted(days)]


def audit_detail(c: Comparison, changes: str) -> dict[str, Any]:
    """What the audit log keeps so a run can be repeated: the instant, seed, change, horizon."""
    return {"at": c.now, "seed": c.seed, "change": changes, "horizon_min": c.horizon_min,
            "replications": c.replications, "suggestion": c.suggestion and c.suggestion.change}


def what_if_data(c: Comparison) -> WhatIfData:
    """The comparison as the `what_if` result's typed payload (the same fields, checked)."""
    return msgspec.convert(msgspec.to_builtins(c), WhatIfData)


def _min(s: float | None) -> str:
    return "-" if s is None else f"{s / 60:.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def _rows(base: list[GroupStats], other: list[GroupStats] | None) -> list[list[str]]:
    theirs = {g.key: g for g in other or []}
    out = []
    for g in base:
        row = [g.key, f"{g.customers:.1f}", _min(g.p50_s), _min(g.p90_s), _pct(g.within_target)]
        if other is not None:
            h = theirs.get(g.key)
            row += ["-"] * 3 if h is None else [_min(h.p50_s), _min(h.p90_s),
                                                _pct(h.within_target)]
        out.append(row)
    return out


def _empty(s: float | None, horizon_min: int) -> str:
    return f"after > {horizon_min} min" if s is None else f"in {s / 60:.0f} min"


def render_comparison(c: Comparison) -> str:
    """The side-by-side table `queue what-if` prints (minutes; share within the class target)."""
    changed = c.changed
    head = ["", "customers", "p50", "p90", "in target"]
    if changed is not None:
        head += ["p50'", "p90'", "in target'"]
    lines = [f"What if: {'; '.join(changed.changes) if changed else 'no change'} "
             f"(next {c.horizon_min} min, {c.replications} runs, seed {c.seed}); "
             "customers per run, waits in minutes, ' = with the change"]
    for title, base, other in (
        ("service", c.base.services, changed.services if changed else None),
        ("class", c.base.classes, changed.classes if changed else None),
    ):
        rows = [[title, *head[1:]], *_rows(base, other)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines.append("")
        for j, r in enumerate(rows):
            lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                   for i, (v, w) in enumerate(zip(r, widths, strict=True))))
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"queue empties: now {_empty(c.base.empty_at_s, c.horizon_min)}"
                 + (f", with the change {_empty(changed.empty_at_s, c.horizon_min)}"
                    if changed else ""))
    for label, sc in (("now", c.base), ("with the change", changed)):
        left = [f"{g.key} {g.unserved:.1f}" for g in (sc.services if sc else []) if g.unserved]
        if left:
            lines.append(f"never called {label} (no open counter serves them; waits counted "
                         f"to the end of the run): {', '.join(left)}")
    if c.late_classes:
        lines.append(f"late now (p90 over target): {', '.join(c.late_classes)}")
    if c.suggestion is not None:
        lines.append(f"suggestion: {c.suggestion.text}")
    elif c.late_classes:
        lines.append("suggestion: no single change tried brings them within target")
    return "\n".join(lines) + "\n"


def _instant(text: str | None, tz: str) -> float:
    if text is None:
        return time.time()
    try:
        return float(text)  # epoch seconds, as the audit log keeps them
    except ValueError:
        pass
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r}: expected YYYY-MM-DDTHH:MM (branch time) or epoch "
                          "seconds") from None
    return (local if local.tzinfo else local.replace(tzinfo=ZoneInfo(tz))).timestamp()


async def replay(store: Store, settings: QueueSettings, now: float
                 ) -> tuple[QueueEngine, list[list[Event]]]:
    """The queue as it stood at `now` (its day's events up to then) and the same weekday's
    history: what a what-if run at `now` started from, so an audited run can be repeated."""
    engine = QueueEngine(settings, lambda: now)
    day = engine.day_of(now)
    for event in await store.load_events(day):
        if event.at <= now:
            engine.apply(event)
    return engine, await same_weekday_history(store, day, settings.what_if.history_weeks)


def run_what_if(config: BranchConfig, words: list[str], horizon: int | None, seed: int | None,
                replications: int | None, at: str | None, db: str | None, as_json: bool) -> int:
    """`branch-teller queue what-if CHANGE`: print the comparison, record it in the audit log."""
    settings = config.queue
    text = " ".join(words).strip()
    try:
        changes = parse_changes(text, settings) if text else []
    except ChangeError as err:
        raise ConfigError(f"what-if: {err}\n{CHANGE_HELP}") from None
    w = settings.what_if
    minutes = horizon or w.horizon_min
    if not 1 <= minutes <= w.max_horizon_min:
        raise ConfigError(f"--horizon {minutes}: between 1 and {w.max_horizon_min} minutes")
    now = _instant(at, settings.timezone)
    chosen_seed = seed if seed is not None else int(now) % 1_000_000

    path = Path(db or Path(config.data_dir) / "branch.db")
    if not path.exists():
        raise ConfigError(f"{path}: no branch database here (is --data-dir or --db right?)")

    async def go() -> Comparison:
        store = await Store.open(path)
        try:
            engine, history = await replay(store, settings, now)
            here = situation(engine, now, history, minutes * 60.0)
            try:
                result = simulate_what_if(settings, engine.policy, here, changes,
                                          horizon_min=minutes, seed=chosen_seed,
                                          replications=replications)
            except ChangeError as err:
                raise ConfigError(f"what-if: {err}") from None
            await store.audit("cli", "what_if", audit_detail(result, text))
            return result
        finally:
            await store.close()

    result = asyncio.run(go())
    if as_json:
        print(json.dumps(msgspec.to_builtins(result), ensure_ascii=False))
    else:
        print(render_comparison(result), end="")
    return 0
