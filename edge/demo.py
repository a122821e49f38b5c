"""Demo mode of the main job: simulated customers, tellers and a number-caller.

They are ordinary protocol clients (the same simulators the tests use) so a newcomer sees
the real service at work: conversations ending in tickets, calls and acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

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
    from devices.protocol import EndSession, encode
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
    for d in config.devices:
        if d.role == "console" and d.counter:
            ep = Endpoint(url, d.id, d.credential, "console")
            jobs.append(run_teller(ep, d.counter, lambda s: print(f"[teller] {s}", flush=True),
                                   config.demo.counter_interval_s, stop))
    try:
        await asyncio.gather(*jobs)
    except (SimulatorError, OSError, ConnectionClosed) as err:
        log.warning("demo stopped: %s", err)
