"""Console snapshot cost with many waiting tickets: build, size, delivery, decode, render.

A busy day (or the 200-kill benchmark) can leave thousands of tickets waiting; every console
gets the snapshot on connect and again after queue changes. For each N this starts the real
service on 127.0.0.1 port 0 with its own data folder, issues N tickets through the queue
engine (one durable commit), and measures:

- build: `Service.console_snapshot()` (board, counters, alerts, health), median of repeats;
- bytes: the snapshot as the service sends it;
- connect: a console's login until it holds the decoded snapshot (a fresh connection);
- command: a `snapshot` command's round trip on an open connection;
- handle / render: the Textual console (headless) rebuilding its tables from that snapshot,
  and that plus the screen update, the first time and again (a refresh).

    python bench/console_snapshot.py                       # N = 100, 1000, 5000
    python bench/console_snapshot.py --label before --sizes 100 1000 5000
    python bench/console_snapshot.py --set server.console_waiting_per_service=0

Each run is stored under its label in bench/results/console_snapshot.json (other labels kept).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from websockets.asyncio.client import connect  # noqa: E402

from devices.console_messages import Command, ConsoleSnapshot  # noqa: E402
from devices.protocol import PROTOCOL_VERSION, decode_server, encode  # noqa: E402
from devices.session_messages import Hello  # noqa: E402
from devices.staff_login import login as staff_login  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.queue.events import QueueEvent  # noqa: E402
from edge.service import Service  # noqa: E402

RESULTS = REPO / "bench" / "results" / "console_snapshot.json"
# A weekday mix: mostly personal and cash, some elderly (care flag) and VIP customers.
SERVICES = (("personal", 40), ("cash", 30), ("fx", 8), ("loan", 8), ("wealth", 8), ("corporate", 6))
USER, CREDENTIAL = "manager", "demo-manager"


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000.0, 2)


async def _timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[list[float], Any]:
    samples, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = await fn()
        samples.append(time.perf_counter() - t0)
    return samples, value


def _timed_sync(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    samples, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        samples.append(time.perf_counter() - t0)
    return samples, value


async def fill(service: Service, n: int, seed: int) -> float:
    """Issue `n` tickets (one commit, as a restart would restore them); the last issue's time."""
    desk = service.desk
    assert desk is not None and service.store is not None
    rnd = random.Random(seed)
    names = [s for s, _ in SERVICES]
    weights = [w for _, w in SERVICES]
    events: list[QueueEvent] = []
    last = 0.0
    for _ in range(n):
        r = rnd.random()
        flags = ["elderly"] if r < 0.08 else []
        vip = "vip" if 0.08 <= r < 0.12 else None
        t0 = time.perf_counter()
        outcome = desk.engine.issue(rnd.choices(names, weights)[0], flags=flags, vip_tier=vip)
        last = time.perf_counter() - t0
        events.extend(outcome.events)
    await service.store.append_events(desk.engine.day_of(desk.clock()), events)
    return last


async def console_login(url: str, headers: dict[str, str]) -> tuple[Any, bytes]:
    """A fresh console connection (with a shift token's `headers`); returns it with the raw
    snapshot it was sent."""
    ws = await connect(f"{url}/console", open_timeout=30, max_size=2**26,
                       additional_headers=headers)
    await ws.send(
        encode(
            Hello(device_id=USER, role="console", credential=CREDENTIAL, protocol=PROTOCOL_VERSION)
        )
    )
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        data = raw.encode() if isinstance(raw, str) else raw
        if isinstance(decode_server(data), ConsoleSnapshot):
            return ws, data


async def measure_service(
    n: int, repeat: int, seed: int, overrides: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """Everything on the service side for one N, plus the raw snapshot for the render test."""
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        base: dict[str, Any] = {
            "data_dir": tmp,
            "server.port": 0,
            "knowledge.dense": False,
            "knowledge.include_sample_pack": False,
            "speech.enabled": False,
            "llm.folder": "",
            "models.root": str(REPO / "models"),
            "log_level": "WARNING",
        }
        service = Service(load_config(None, {**base, **overrides}), demo=True)  # staff accounts
        host, port = await service.start()
        url = f"ws://{host}:{port}"
        try:
            await asyncio.wait_for(service.hub_ready.wait(), 60)
            # one shift login (argon2 on purpose slow), then every connection reuses the token
            headers = (await staff_login(url, USER, CREDENTIAL, timeout=30)).header()
            issue_last = await fill(service, n, seed)
            assert service.desk is not None
            waiting = len(service.desk.engine.waiting())
            build, snap = _timed_sync(service.console_snapshot, repeat)
            encoded, raw = _timed_sync(lambda: encode(snap), repeat)
            decoded, _ = _timed_sync(lambda: decode_server(raw), repeat)

            async def login_once() -> bytes:
                ws, data = await console_login(url, headers)
                await ws.close()
                return data

            connects, sent = await _timed(login_once, repeat)
            ws, _ = await console_login(url, headers)
            serial = iter(range(1, 10_000))

            async def snapshot_command() -> None:
                ref = f"b{next(serial)}"
                await ws.send(encode(Command(id=ref, action="snapshot")))
                while True:
                    msg = decode_server(await asyncio.wait_for(ws.recv(), 30))
                    if isinstance(msg, ConsoleSnapshot) and msg.id == ref:
                        return

            commands, _ = await _timed(snapshot_command, repeat)
            await ws.close()
        finally:
            await service.stop()
    shown = len(snap.board.get("waiting", []))
    row = {
        "n": n,
        "waiting": waiting,
        "rows_sent": shown,
        "build_ms": _median_ms(build),
        "encode_ms": _median_ms(encoded),
        "bytes": len(sent),
        "decode_ms": _median_ms(decoded),
        "connect_to_snapshot_ms": _median_ms(connects),
        "command_snapshot_ms": _median_ms(commands),
        "issue_one_more_ms": round(issue_last * 1000.0, 2),
    }
    return row, sent


async def measure_render(raw: bytes, repeat: int) -> dict[str, float]:
    """The console drawing a snapshot headless, first time (empty tables) and again: `handle`
    is the synchronous table rebuild (the UI answers no key meanwhile), `render` adds the
    screen update until the app is idle; `idle` is that wait with nothing to draw."""
    from ui.app import ConsoleApp
    from ui.client import LinkStatus

    out: dict[str, float] = {}
    idle: list[float] = []
    for when in ("first", "again"):
        handled: list[float] = []
        rendered: list[float] = []
        for _ in range(repeat):
            app = ConsoleApp("ws://127.0.0.1:1", USER, "unused", autoconnect=False)
            async with app.run_test(size=(100, 30)) as pilot:
                app.set_link(LinkStatus("online", branch="bench"))
                await pilot.pause()
                if when == "again":
                    app.handle(decode_server(raw))
                    await pilot.pause()
                t0 = time.perf_counter()
                app.handle(decode_server(raw))
                handled.append(time.perf_counter() - t0)
                await pilot.pause()
                rendered.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await pilot.pause()
                idle.append(time.perf_counter() - t0)
        out[f"handle_{when}_ms"] = _median_ms(handled)
        out[f"render_{when}_ms"] = _median_ms(rendered)
    out["render_idle_ms"] = _median_ms(idle)
    return out


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = tomllib.loads(f"v = {value}")["v"]
    return out


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def print_table(label: str, rows: list[dict[str, Any]]) -> None:
    cols = (
        "n",
        "rows_sent",
        "build_ms",
        "bytes",
        "connect_to_snapshot_ms",
        "command_snapshot_ms",
        "decode_ms",
        "handle_first_ms",
        "render_first_ms",
        "handle_again_ms",
        "render_again_ms",
        "render_idle_ms",
        "issue_one_more_ms",
    )
    print(f"\n{label}")
    print(" ".join(f"{c:>22}" if i else f"{c:>6}" for i, c in enumerate(cols)))
    for r in rows:
        print(
            " ".join(
                f"{r.get(c, '-'):>22}" if i else f"{r.get(c, '-'):>6}" for i, c in enumerate(cols)
            )
        )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=5, help="samples per figure (median)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--label", default="after", help="key of this run in the JSON")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, TOML value (repeatable)",
    )
    parser.add_argument("--no-render", action="store_true", help="skip the Textual render")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    overrides = _overrides(args.sets)
    rows = []
    for n in args.sizes:
        row, raw = await measure_service(n, args.repeat, args.seed, overrides)
        if not args.no_render:
            row.update(await measure_render(raw, args.repeat))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print_table(args.label, rows)
    results: dict[str, Any] = {}
    if args.out.exists():
        results = json.loads(args.out.read_text("utf-8"))
    results.setdefault("runs", {})[args.label] = {
        "commit": _commit(),
        "overrides": overrides,
        "repeat": args.repeat,
        "seed": args.seed,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
