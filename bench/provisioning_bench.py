"""The box's updater against real service processes: one entry per fault case.

Each case starts `branch-teller serve` (a real process on 127.0.0.1, port 0) on its own data
folder, drops a bundle of real components (a knowledge pack, the Silero VAD model, and the
trained router when present) into the box's inbox, and:

- happy: a customer talks at a kiosk (real websocket) through install, verify and smoke;
  the switch waits for the conversation to end; the longest delay a customer turn saw from
  the switch (the only step that holds the event loop) is measured, target 0 ms;
- kill_staging / kill_switch / kill_switched: the process dies (SIGKILL, by a kill point)
  half-way through the install, after the switch was recorded but before the pointer moved,
  and after the pointer moved but before the models were swapped;
- kill_smoke / kill_probation: SIGKILL from outside while the smoke test runs, and during
  probation (probation_max_crashes = 0: the crash rolls back);
- smoke_failing, tampered, older: bundles the box must refuse.

After every kill the service is restarted on the same data folder and must serve at once:
it listens, /health says the router is loaded, a kiosk turn gets a reply. Each case ends
with the update committed, rolled back or rejected as expected.

    python bench/provisioning_bench.py            # every case -> bench/results/provisioning.json
    python bench/provisioning_bench.py kill_switch happy
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devices.protocol import PROTOCOL_VERSION  # noqa: E402
from provisioning import manifest as m  # noqa: E402
from provisioning.slots import link_tree  # noqa: E402

MODELS = REPO / "models"
RESULTS = REPO / "bench" / "results" / "provisioning.json"
NOTICE = (
    "---\ntitle: 网点公告\nversion: {v}.0\neffective_date: 2026-12-01\naudience: customer\n"
    "lang: zh\n---\n\n# 网点公告\n\n## 外币预约\n本网点提供外币现钞预约服务，预约口令为蓝鲸{v}号。\n"
)
SERVE = [
    "--port",
    "0",
    "--log-level",
    "WARNING",
    "--knowledge-dense",
    "false",
    "--llm-folder",
    "",
    "--speech-enabled",
    "false",
    "--models-router-encoder",
    "false",
    "--updates-check-interval-s",
    "0.1",
    "--updates-quiet-hold-s",
    "0.5",
    "--updates-probation-s",
    "2.0",
]


# ------------------------------------------------------------ bundles


def _component(folder: Path, name: str, kind: m.ComponentKind, version: int) -> None:
    m.write(
        folder,
        m.ComponentManifest(
            name=name,
            kind=kind,
            version=version,
            min_service_version="0.1.0",
            files=m.describe_files(folder),
        ),
    )


def build_bundle(
    into: Path, kb_version: int, broken_vad: bool = False, tamper: bool = False
) -> Path:
    """A bundle folder: knowledge pack, the VAD model, the router when it was trained."""
    into.mkdir(parents=True)
    kb = into / "kb-branch"
    kb.mkdir()
    (kb / "notice.md").write_text(NOTICE.format(v=kb_version), encoding="utf-8")
    _component(kb, "kb-branch", "knowledge", kb_version)
    vad = into / "silero-vad"
    if broken_vad:
        vad.mkdir()
        (vad / "silero_vad_v6.onnx").write_bytes(b"\x08garbage" * 64)
    else:
        link_tree(MODELS / "silero-vad", vad)
    _component(vad, "silero-vad", "vad", kb_version)
    if (MODELS / "router" / "router.npz").is_file():
        link_tree(MODELS / "router", into / "router")
        _component(into / "router", "router", "router", kb_version)
    if tamper:
        (kb / "notice.md").write_text("改过", encoding="utf-8")
    return into


def deliver(data: Path, bundle: str, folder: Path) -> None:
    """Into the inbox under a dot-name, then renamed: the box never sees half a bundle."""
    inbox = data / "bundles" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    os.replace(folder, inbox / f".{bundle}")
    os.replace(inbox / f".{bundle}", inbox / bundle)


def record(data: Path) -> dict[str, Any]:
    try:
        out: dict[str, Any] = json.loads((data / "bundles" / "update.json").read_bytes())
        return out
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


# ------------------------------------------------------------ the service process


class Box:
    """One real service process on a data folder; restartable."""

    def __init__(self, data: Path, extra: list[str] | None = None) -> None:
        self.data = data
        self.extra = extra or []
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.starts = 0

    async def start(self, kill_at: str = "") -> float:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("BRANCH_TELLER_KILL_AT", None)
        if kill_at:
            env["BRANCH_TELLER_KILL_AT"] = kill_at
        began = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edge.cli",
            "serve",
            "--data-dir",
            str(self.data),
            *SERVE,
            *self.extra,
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 120)).decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"service did not start: {line!r}")
        self.url = line.removeprefix("listening on ")
        self.starts += 1
        return time.perf_counter() - began

    async def died(self, timeout: float = 120.0) -> int:
        """Its exit status, once its output is drained (so its pipes close with it)."""
        assert self.proc is not None
        await asyncio.wait_for(self.proc.communicate(), timeout)
        assert self.proc.returncode is not None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.communicate(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.communicate()

    def health(self) -> dict[str, Any]:
        http = self.url.replace("ws://", "http://", 1)
        with urllib.request.urlopen(f"{http}/health", timeout=10) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out


class Kiosk:
    """A real websocket kiosk client that times its turns."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0
        self.turns: list[tuple[float, float]] = []  # sent, replied (time.time())

    @classmethod
    async def connect(cls, url: str) -> Kiosk:
        from websockets.asyncio.client import connect

        ws = await connect(f"{url}/kiosk", open_timeout=10)
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "device_id": "kiosk-1",
                    "role": "kiosk",
                    "credential": "demo-kiosk-1",
                    "protocol": PROTOCOL_VERSION,
                }
            )
        )
        await asyncio.wait_for(ws.recv(), 10)
        return cls(ws)

    async def turn(self, text: str = "你好") -> dict[str, Any]:
        self.n += 1
        ref = f"t{self.n}"
        sent = time.time()
        await self.ws.send(json.dumps({"type": "text", "id": ref, "text": text}))
        while True:
            msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg["type"] in ("reply", "error") and msg.get("ref", msg.get("id")) == ref:
                self.turns.append((sent, time.time()))
                return msg

    async def close(self) -> None:
        await self.ws.close()


async def serves(box: Box) -> dict[str, Any]:
    """The box works: router loaded, a kiosk turn answered. Returns its bundle status."""
    health = box.health()
    assert health["router"] == "loaded", health["router"]
    kiosk = await Kiosk.connect(box.url)
    try:
        reply = await kiosk.turn("我想开户")
        assert reply["type"] == "reply", reply
    finally:
        await kiosk.close()
    bundle: dict[str, Any] = health["bundle"]
    return bundle


async def until(
    data: Path, ok: Callable[[dict[str, Any]], bool], timeout: float = 180.0, box: Box | None = None
) -> dict[str, Any]:
    """Poll update.json until `ok` (or the box died, or time ran out)."""
    async with asyncio.timeout(timeout):
        while not ok(rec := record(data)):
            if box is not None and box.proc is not None and box.proc.returncode is not None:
                return rec
            await asyncio.sleep(0.02)
    return rec


def finished(bundle: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: (
        r.get("bundle") == bundle and r.get("state") in ("committed", "rolled_back", "rejected")
    )


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _entry(rec: dict[str, Any], status: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "outcome": rec.get("state"),
        "reason": rec.get("reason", ""),
        "active_after": status["active"],
        "timings_s": rec.get("timings_s", {}),
        **extra,
    }


# ------------------------------------------------------------ the cases


async def case_happy(work: Path) -> dict[str, Any]:
    """A customer mid-conversation when the bundle arrives: the switch waits for them."""
    data = work / "data"
    box = Box(data)
    await box.start()
    try:
        kiosk = await Kiosk.connect(box.url)
        for _ in range(3):
            await kiosk.turn()
        before = len(kiosk.turns)
        bundle = build_bundle(work / "b1", 2)
        size = _bytes(bundle)
        deliver(data, "b1", bundle)
        while "conversation" not in box.health()["bundle"]["reason"]:
            await kiosk.turn()  # the customer keeps talking through install, verify, smoke
            await asyncio.sleep(0.2)
            assert record(data).get("state") not in ("probation", "committed"), "did not wait"
        for _ in range(3):
            await kiosk.turn()
            await asyncio.sleep(0.3)
        waiting = box.health()["bundle"]
        assert waiting["state"] == "waiting_for_quiet", waiting
        last_reply = kiosk.turns[-1][1]
        await kiosk.ws.send(json.dumps({"type": "end_session"}))
        rec = await until(data, finished("b1"), box=box)
        await kiosk.turn()  # the same connection, on the new models
        await kiosk.close()
        status = await serves(box)
        assert rec["state"] == "committed" and status["active"] == "b1", (rec, status)
        began = rec["switched_at"] - rec["timings_s"]["switch"]
        assert began > last_reply
        delays = [
            max(0.0, min(replied, rec["switched_at"]) - max(sent, began))
            for sent, replied in kiosk.turns
        ]
        latency = [round((r - s) * 1000, 1) for s, r in kiosk.turns]
        return _entry(
            rec,
            status,
            bundle_bytes=size,
            waited_because=waiting["reason"],
            longest_turn_delay_ms=round(max(delays) * 1000, 3),
            turns=len(kiosk.turns),
            turn_ms_before_max=max(latency[:before]),
            turn_ms_during_update_max=max(latency[before:-1]),
            turn_ms_during_update_p50=sorted(latency[before:-1])[len(latency[before:-1]) // 2],
        )
    finally:
        await box.stop()


async def _killed_at(work: Path, point: str, expect_after_restart: str) -> dict[str, Any]:
    """The process kills itself at a named step; the restarted one serves and finishes."""
    data = work / "data"
    box = Box(data)
    await box.start(kill_at=point)
    try:
        deliver(data, "b1", build_bundle(work / "b1", 2))
        code = await box.died()
        at_kill = record(data).get("state")
        restart_s = await box.start()
        status = await serves(box)  # at once, before the update goes on
        assert status["active"] == expect_after_restart, (point, status)
        rec = await until(data, finished("b1"), box=box)
        final = await serves(box)
        assert rec["state"] == "committed" and final["active"] == "b1", (point, rec)
        return _entry(
            rec,
            final,
            exit_code=code,
            state_at_kill=at_kill,
            active_after_restart=status["active"],
            restart_to_listening_s=restart_s,
        )
    finally:
        await box.stop()


async def case_kill_staging(work: Path) -> dict[str, Any]:
    return await _killed_at(work, "install", "factory")


async def case_kill_switch(work: Path) -> dict[str, Any]:
    return await _killed_at(work, "switch", "factory")


async def case_kill_switched(work: Path) -> dict[str, Any]:
    return await _killed_at(work, "switched", "b1")


async def case_kill_smoke(work: Path) -> dict[str, Any]:
    """SIGKILL from outside while the smoke test's child runs."""
    data = work / "data"
    box = Box(data)
    await box.start()
    try:
        deliver(data, "b1", build_bundle(work / "b1", 2))
        await until(data, lambda r: r.get("state") == "smoke_testing")
        await asyncio.sleep(0.3)
        box.kill()
        await box.died()
        restart_s = await box.start()
        status = await serves(box)
        assert status["active"] == "factory", status
        rec = await until(data, finished("b1"), box=box)
        final = await serves(box)
        assert rec["state"] == "committed" and final["active"] == "b1", rec
        return _entry(
            rec,
            final,
            state_at_kill="smoke_testing",
            active_after_restart=status["active"],
            restart_to_listening_s=restart_s,
        )
    finally:
        await box.stop()


async def case_kill_probation(work: Path) -> dict[str, Any]:
    """SIGKILL on probation with no crash allowed: the restart rolls back before loading."""
    data = work / "data"
    box = Box(data, ["--updates-probation-max-crashes", "0", "--updates-probation-s", "60"])
    await box.start()
    try:
        deliver(data, "b1", build_bundle(work / "b1", 2))
        await until(data, lambda r: r.get("state") == "probation")
        assert box.health()["bundle"]["active"] == "b1"
        box.kill()
        await box.died()
        restart_s = await box.start()
        status = await serves(box)
        rec = record(data)
        assert rec["state"] == "rolled_back" and status["active"] == "factory", (rec, status)
        assert status["last"].startswith("b1: rolled_back (the service crashed 1 time(s)")
        return _entry(
            rec,
            status,
            state_at_kill="probation",
            active_after_restart=status["active"],
            restart_to_listening_s=restart_s,
        )
    finally:
        await box.stop()


async def _refused(work: Path, bundle: Path, why: str) -> dict[str, Any]:
    data = work / "data"
    box = Box(data)
    await box.start()
    try:
        deliver(data, "b1", bundle)
        rec = await until(data, finished("b1"), box=box)
        status = await serves(box)
        assert rec["state"] == "rejected" and why in rec["reason"], rec
        assert status["active"] == "factory" and status["last"].startswith("b1: rejected")
        return _entry(rec, status)
    finally:
        await box.stop()


async def case_smoke_failing(work: Path) -> dict[str, Any]:
    return await _refused(
        work, build_bundle(work / "b1", 2, broken_vad=True), "smoke test failed: silero-vad (vad)"
    )


async def case_tampered(work: Path) -> dict[str, Any]:
    return await _refused(
        work, build_bundle(work / "b1", 2, tamper=True), "verification failed: kb-branch/notice.md"
    )


async def case_older(work: Path) -> dict[str, Any]:
    """Replay of an older bundle after a newer one went live: refused, the newer stays."""
    data = work / "data"
    box = Box(data)
    await box.start()
    try:
        deliver(data, "b2", build_bundle(work / "b2", 3))
        await until(data, finished("b2"), box=box)
        deliver(data, "b1", build_bundle(work / "b1", 2))
        rec = await until(data, finished("b1"), box=box)
        status = await serves(box)
        assert rec["state"] == "rejected" and "is not newer than the installed 3" in rec["reason"]
        assert status["active"] == "b2", status
        return _entry(rec, status)
    finally:
        await box.stop()


CASES = {
    "happy": case_happy,
    "kill_staging": case_kill_staging,
    "kill_smoke": case_kill_smoke,
    "kill_switch": case_kill_switch,
    "kill_switched": case_kill_switched,
    "kill_probation": case_kill_probation,
    "smoke_failing": case_smoke_failing,
    "tampered": case_tampered,
    "older": case_older,
}


async def run_case(name: str, work: Path) -> dict[str, Any]:
    """One fault case in its own folder; its entry for the results file."""
    began = time.perf_counter()
    entry = await CASES[name](work)
    entry["case_s"] = round(time.perf_counter() - began, 1)
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], help="default: all")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    load = os.getloadavg()
    for name in args.cases or list(CASES):
        with tempfile.TemporaryDirectory(prefix=f"prov-{name}-") as work:
            results[name] = asyncio.run(run_case(name, Path(work)))
        print(name, json.dumps(results[name], ensure_ascii=False), flush=True)
    out = {
        "note": "real service processes on 127.0.0.1, speech off, knowledge BM25, no LLM; "
        "the bundle is a knowledge pack, the Silero VAD and the trained router. "
        "Times are from a shared 2-core box under load: see load_avg.",
        "load_avg_start": [round(x, 2) for x in load],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cases": results,
    }
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
