"""`branch-teller report`: a day's queue figures from the branch database."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path

from edge.config import BranchConfig, ConfigError
from edge.queue.engine import QueueEngine
from edge.queue.reports import class_rows, render_csv, render_table, report_rows
from edge.store import Store


async def _tickets(config: BranchConfig, day: str) -> list:  # type: ignore[type-arg]
    db = Path(config.data_dir) / "branch.db"
    if not db.exists():
        raise ConfigError(f"{db}: no branch database here (is --data-dir right?)")
    store = await Store.open(db)
    try:
        events = await store.load_events(day)
    finally:
        await store.close()
    return QueueEngine.restore(config.queue, time.time, events).tickets()


def print_report(config: BranchConfig, day: str, csv_path: str | None) -> int:
    """Print per service/hour and per class tables; optionally write the service table as CSV."""
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ConfigError(f"--date {day!r}: expected YYYY-MM-DD") from None
    tickets = asyncio.run(_tickets(config, day))
    rows = report_rows(tickets, config.queue, day)
    if not rows:
        print(f"no tickets on {day}")
        return 0
    print(render_table(rows))
    print()
    print(render_table(class_rows(tickets, config.queue, day)))
    if csv_path:
        Path(csv_path).write_text(render_csv(rows), encoding="utf-8")
        print(f"\nwrote {csv_path}")
    return 0
