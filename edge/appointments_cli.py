"""`branch-teller appointments`: import the booking systems' export, list a day's bookings."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.appointments import BookFileError, BookRules, counts, listing, read_book
from edge.config import BranchConfig, ConfigError
from edge.store import Store

HELP = """\
FILE is the CSV the central side exports from the booking systems (mobile app, phone), UTF-8,
one booking per line, with a header naming these columns (order free, only the first four
required):
  number          appointment number as printed in the booking SMS: up to two letters then
                  digits, appointments.number_min_chars-number_max_chars long (6-8)
  date            YYYY-MM-DD
  start, end      booked window, HH:MM branch time (end after start)
  service         queue service id (personal, cash, fx, loan, wealth, corporate), or
  intent          an intent id, mapped to its service
  priority_class  optional queue class (e.g. vip) the customer holds
  hint            optional masked hint to confirm the customer, e.g. 王*1234 (at most 4 digits;
                  compared at the kiosk when appointments.ask_hint is on, never shown or logged)
  status          booked (default) or cancelled
Every row is checked first; any bad row is reported with its line and field and nothing is
imported. Importing again is safe: bookings still booked take the new values, bookings already
checked in or cancelled keep their state.
Check-in window: from appointments.check_in_early_min (30) before the start to
appointments.check_in_late_min (15) after the end; later arrivals get a normal ticket."""


def _today(config: BranchConfig) -> str:
    return datetime.now(ZoneInfo(config.queue.timezone)).date().isoformat()


async def _import(config: BranchConfig, path: Path) -> dict[str, int]:
    rows = read_book(path, BookRules.of(config.queue, config.appointments))
    store = await Store.open(Path(config.data_dir) / "branch.db")
    try:
        now = time.time()
        result = await store.upsert_appointments(rows, now)
        await store.expire_appointments(_today(config), now)
        await store.audit("cli", "appointments_import", {"file": path.name, **result})
    finally:
        await store.close()
    return result


async def _list(config: BranchConfig, day: str) -> list[dict[str, Any]]:
    db = Path(config.data_dir) / "branch.db"
    if not db.exists():
        raise ConfigError(f"{db}: no branch database here (is --data-dir right?)")
    store = await Store.open(db)
    try:
        await store.expire_appointments(_today(config), time.time())
        return await store.appointments_on(day)
    finally:
        await store.close()


def run_appointments(config: BranchConfig, args: argparse.Namespace) -> int:
    """`import FILE` or `list [--date D] [--json]`."""
    if args.action == "import":
        if not args.file:
            raise ConfigError("appointments import: give the CSV file to import")
        try:
            result = asyncio.run(_import(config, Path(args.file)))
        except BookFileError as err:
            print(f"appointments import: {err.source}: nothing imported", file=sys.stderr)
            for problem in err.problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        print("imported: " + ", ".join(f"{n} {k}" for k, n in result.items()))
        return 0
    day = args.date or _today(config)
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ConfigError(f"--date {day!r}: expected YYYY-MM-DD") from None
    rows = listing(asyncio.run(_list(config, day)))
    if args.json:
        print(
            json.dumps(
                {"day": day, "counts": counts(rows), "appointments": rows}, ensure_ascii=False
            )
        )
        return 0
    print(f"{day}: " + ", ".join(f"{n} {k}" for k, n in counts(rows).items()))
    for r in rows:
        print(
            f"  {r['number']:<10} {r['window']:<12} {r['service']:<10} "
            f"{r['priority_class'] or '-':<10} {r['status']:<11} {r['ticket'] or ''}"
        )
    return 0
