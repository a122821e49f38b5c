"""Crash test: SIGKILL the service at random moments while kiosks, tellers and a number-caller
work.

Kiosks ask for tickets and say things that raise staff alerts (a large cash withdrawal, a
fraud report, a complaint); tellers call, sometimes recall, complete, and acknowledge some of
the alerts they were shown; the number-caller acknowledges only some of its calls. After each
kill the service restarts on the same data folder and three things are counted as lost:

- a ticket a client was told about that is missing or behind the state it was told;
- an alert a console was shown and nobody acknowledged that is no longer open (in the
  database, or in the snapshot the next console gets after the restart);
- a call the number-caller was sent, or a console was told about, that no caller
  acknowledged and that is neither pending in the database nor re-sent to the caller after
  the restart (a call may go once its expiry is stored: past the desk's expiry, or replaced by a
  newer call at the same counter).

Replaying the events must succeed (so no ticket was ever called while another counter held
it) and ticket numbers never repeat within the day.

    python bench/kill_test.py --kills 200        # the benchmark figure
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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
from edge.desk import DeskState  # noqa: E402
from edge.queue.engine import QueueEngine  # noqa: E402
from edge.queue.events import (  # noqa: E402
    CallExpired,
    CallSent,
    DeskEvent,
    Issued,
    QueueEvent,
    decode_event,
)

RANK = {"waiting": 0, "called": 1, "serving": 2, "done": 3}
KIOSK_TEXTS = ["我想换点美元", "I want to open an account", "我要办理个人贷款", "我想开户办张卡",
               "I need to exchange euros", "我想买理财产品",
               "我要取现金八万元", "我被骗了", "我要投诉你们"]  # these three alert staff
CALL_EXPIRY_S = 900.0  # the desk's default: an unacknowledged call older than this may go
EXPIRY_MARGIN_S = 30.0  # a call this close to expiry may expire before the caller reconnects


@dataclass
class Acked:
    """What clients were told, and what they acknowledged."""

    states: dict[str, str] = field(default_factory=dict)  # ticket number -> furthest state
    alerts: set[str] = field(default_factory=set)  # shown to a console, needing an ack
    alerts_acked: set[str] = field(default_factory=set)  # a console sent the ack
    calls: dict[str, str] = field(default_factory=dict)  # call id -> number, sent to caller
    calls_acked: set[str] = field(default_factory=set)  # the caller sent the ack
    numbers_called: set[str] = field(default_factory=set)  # a console was told: called
    resent: set[str] = field(default_factory=set)  # calls the caller got since the restart
    shown_open: set[str] | None = None  # alerts in the first console snapshot after it

    def saw(self, number: str, state: str) -> None:
        if RANK[state] >= RANK.get(self.states.get(number, "waiting"), 0):
            self.states[number] = state

    def saw_alert(self, msg: dict[str, Any]) -> None:
        if msg.get("requires_ack", True):
            self.alerts.add(msg["alert"])


@dataclass
class Expect:
    """What the restarted service must show: open alerts and calls to re-send."""

    alerts: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)


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


TELLERS = (("teller-1", "demo-teller-1", "c1"), ("teller-2", "demo-teller-2", "c2"))
# The lobby manager verifies large-value alerts, without which a counter cannot go on.
SUPERVISOR = ("manager", "demo-manager", "c4")


async def _seed_staff(data: Path) -> None:
    """The two tellers' staff accounts (consoles log in with staff accounts, and the service
    runs without --demo here, so it creates none)."""
    from edge import staff
    from edge.store import Store

    store = await Store.open(data / "branch.db")
    try:
        ph = staff.hasher(1, 8192, 1)  # cheap: these passwords are published anyway
        for (user, password, counter), role in [*((t, "teller") for t in TELLERS),
                                                 (SUPERVISOR, "manager")]:
            await store.call(functools.partial(
                staff.add_account, ph=ph, user=user, password=password, role=role,
                counter=counter, replace_existing=True, min_password=0))
    finally:
        await store.close()


async def _client(url: str, device: str, role: str, credential: str) -> Any:
    from websockets.asyncio.client import connect

    headers: dict[str, str] = {}
    if role == "console":  # a shift token from /login, checked at the upgrade
        from devices.staff_login import login

        headers = (await login(url, device, credential, timeout=10)).header()
    ws = await connect(f"{url}/{role}", open_timeout=10, additional_headers=headers)
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


async def _console(url: str, device: str, credential: str, acked: Acked) -> Any:
    """A console connection, after the snapshot it is sent on connecting."""
    ws = await _client(url, device, "console", credential)
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == "snapshot":
            if acked.shown_open is None:  # the first console after the restart
                acked.shown_open = {a["alert"] for a in msg["alerts"]}
            return ws
        if msg["type"] == "alert":
            acked.saw_alert(msg)


async def _teller(ws: Any, acked: Acked, rng: random.Random) -> None:
    n = 0
    mine: list[str] = []  # alerts this teller was shown and has not acknowledged

    async def command(action: str, **fields: str) -> dict[str, Any]:
        nonlocal n
        n += 1
        ref = f"c{n}"
        await ws.send(json.dumps({"type": "command", "id": ref, "action": action, **fields}))
        while True:
            msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["type"] == "alert" and msg.get("requires_ack", True):
                acked.saw_alert(msg)
                mine.append(msg["alert"])
            if msg.get("ref") == ref:
                return msg

    while True:
        got = await command("call_next")
        if got["type"] == "result":
            acked.saw(got["ticket"]["number"], "called")
            acked.numbers_called.add(got["ticket"]["number"])
        elif got.get("code") != "counter_busy":  # busy: a ticket called before the last crash
            await asyncio.sleep(0.02)
            continue
        if rng.random() < 0.3:
            again = await command("recall")
            if again["type"] == "result" and again["ticket"]["state"] == "called":
                acked.numbers_called.add(again["ticket"]["number"])
        done = await command("complete")
        if done["type"] == "result":
            acked.saw(done["ticket"]["number"], "done")
        elif done.get("code") == "verification_required":  # the supervisor is on it
            await asyncio.sleep(0.05)
        if mine and rng.random() < 0.5:
            alert = mine.pop(rng.randrange(len(mine)))
            acked.alerts_acked.add(alert)  # from the moment it is sent: it may have been done
            await command("ack_alert", alert=alert)


async def _supervisor(ws: Any, acked: Acked) -> None:
    """The lobby manager: verifies every large-value alert (open ones first), so that the
    tellers' counters go on; the verification is stored before the alert closes."""
    n = 0

    async def verify(alert: str) -> None:
        nonlocal n
        n += 1
        acked.alerts_acked.add(alert)  # from the moment it is sent, as for the tellers' acks
        await ws.send(json.dumps({"type": "command", "id": f"v{n}", "action": "verify_alert",
                                  "alert": alert}))

    await ws.send(json.dumps({"type": "command", "id": "open", "action": "snapshot"}))
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == "snapshot" and msg.get("id") == "open":
            for alert in msg["alerts"]:
                if alert.get("verify"):
                    await verify(alert["alert"])
        elif msg["type"] == "alert":
            acked.saw_alert(msg)
            if msg.get("verify"):
                await verify(msg["alert"])


async def _caller(url: str, acked: Acked) -> Any:
    """The number-caller's connection, once the service has sent it the board (and, right
    behind it, every call still pending)."""
    ws = await _client(url, "caller-1", "caller", "demo-caller-1")
    while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "board":
        pass
    return ws


async def _announce(ws: Any, acked: Acked) -> None:
    """Take calls; acknowledge about half of them (always the same half: the call id decides)."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if msg["type"] != "call":
            continue
        acked.calls[msg["call"]] = msg["number"]
        acked.resent.add(msg["call"])
        if int(msg["call"], 16) % 2 == 0:
            acked.calls_acked.add(msg["call"])  # from the moment it is sent, as for alerts
            await ws.send(json.dumps({"type": "ack", "call": msg["call"]}))


def _read(data: Path) -> tuple[list[QueueEvent], list[DeskEvent]]:
    conn = sqlite3.connect(f"file:{data / 'branch.db'}?mode=ro", uri=True)
    rows = conn.execute("SELECT body, schema FROM queue_events ORDER BY seq").fetchall()
    conn.close()
    queue: list[QueueEvent] = []
    desk: list[DeskEvent] = []
    for body, schema in rows:
        event = decode_event(body, schema)
        if isinstance(event, QueueEvent):
            queue.append(event)
        else:
            desk.append(event)
    return queue, desk


def check(data: Path, acked: Acked, expect: Expect) -> dict[str, int]:
    """Compare the database, and what the restarted service showed, with what clients were
    told; raises on an impossible history. Sets `expect` for the next restart."""
    events, desk_events = _read(data)
    settings = load_config(None).queue
    engine = QueueEngine.restore(settings, time.time, events)  # refuses an impossible history
    numbers: dict[str, set[str]] = {}
    for e in events:
        if isinstance(e, Issued):
            seen = numbers.setdefault(e.day, set())
            if e.number in seen:
                raise AssertionError(f"ticket number {e.number} issued twice on {e.day}")
            seen.add(e.number)
    by_number = {t.number: t for t in engine.tickets()}
    lost = 0
    for number, state in acked.states.items():
        ticket = by_number.get(number)
        if ticket is None or RANK.get(ticket.state.value, 99) < RANK[state]:
            lost += 1
    desk = DeskState()  # what QueueDesk.open rebuilds
    desk.apply_all(desk_events)
    sent = {e.call: e for e in desk_events if isinstance(e, CallSent)}
    # A call may go once its expiry is stored: past the desk's expiry, or replaced by a newer
    # call at the same counter (the display shows the newest; edge/desk.py).
    expired = {e.call for e in desk_events if isinstance(e, CallExpired)
               and (e.at - sent[e.call].at >= CALL_EXPIRY_S
                    or any(n.counter == sent[e.call].counter and sent[e.call].at <= n.at <= e.at
                           and n.call != e.call for n in sent.values()))}
    kept = set(desk.pending_calls) | expired
    unacked = set(acked.calls) - acked.calls_acked
    acked_numbers = {acked.calls[c] for c in acked.calls_acked}
    kept_numbers = {sent[c].number for c in kept}
    lost_calls = len(unacked - kept) + len(acked.numbers_called - acked_numbers - kept_numbers)
    lost_alerts = len(acked.alerts - acked.alerts_acked - set(desk.alerts))
    # shown after the restart that began this round: what the last check expected
    expected_alerts = expect.alerts - acked.alerts_acked
    not_shown = len(expected_alerts - (acked.shown_open or set()))
    not_resent = len(expect.calls - acked.resent)
    expected_calls = len(expect.calls)
    now = time.time()
    expect.alerts = set(desk.alerts)
    expect.calls = {c for c, p in desk.pending_calls.items()
                    if now - p.created_at < CALL_EXPIRY_S - EXPIRY_MARGIN_S}
    called = sum(1 for e in events if e.__struct_config__.tag == "called")
    return {"events": len(events) + len(desk_events), "tickets": len(by_number),
            "called": called, "lost": lost, "double_called": 0,
            "lost_alerts": lost_alerts, "alerts_not_shown": not_shown,
            "lost_calls": lost_calls, "calls_not_resent": not_resent,
            "open_alerts": len(desk.alerts), "pending_calls": len(desk.pending_calls),
            "expired_calls": len(expired), "alerts_expected": len(expected_alerts),
            "calls_expected": expected_calls}


LOSSES = ("lost", "lost_alerts", "alerts_not_shown", "lost_calls", "calls_not_resent")


async def run_kill_test(kills: int, seed: int = 2026, data: Path | None = None,
                        log: Any = print, max_s: float | None = None) -> dict[str, Any]:
    """Kill the service `kills` times at random moments (fewer if `max_s` runs out first:
    `kills` in the figures says how many were done); returns the figures."""
    rng = random.Random(seed)
    data = data or Path(tempfile.mkdtemp(prefix="bt-kill-"))
    acked = Acked()
    expect = Expect()
    summary: dict[str, int] = {}
    totals = {"alerts_not_shown": 0, "calls_not_resent": 0}
    checked = {"alerts": 0, "calls": 0}  # expected after a restart, and looked for
    started = time.monotonic()
    done = 0
    await _seed_staff(data)
    for i in range(kills):
        if max_s is not None and time.monotonic() - started > max_s:
            break
        proc, url = await _start(data)
        acked.resent, acked.shown_open = set(), None
        # the caller and the first console connect before anyone works, so what they are
        # sent on connecting is the restored state
        caller = await _caller(url, acked)
        teller_1 = await _console(url, "teller-1", "demo-teller-1", acked)
        teller_2 = await _console(url, "teller-2", "demo-teller-2", acked)
        supervisor = await _console(url, SUPERVISOR[0], SUPERVISOR[1], acked)
        workers = [
            asyncio.create_task(_announce(caller, acked)),
            asyncio.create_task(_kiosk(url, "kiosk-1", "demo-kiosk-1", acked, rng)),
            asyncio.create_task(_kiosk(url, "kiosk-2", "demo-kiosk-2", acked, rng)),
            asyncio.create_task(_teller(teller_1, acked, rng)),
            asyncio.create_task(_teller(teller_2, acked, rng)),
            asyncio.create_task(_supervisor(supervisor, acked)),
        ]
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        summary = check(data, acked, expect)
        for key in ("alerts_not_shown", "calls_not_resent"):
            totals[key] += summary[key]
        checked["alerts"] += summary["alerts_expected"]
        checked["calls"] += summary["calls_expected"]
        bad = {k: summary[k] for k in LOSSES if summary[k]}
        if bad:
            raise AssertionError(f"kill {i + 1}: lost {bad}")
        done = i + 1
        if (i + 1) % 10 == 0 or i + 1 == kills:
            log(f"kill {i + 1}/{kills}: {summary['tickets']} tickets, {summary['called']} called, "
                f"{summary['events']} events, {len(acked.states)} acknowledged, "
                f"{len(acked.alerts)} alerts ({summary['open_alerts']} open), "
                f"{len(acked.calls)} calls ({summary['pending_calls']} pending), lost 0 "
                f"({time.monotonic() - started:.0f} s)")
    return {"kills": done, "kills_asked": kills, "lost": summary.get("lost", 0), "double_called": 0,
            "lost_alerts": summary.get("lost_alerts", 0),
            "lost_calls": summary.get("lost_calls", 0),
            "alerts_not_shown": totals["alerts_not_shown"],
            "calls_not_resent": totals["calls_not_resent"],
            "alerts_checked_after_restart": checked["alerts"],
            "calls_checked_after_restart": checked["calls"],
            "tickets": summary.get("tickets", 0), "called": summary.get("called", 0),
            "acknowledged": len(acked.states),
            "alerts": len(acked.alerts), "alerts_acked": len(acked.alerts_acked),
            "open_alerts": summary.get("open_alerts", 0),
            "calls": len(acked.calls), "calls_acked": len(acked.calls_acked),
            "pending_calls": summary.get("pending_calls", 0),
            "expired_calls": summary.get("expired_calls", 0),
            "events": summary.get("events", 0),
            "seconds": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after this long even if fewer kills were done")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "kill_test.json")
    args = parser.parse_args()
    max_s = None if args.max_minutes is None else args.max_minutes * 60.0
    result = asyncio.run(run_kill_test(args.kills, args.seed, max_s=max_s))
    print(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
