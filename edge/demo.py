"""Demo mode of the main job: simulated customers, tellers and a number-caller.

They are ordinary protocol clients (the same simulators the tests use) so a newcomer sees
the real service at work: conversations ending in tickets, calls and acknowledgements. A few
bookings around the current time let the script show an appointment check-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devices.simulators import (
    ConnectionClosed,
    Endpoint,
    SimulatorError,
    kiosk_turn,
    run_caller,
    run_teller,
    session,
)
from edge.config import BranchConfig
from edge.staff import DEMO_STAFF

log = logging.getLogger("branch_teller.demo")
SCRIPT = Path(__file__).resolve().parent.parent / "devices" / "demo_script.txt"


def _endpoint(config: BranchConfig, url: str, role: str, skip: int = 0) -> Endpoint | None:
    devices = [d for d in config.devices if d.role == role]
    if len(devices) <= skip:
        return None
    d = devices[skip]
    return Endpoint(url, d.id, d.credential, d.role)


async def _customers(ep: Endpoint, conversations: list[list[str]], interval: float,
                     stop: asyncio.Event) -> None:
    from devices.kiosk_messages import EndSession
    from devices.protocol import encode
    from devices.simulators import describe

    turn = itertools.count(1)
    async with session(ep) as ws:
        for conversation in itertools.cycle(conversations):
            if stop.is_set():
                return
            for text in conversation:
                print(f"[{ep.device_id}] customer> {text}", flush=True)
                for msg in await kiosk_turn(ws, text, f"demo{next(turn)}"):
                    print(f"[{ep.device_id}] {describe(msg).strip()}", flush=True)
            await ws.send(encode(EndSession(reason="next customer")))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


# (number, minutes from now to the window's start, window minutes, service): one customer due
# now, one too early, one too late. devices/demo_script.txt checks the first two in.
DEMO_BOOKINGS = (("335812", -10, 30, "wealth"), ("A1234567", 90, 30, "personal"),
                 ("445566", -120, 30, "fx"))


def demo_bookings(now: float, timezone: str) -> list[dict[str, Any]]:
    """Today's demo bookings around `now`, kept inside today's date."""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(timezone)).replace(second=0, microsecond=0)
    midnight = local.replace(hour=0, minute=0)
    rows = []
    for number, offset, length, service in DEMO_BOOKINGS:
        start = local + dt.timedelta(minutes=offset)
        start = min(max(start, midnight), midnight + dt.timedelta(minutes=24 * 60 - 1 - length))
        end = start + dt.timedelta(minutes=length)
        rows.append({"number": number, "day": local.date().isoformat(),
                     "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"),
                     "service": service, "intent": None, "priority_class": None, "hint": None,
                     "status": "booked"})
    return rows


async def seed_appointments(config: BranchConfig, now: float) -> None:
    """Put the demo bookings in the book (again, as new) before the service starts."""
    from edge.store import Store

    store = await Store.open(Path(config.data_dir) / "branch.db")
    try:
        await store.upsert_appointments(demo_bookings(now, config.queue.timezone), now,
                                        force=True)
    finally:
        await store.close()


async def run_demo(config: BranchConfig, url: str, stop: asyncio.Event) -> None:
    """Run the simulated branch until `stop` is set."""
    from devices.simulators import read_script

    conversations = read_script(SCRIPT.read_text(encoding="utf-8"))
    jobs: list[Coroutine[Any, Any, Any]] = []
    kiosk = _endpoint(config, url, "kiosk")
    if kiosk:
        jobs.append(_customers(kiosk, conversations, config.demo.kiosk_interval_s, stop))
    caller = _endpoint(config, url, "caller")
    if caller:
        jobs.append(run_caller(caller, lambda s: print(f"[{caller.device_id}] {s}", flush=True)))
    for user, password, role, counter in DEMO_STAFF:
        if role == "teller" and counter:
            ep = Endpoint(url, user, password, "console")
            jobs.append(run_teller(ep, counter, lambda s: print(f"[teller] {s}", flush=True),
                                   config.demo.counter_interval_s, stop))
    try:
        await asyncio.gather(*jobs)
    except (SimulatorError, OSError, ConnectionClosed) as err:
        log.warning("demo stopped: %s", err)
