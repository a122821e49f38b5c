"""Issue 16's security suite against a real service over wss (a branch CA made by
scripts/branch_ca.sh): attempts per kind of attack, how many were refused, how many got
through (every one must be 0), and the flood figure: another kiosk's text-turn latency
while one kiosk sends 10,000 messages a second (from a separate process), against quiet.

    python bench/security_suite.py [--turns 40] [--rate 10000] [--attempts 50]

Writes bench/results/security.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus  # noqa: E402

from devices.protocol import PROTOCOL_VERSION  # noqa: E402
from devices.staff_login import LoginError, login, logout  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEMO = {"kiosk-1": "demo-kiosk-1", "kiosk-2": "demo-kiosk-2"}
TIMEOUT = 20.0
QUESTION = "你们几点关门"
# A kiosk's turns come seconds apart; back to back they would trip its own budget
# (server.control_per_s), so the measuring kiosk leaves this gap after each turn.
TURN_GAP_S = 0.15
FLOOD_OVER_PLAIN_WS = (
    "plain ws on 127.0.0.1. Over wss, in runs before the server paused reading over-budget "
    "connections, the server stopped reading a flooding client's connection after a few "
    "seconds (that connection only; cause not found). messages_sent counts what the client "
    "wrote; most of it waits in TCP buffers and is never read: the server stops reading an "
    "over-budget connection for one token's time per dropped message")


def client_tls(ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def device(url: str, tls: ssl.SSLContext | None, device_id: str, role: str = "kiosk",
                 credential: str | None = None, protocol: int = PROTOCOL_VERSION,
                 headers: dict[str, str] | None = None) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and say hello; the socket and the first answer (welcome or error)."""
    ws = await connect(f"{url}/{role}", ssl=tls, open_timeout=TIMEOUT, max_size=2**22,
                       additional_headers=headers or {})
    await ws.send(json.dumps({"type": "hello", "device_id": device_id, "role": role,
                              "credential": credential or DEMO.get(device_id, ""),
                              "protocol": protocol}))
    first = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return ws, first


async def until(ws: ClientConnection, pred: Any) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return dict(msg)


# ------------------------------------------------------------------ the flood (own process)


async def flood(url: str, ca: str, rate: float) -> dict[str, Any]:
    """Send `rate` control messages a second as kiosk-1, reconnecting whenever closed,
    until a line (or end of file) arrives on stdin."""
    tls = client_tls(ca) if ca else None
    sent = connects = closed_1008 = told = 0
    noise = json.dumps({"type": "context", "id": "n"})
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    started = time.monotonic()
    end = started + 600.0
    failures: dict[str, int] = {}
    stalls = 0
    batch = max(1, int(rate / 100))  # 100 batches a second
    while time.monotonic() < end and not stop.is_set():
        try:
            ws, first = await device(url, tls, "kiosk-1")
        except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as err:
            failures[type(err).__name__] = failures.get(type(err).__name__, 0) + 1
            await asyncio.sleep(0.01)
            continue
        if first.get("type") != "welcome":
            failures[str(first.get("code"))] = failures.get(str(first.get("code")), 0) + 1
            await ws.close()
            await asyncio.sleep(0.01)
            continue
        connects += 1

        async def drain(ws: ClientConnection = ws) -> int:
            """Count the service's warnings; return at its fatal one (it is closing us)."""
            n = 0
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    n += '"rate_limited"' in str(raw)
                    if '"fatal":true' in str(raw):
                        break
            return n

        reader = asyncio.create_task(drain())

        count = [0]

        async def send_loop(ws: ClientConnection = ws, count: list[int] = count) -> None:
            next_at = time.monotonic()
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                while not stop.is_set():
                    for _ in range(batch):
                        await asyncio.wait_for(ws.send(noise), 2.0)
                        count[0] += 1
                    next_at += 0.01
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        sender = asyncio.create_task(send_loop())
        while not (reader.done() or sender.done() or stop.is_set()):
            await asyncio.wait({reader, sender}, timeout=0.1,
                               return_when=asyncio.FIRST_COMPLETED)
        if reader.done():
            closed_1008 += 1  # the service said it is closing us: come straight back
        else:
            stalls += sender.done() and not stop.is_set()  # a send blocked for 2 s
        sender.cancel()
        ws.transport.abort()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        sent += count[0]
        told += await reader
    seconds = time.monotonic() - started
    return {"messages_sent": sent, "connections": connects, "closed_for_abuse": closed_1008,
            "rate_limited_errors_received": told, "seconds": round(seconds, 1),
            "sent_per_s": round(sent / seconds), "reconnect_failures": failures,
            "sends_blocked_2s": stalls}


# ------------------------------------------------------------------ the suite (service here)


async def turn_latency(ws: ClientConnection, n: int, tag: str) -> list[float]:
    out = []
    for i in range(n):
        ref = f"{tag}{i}"
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "text", "id": ref, "text": QUESTION}))
        await until(ws, lambda m, ref=ref: m.get("type") in ("reply", "error")
                    and (m.get("id") == ref or m.get("ref") == ref))
        out.append((time.perf_counter() - t0) * 1000)
        await ws.send(json.dumps({"type": "end_session", "reason": "next"}))
        await asyncio.sleep(TURN_GAP_S)
    return out


class Tally:
    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, int]] = {}

    def note(self, kind: str, refused: bool) -> None:
        row = self.kinds.setdefault(kind, {"attempts": 0, "refused": 0, "got_through": 0})
        row["attempts"] += 1
        row["refused" if refused else "got_through"] += 1


async def _upgrade_refused(url: str, tls: ssl.SSLContext, headers: dict[str, str]) -> bool:
    try:
        ws = await connect(f"{url}/console", ssl=tls, open_timeout=TIMEOUT,
                           additional_headers=headers)
    except InvalidStatus as err:
        return err.response.status_code == 401
    await ws.close()
    return False


async def attacks(service: Any, url: str, tls: ssl.SSLContext, ca: str, n: int,
                  tally: Tally) -> None:
    from edge.roles import PERMISSIONS

    gate = service.staff
    for i in range(n):
        tally.note("unauthenticated_console", await _upgrade_refused(url, tls, {}))
        ws, first = await device(url, tls, "kiosk-1", credential=f"guess-{i:08d}")
        tally.note("wrong_device_credential", first.get("code") == "bad_credential")
        await ws.close()
        tally.note("wrong_token", await _upgrade_refused(
            url, tls, {"Authorization": f"Bearer forged-{i:032d}"}))
        try:
            await login(url, "manager", f"wrong-password-{i}", tls=tls, timeout=TIMEOUT)
            tally.note("wrong_password", False)
        except LoginError:
            tally.note("wrong_password", True)
    # after staff.max_failed_logins the address gets 429 for every login, right ones too:
    # counted above as refused; forget them (as the window would) so the suite can go on
    tally.kinds["wrong_password"]["throttled_429"] = gate.counts["throttled"]
    gate._failures.clear()
    # expired and logged-out tokens
    for _ in range(n):
        session = await login(url, "teller-1", "demo-teller-1", tls=tls, timeout=TIMEOUT)
        live = gate.book.check(session.token)
        gate.book._live[live.digest] = replace(live, expires_at=time.time() - 1)
        tally.note("expired_token", await _upgrade_refused(url, tls, session.header()))
        session = await login(url, "teller-1", "demo-teller-1", tls=tls, timeout=TIMEOUT)
        await logout(url, session, tls=tls, timeout=TIMEOUT)
        tally.note("replayed_token_after_logout",
                   await _upgrade_refused(url, tls, session.header()))
    # protocol downgrade: an old protocol version, TLS below 1.2, plain ws to the wss port
    for _ in range(n):
        ws, first = await device(url, tls, "kiosk-2", protocol=PROTOCOL_VERSION - 1)
        tally.note("downgrade_protocol_version", first.get("code") == "protocol_version")
        await ws.close()
    old = client_tls(ca)
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    plain = url.replace("wss://", "ws://")
    for _ in range(n):
        try:
            await login(url, "manager", "demo-manager", tls=old, timeout=TIMEOUT)
            tally.note("downgrade_tls_1_1", False)
        except (ssl.SSLError, OSError):
            tally.note("downgrade_tls_1_1", True)
        try:
            ws = await connect(f"{plain}/kiosk", open_timeout=TIMEOUT)
            await ws.close()
            tally.note("downgrade_plain_ws", False)
        except (InvalidHandshake, OSError, TimeoutError):
            tally.note("downgrade_plain_ws", True)
    # oversize and malformed frames on an authenticated kiosk: answered, nothing acted on
    ws, _ = await device(url, tls, "kiosk-1")
    desk = service.desk
    before = len(desk.engine.tickets())
    bad: list[str | bytes] = [json.dumps({"type": "text", "id": "big", "text": "x" * 70_000}),
                              "{not json", json.dumps({"type": "nope"}), b"\x00\x01junk",
                              json.dumps({"type": "text", "text": 42})]
    for i in range(n):
        frame = bad[i % len(bad)]
        await ws.send(frame)
        reply = await until(ws, lambda m: m.get("type") == "error")
        tally.note("oversize_or_malformed_frame", bool(reply.get("code")))
    for _ in range(max(1, n // 10)):  # above the hard limit: the socket is closed (1009)
        big, _ = await device(url, tls, "kiosk-1")
        await big.send("y" * 2_000_000)
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(big.recv(), TIMEOUT)
            await asyncio.wait_for(big.recv(), TIMEOUT)
        tally.note("frame_over_hard_limit", big.close_code == 1009)
    assert len(desk.engine.tickets()) == before, "a bad frame changed the queue"
    await ws.close()
    # a teller trying every manager command
    session = await login(url, "teller-1", "demo-teller-1", tls=tls, timeout=TIMEOUT)
    teller, _ = await device(url, tls, "teller-1", "console", session.token,
                             headers=session.header())
    manager_only = [a for a, r in PERMISSIONS.items() if "teller" not in r.roles]
    manager_only.append("call_next")  # for someone else's counter
    audits_before = len([r for r in await service.store.audit_rows(100_000)
                         if r["action"].startswith("denied:")])
    for i in range(n):
        action = manager_only[i % len(manager_only)]
        fields = {"counter": "c4" if action == "call_next" else "c1", "ticket": "A001",
                  "service": "fx", "priority_class": "vip", "alert": "a1"}
        ref = f"m{i}"
        await teller.send(json.dumps({"type": "command", "id": ref, "action": action, **fields}))
        reply = await until(teller, lambda m, ref=ref: m.get("ref") == ref or m.get("id") == ref)
        tally.note("teller_manager_command", reply.get("type") == "error"
                   and reply.get("code") in ("forbidden", "not_your_counter"))
    audits = len([r for r in await service.store.audit_rows(100_000)
                  if r["action"].startswith("denied:")]) - audits_before
    tally.kinds["teller_manager_command"]["audited"] = audits
    await teller.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from edge.config import load_config
    from edge.service import Service

    work = Path(args.work)
    ca = str(work / "pki" / "branch-ca.pem")
    base = {"server.port": 0, "speech.enabled": False, "llm.folder": "",
            "knowledge.dense": False, "models.root": str(REPO / "models")}
    config = load_config(None, {
        **base, "data_dir": str(work / "data"),
        "server.tls_cert": str(work / "pki" / "box.pem"),
        "server.tls_key": str(work / "pki" / "box.key")})
    service = Service(config, demo=True)
    host, port = await service.start()
    url = f"wss://{host}:{port}"
    tally = Tally()
    try:
        await attacks(service, url, client_tls(ca), ca, args.attempts, tally)
    finally:
        await service.stop()
    # The flood figures over plain ws on 127.0.0.1 (see FLOOD_OVER_PLAIN_WS).
    service = Service(load_config(None, {**base, "data_dir": str(work / "data-flood")}),
                      demo=True)
    host, port = await service.start()
    url = f"ws://{host}:{port}"
    try:
        other, _ = await device(url, None, "kiosk-2")
        await turn_latency(other, 5, "warm")
        quiet = await turn_latency(other, args.turns, "q")
        server = service.server
        assert server is not None
        limits = server.limits
        assert limits.rates is not None
        # 1. the flood kept on one connection (no disconnect): the token bucket alone
        server.limits = replace(limits, rates=replace(limits.rates, abuse_dropped=10**9))
        sustained = await flood_phase(url, "", args, other, server, "s")
        # 2. the defaults: told, closed after sustained abuse, hellos refused while cooling off
        server.limits = limits
        server._cooling.clear()
        closing = await flood_phase(url, "", args, other, server, "c")
        quiet += await turn_latency(other, args.turns, "a")
        await other.close()
    finally:
        await service.stop()
    q = statistics.median(quiet)
    flood_stats = {"transport": FLOOD_OVER_PLAIN_WS, "turns_each": args.turns, "question": QUESTION, "turn_gap_s": TURN_GAP_S,
                   "quiet_median_ms": round(q, 1),
                   "quiet_p90_ms": round(statistics.quantiles(quiet, n=10)[-1], 1)}
    for name, phase in (("sustained_no_disconnect", sustained), ("default_disconnect", closing)):
        f = statistics.median(phase.pop("latencies"))
        phase.update({"flood_median_ms": round(f, 1), "flood_over_quiet": round(f / q, 3),
                      "within_10_percent": f <= 1.1 * q})
        flood_stats[name] = phase
    kinds = tally.kinds
    return {
        "what": "issue 16 security suite over wss with a per-branch CA (bench/security_suite.py)",
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version()},
        "attacks": {k: v for k, v in kinds.items() if k != "flood_kiosk"},
        "none_got_through": all(v["got_through"] == 0 for v in kinds.values()),
        "flood": flood_stats,
    }


async def flood_phase(url: str, ca: str, args: argparse.Namespace, other: ClientConnection,
                      server: Any, tag: str) -> dict[str, Any]:
    """Another kiosk's turns while a separate process floods as kiosk-1."""
    before = dict(server.stats)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--flood", url, "--ca", ca, "--rate", str(args.rate),
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE)
    await asyncio.sleep(2.0)  # the flood is under way
    flooded = await turn_latency(other, args.turns, tag)
    out, _ = await proc.communicate(b"stop\n")
    stats: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    stats["server_dropped"] = server.stats["rate_limited"] - before["rate_limited"]
    stats["server_abusive_disconnects"] = server.stats["abusive"] - before["abusive"]
    stats["latencies"] = flooded
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--attempts", type=int, default=50)
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.flood:
        print(json.dumps(asyncio.run(flood(args.flood, args.ca, args.rate))))
        return 0
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.work = tempfile.mkdtemp(prefix="security-suite-")
    subprocess.run([str(REPO / "scripts" / "branch_ca.sh"), str(Path(args.work) / "pki"), "box"],
                   check=True, capture_output=True)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=1, ensure_ascii=False))
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "security.json").write_text(json.dumps(result, indent=1, ensure_ascii=False)
                                               + "\n", encoding="utf-8")
    return 0 if result["none_got_through"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
