"""Crash test: SIGKILL the service at random moments while kiosks and tellers work.

After each kill the service restarts on the same data folder and the database is checked:
every ticket a client was told about exists, in at least the state the client was told;
replaying the events succeeds (so no ticket was ever called while another counter held it);
ticket numbers never repeat within the day.

    python bench/kill_test.py --kills 200        # the benchmark figure
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devices.protocol import PROTOCOL_VERSION  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.queue.engine import QueueEngine  # noqa: E402

RANK = {"waiting": 0, "called": 1, "serving": 2, "done": 3}
KIOSK_TEXTS = ["我想换点美元", "I want to open an account", "我要办理个人贷款", "我想开户办张卡",
               "I need to exchange euros", "我想买理财产品"]


@dataclass
class Acked:
    """What clients were told: ticket number -> the most advanced state acknowledged."""

    states: dict[str, str] = field(default_factory=dict)

    def saw(self, number: str, state: str) -> None:
        if RANK[state] >= RANK.get(self.states.get(number, "waiting"), 0):
            self.states[number] = state


async def _start(data: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge.cli", "serve", "--port", "0", "--data-dir", str(data),
        "--log-level", "WARNING", "--knowledge-dense", "false", "--llm-folder", "", cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"service did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


async def _client(url: str, device: str, role: str, credential: str) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(f"{url}/{role}", open_timeout=10)
    await ws.send(json.dumps({"type": "hello", "device_id": device, "role": role,
                              "credential": credential, "protocol": PROTOCOL_VERSION}))
    await asyncio.wait_for(ws.recv(), 10)
    return ws


async def _kiosk(url: str, device: str, credential: str, acked: Acked, rng: random.Random) -> None:
    ws = await _client(url, device, "kiosk", credential)
    n = 0
    while True:
        n += 1
        await ws.send(json.dumps({"type": "text", "id": f"k{n}", "text": rng.choice(KIOSK_TEXTS)}))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["type"] == "ticket":
                acked.saw(msg["number"], "waiting")
            if msg["type"] in ("reply", "error") and msg.get("id", msg.get("ref")) == f"k{n}":
                break
        await ws.send(json.dumps({"type": "end_session"}))


async def _teller(url: str, device: str, credential: str, acked: Acked) -> None:
    ws = await _client(url, device, "console", credential)
    n = 0

    async def command(action: str) -> dict[str, Any]:
        nonlocal n
        n += 1
        ref = f"c{n}"
        await ws.send(json.dumps({"type": "command", "id": ref, "action": action}))
        while True:
            msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg.get("ref") == ref:
                return msg

    while True:
        got = await command("call_next")
        if got["type"] == "result":
            acked.saw(got["ticket"]["number"], "called")
        elif got.get("code") != "counter_busy":  # busy: a ticket called before the last crash
            await asyncio.sleep(0.02)
            continue
        done = await command("complete")
        if done["type"] == "result":
            acked.saw(done["ticket"]["number"], "done")


def check(data: Path, acked: Acked) -> dict[str, int]:
    """Compare the database with what clients were told; raises on any violation."""
    conn = sqlite3.connect(f"file:{data / 'branch.db'}?mode=ro", uri=True)
    rows = conn.execute("SELECT day, body FROM queue_events ORDER BY seq").fetchall()
    conn.close()
    events = [json.loads(body) for _, body in rows]
    settings = load_config(None).queue
    engine = QueueEngine.restore(settings, time.time, events)  # refuses an impossible history
    numbers: dict[str, set[str]] = {}
    for e in events:
        if e["kind"] == "issued":
            seen = numbers.setdefault(e["day"], set())
            if e["number"] in seen:
                raise AssertionError(f"ticket number {e['number']} issued twice on {e['day']}")
            seen.add(e["number"])
    by_number = {t.number: t for t in engine.tickets()}
    lost = 0
    for number, state in acked.states.items():
        ticket = by_number.get(number)
        if ticket is None or RANK.get(ticket.state.value, 99) < RANK[state]:
            lost += 1
    called = sum(1 for e in events if e["kind"] == "called")
    return {"events": len(events), "tickets": len(by_number), "called": called, "lost": lost,
            "double_called": 0}


async def run_kill_test(kills: int, seed: int = 2026, data: Path | None = None,
                        log: Any = print) -> dict[str, Any]:
    """Kill the service `kills` times at random moments; returns the figures."""
    rng = random.Random(seed)
    data = data or Path(tempfile.mkdtemp(prefix="bt-kill-"))
    acked = Acked()
    lost = 0
    summary: dict[str, int] = {}
    started = time.monotonic()
    for i in range(kills):
        proc, url = await _start(data)
        workers = [
            asyncio.create_task(_kiosk(url, "kiosk-1", "demo-kiosk-1", acked, rng)),
            asyncio.create_task(_kiosk(url, "kiosk-2", "demo-kiosk-2", acked, rng)),
            asyncio.create_task(_teller(url, "teller-1", "demo-teller-1", acked)),
            asyncio.create_task(_teller(url, "teller-2", "demo-teller-2", acked)),
        ]
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        summary = check(data, acked)
        lost = summary["lost"]
        if lost:
            raise AssertionError(f"kill {i + 1}: {lost} acknowledged tickets lost or behind")
        if (i + 1) % 10 == 0 or i + 1 == kills:
            log(f"kill {i + 1}/{kills}: {summary['tickets']} tickets, {summary['called']} called, "
                f"{summary['events']} "
                f"events, {len(acked.states)} acknowledged, lost 0 "
                f"({time.monotonic() - started:.0f} s)")
    return {"kills": kills, "lost": lost, "double_called": 0,
            "tickets": summary.get("tickets", 0), "called": summary.get("called", 0),
            "acknowledged": len(acked.states),
            "events": summary.get("events", 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "kill_test.json")
    args = parser.parse_args()
    result = asyncio.run(run_kill_test(args.kills, args.seed))
    print(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
