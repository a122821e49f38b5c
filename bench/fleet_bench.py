"""A real central and three real boxes on 127.0.0.1: staged rollouts and every fault case.

`branch-teller central serve` (a process) serves a real TUF repository and keeps the fleet in
SQLite; three `branch-teller serve` processes (bench/provisioning_bench.py's Box) each hold
their own credential and keep their outbound link to central. Bundles of real components (a
knowledge pack, the Silero VAD model, the trained router) are built and published with the
repository's role keys, and rolled out with `branch-teller central rollout start`.

Cases, each ending with every box serving a kiosk turn on a working bundle:
- staged: pilot (box-1) succeeds, the next cohort (box-2, whose smoke test cannot finish)
  fails, the rollout halts by itself, box-3 is never targeted;
- tampered, truncated: a target's bytes changed or cut short on central's disk;
- wrong_key: a bundle signed by a knowledge key the root never delegated to;
- smoke_failing: a bundle whose VAD model does not load;
- central_down: central killed mid-download (the box's rate cap makes the download last a
  few seconds); the box keeps serving, central comes back, the download resumes;
- kill_switch: the box is SIGKILLed as it switches; restarted, it serves and reports;
- mid_conversation: a customer talks at box-3 while the bundle arrives; the switch waits,
  and the longest delay a customer turn saw from the update is measured (target 0 ms);
- older_bundle: a rollout of an older bundle than the box runs is refused;
- replay: an old, validly signed timestamp is served again; the box refuses the rollback;
- expired: the timestamp metadata expires; the box refuses it and keeps its bundle.

    python bench/fleet_bench.py            # every case -> bench/results/provisioning.json
    python bench/fleet_bench.py staged tampered
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.provisioning_bench import MODELS, NOTICE, Box, Kiosk, serves  # noqa: E402
from provisioning.bundle import BundleIndex, ComponentSource, build_bundle  # noqa: E402
from provisioning.central.fleet import RolloutBox  # noqa: E402
from provisioning.central.store import open_store  # noqa: E402
from provisioning.repository import DELEGATED_ROLES, TOP_ROLES, Lifetimes, Repository  # noqa: E402

RESULTS = REPO / "bench" / "results" / "provisioning.json"
TICK_S = 0.3
RATE_BPS = 1_500_000  # box-3's cap: the router (~6 MB) takes a few seconds to come down


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def cli(*args: str, timeout: float = 60.0) -> str:
    """`branch-teller ARGS` as a process; its stdout (raises with stderr on failure)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge.cli", *args, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"branch-teller {' '.join(args)}: {err.decode()[-800:]}")
    return out.decode()


class CentralProcess:
    """`branch-teller central serve` on a fixed port, so a restart comes back on it."""

    def __init__(self, store_url: str, repo: Path) -> None:
        self.store_url, self.repo, self.port = store_url, repo, free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge.cli", "central", "serve", "--store", self.store_url,
            "--repo", str(self.repo), "--host", "127.0.0.1", "--port", str(self.port),
            "--tick-s", str(TICK_S), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode().strip()
        if not line.startswith("central listening on "):
            raise RuntimeError(f"central did not start: {line!r}")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.communicate()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.communicate(), 20)
            except TimeoutError:
                await self.kill()


@dataclass
class Fleet:
    """Central's repository, keys and store; three boxes; bundles published so far."""

    work: Path
    central: CentralProcess
    repo: Repository
    keys: dict[str, Any]
    boxes: dict[str, Box] = field(default_factory=dict)
    published: list[BundleIndex] = field(default_factory=list)
    timestamps: list[bytes] = field(default_factory=list)  # timestamp.json after each publish
    seen: dict[tuple[str, str, str], float] = field(default_factory=dict)
    kb_version: int = 1
    clock: float = field(default_factory=time.time)

    @property
    def store_url(self) -> str:
        return self.central.store_url

    # ---------------------------------------------------------------- bundles
    def sources(self, broken_vad: bool = False) -> list[ComponentSource]:
        """A knowledge pack (a new version each time), the VAD model, the router."""
        self.kb_version += 1
        src = self.work / "src" / f"v{self.kb_version}"
        (src / "kb").mkdir(parents=True)
        (src / "kb" / "notice.md").write_text(NOTICE.format(v=self.kb_version), encoding="utf-8")
        vad = _files(MODELS / "silero-vad")
        if broken_vad:
            bad = src / "silero_vad_v6.onnx"
            bad.write_bytes(b"\x08garbage" * 64)
            vad = {name: bad for name in vad}
        out = [
            ComponentSource("kb-branch", "knowledge", {"notice.md": src / "kb" / "notice.md"}),
            ComponentSource("silero-vad", "vad", vad),
        ]
        router = MODELS / "router"
        if (router / "router.npz").is_file():
            out.append(ComponentSource("router", "router", _files(router)))
        return out

    def publish(self, broken_vad: bool = False, keys: dict[str, Any] | None = None) -> BundleIndex:
        """Build a bundle (unique id) and publish it with the role keys."""
        self.clock += 61.0
        index = build_bundle(
            self.sources(broken_vad), self.work / "bundle", "0.1.0", lambda _s: None,
            now=lambda: self.clock,
        )
        self.repo.publish(self.work / "bundle", keys or self.keys)
        self.published.append(index)
        self.timestamps.append((self.repo.metadata_dir / "timestamp.json").read_bytes())
        return index

    def target_file(self, index: BundleIndex, name: str) -> Path:
        entry = next(e for e in index.components if e.name == name)
        folder, _, base = entry.target.rpartition("/")
        return next((self.repo.targets_dir / folder).glob(f"*.{base}"))

    # ---------------------------------------------------------------- rollouts
    async def rollout(self, bundle: str, stages: str, max_failures: int = 0,
                      soak_s: float = 1.0, check_published: bool = True) -> str:
        """`central rollout start`, after cancelling a rollout an earlier case left halted
        (one rollout at a time: what an operator does before trying again)."""
        for live in self.rollouts():
            if live.state in ("running", "halted"):
                await cli("central", "rollout", "cancel", live.rollout_id,
                          "--store", self.store_url)
        rollout_id = f"r{len(self.rollouts()) + 1}-{bundle}"
        await cli("central", "rollout", "start", "--store", self.store_url, "--bundle", bundle,
                  "--stages", stages, "--soak-s", str(soak_s),
                  "--max-failures", str(max_failures), "--id", rollout_id,
                  *(["--repo", str(self.repo.folder)] if check_published else []))
        return rollout_id

    def rollouts(self) -> list[Any]:
        store = open_store(self.store_url)
        try:
            return store.rollouts()
        finally:
            store.close()

    def rollout_state(self, rollout_id: str) -> tuple[Any, list[RolloutBox]]:
        store = open_store(self.store_url)
        try:
            rollout = next(r for r in store.rollouts() if r.rollout_id == rollout_id)
            return rollout, store.rollout_boxes(rollout_id)
        finally:
            store.close()

    async def settle(self, rollout_id: str, done: Callable[[Any, dict[str, str]], bool],
                     timeout: float = 240.0) -> tuple[Any, dict[str, RolloutBox]]:
        """Poll the store until `done(rollout, {box: step})`; notes when each box was first
        seen at each step in self.seen[(rollout, box, step)] (monotonic seconds)."""
        async with asyncio.timeout(timeout):
            while True:
                rollout, rows = self.rollout_state(rollout_id)
                steps = {r.box_id: r for r in rows}
                for r in rows:
                    self.seen.setdefault((rollout_id, r.box_id, r.step), time.monotonic())
                if done(rollout, {b: r.step for b, r in steps.items()}):
                    return rollout, steps
                await asyncio.sleep(0.1)

    def step_s(self, rollout_id: str, box: str, first: str, then: str) -> float | None:
        a, b = self.seen.get((rollout_id, box, first)), self.seen.get((rollout_id, box, then))
        return round(b - a, 2) if a is not None and b is not None else None

    # ---------------------------------------------------------------- boxes
    async def add_box(self, box_id: str, tags: list[str], extra: list[str] | None = None) -> Box:
        store = open_store(self.store_url)
        try:
            secret = store.add_box(box_id, f"branch {box_id}", tags)
        finally:
            store.close()
        secret_file = self.work / box_id / "central.secret"
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secret, encoding="utf-8")
        secret_file.chmod(0o600)
        root = self.repo.metadata_dir / "1.root.json"
        box = Box(self.work / box_id / "data", [
            "--central-url", self.central.url, "--central-box-id", box_id,
            "--central-secret-file", str(secret_file), "--central-report-interval-s", "2",
            "--provisioning-root-file", str(root), *(extra or []),
        ])
        await box.start()
        self.boxes[box_id] = box
        return box

    async def all_serve(self) -> dict[str, str]:
        """Every box answers a kiosk turn; their active bundles."""
        return {name: (await serves(box))["active"] for name, box in self.boxes.items()}

    async def close(self) -> None:
        for box in self.boxes.values():
            await box.stop()
        await self.central.stop()


async def open_fleet(work: Path) -> Fleet:
    keys = {role: _signer() for role in (*TOP_ROLES, *DELEGATED_ROLES)}
    repo = Repository.create(work / "repository", keys)
    central = CentralProcess(f"sqlite:///{work / 'fleet.db'}", repo.folder)
    await central.start()
    fleet = Fleet(work, central, repo, keys)
    await fleet.add_box("box-1", ["pilot"])
    # box-2's smoke test is given no time to finish: its update fails on that box alone
    await fleet.add_box("box-2", ["second"], ["--updates-smoke-timeout-s", "0.2"])
    await fleet.add_box("box-3", ["b3"], ["--provisioning-download-rate-bps", str(RATE_BPS)])
    return fleet


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def _signer() -> Any:
    from securesystemslib.signer import CryptoSigner

    return CryptoSigner.generate_ed25519()


async def poll(ok: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if ok():
                return
            await asyncio.sleep(every)


def finished(rollout: Any, _steps: dict[str, str]) -> bool:
    return rollout.state in ("halted", "completed", "cancelled")


def _timings(box: Box) -> dict[str, float]:
    timings: dict[str, float] = box.health()["bundle"].get("timings_s", {})
    return timings


# ---------------------------------------------------------------- the cases


async def case_staged(fleet: Fleet) -> dict[str, Any]:
    """pilot, then the second cohort, then all: the second fails and the rollout halts."""
    index = fleet.publish()
    began = time.monotonic()
    rid = await fleet.rollout(index.bundle, "pilot,second,all", max_failures=0)
    rollout, steps = await fleet.settle(rid, finished)
    took = time.monotonic() - began
    active = await fleet.all_serve()
    assert rollout.state == "halted", rollout
    assert steps["box-1"].step == "succeeded" and steps["box-2"].step == "failed", steps
    assert "box-3" not in steps, ("the halted rollout went on to the last cohort", steps)
    assert active["box-1"] == index.bundle and active["box-3"] == "factory", active
    return {
        "outcome": "halted", "reason": rollout.reason, "steps": {b: s.step for b, s in steps.items()},
        "active_after": active, "bundle_bytes": sum(e.bytes for e in index.components),
        "rollout_s": round(took, 2), "timings_s": _timings(fleet.boxes["box-1"]),
        # from central's view (polled every 0.1 s): assigned -> fetched and verified by TUF
        "download_s": fleet.step_s(rid, "box-1", "downloading", "installing"),
        "nudge_to_download_s": fleet.step_s(rid, "box-1", "targeted", "downloading"),
    }


async def _refused(fleet: Fleet, index: BundleIndex, box: str, expect: str,
                   check_published: bool = True) -> dict[str, Any]:
    """A rollout of `index` to `box` alone: refused, halted, the box still serves."""
    tag = {"box-1": "pilot", "box-3": "b3"}[box]
    before = (await serves(fleet.boxes[box]))["active"]
    rid = await fleet.rollout(index.bundle, tag, max_failures=0, check_published=check_published)
    rollout, steps = await fleet.settle(rid, finished)
    after = await serves(fleet.boxes[box])
    assert rollout.state == "halted", rollout
    assert steps[box].step in ("failed", "rolled_back"), steps
    assert expect in steps[box].reason, steps[box].reason
    assert after["active"] == before, (before, after)
    return {"outcome": steps[box].step, "reason": steps[box].reason, "active_after": after["active"],
            "halted": rollout.reason}


async def case_tampered(fleet: Fleet) -> dict[str, Any]:
    index = fleet.publish()
    stored = fleet.target_file(index, "kb-branch")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    return await _refused(fleet, index, "box-3", "hash")


async def case_truncated(fleet: Fleet) -> dict[str, Any]:
    index = fleet.publish()
    stored = fleet.target_file(index, "kb-branch")
    stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])
    return await _refused(fleet, index, "box-3", "kb-branch")


async def case_wrong_key(fleet: Fleet) -> dict[str, Any]:
    wrong = {**fleet.keys, "knowledge": _signer()}
    index = fleet.publish(keys=wrong)
    entry = await _refused(fleet, index, "box-3", "knowledge")
    fleet.publish()  # central re-signs with the right key: the fleet can move on
    return entry


async def case_smoke_failing(fleet: Fleet) -> dict[str, Any]:
    index = fleet.publish(broken_vad=True)
    return await _refused(fleet, index, "box-3", "smoke")


async def case_central_down(fleet: Fleet) -> dict[str, Any]:
    """Central killed while box-3 downloads (rate-capped); it keeps serving; resumes."""
    index = fleet.publish()
    rid = await fleet.rollout(index.bundle, "b3", max_failures=0)
    partial = fleet.boxes["box-3"].data / "trust" / "partial"
    await poll(lambda: any(p.stat().st_size > 500_000 for p in partial.glob("*.partial")), 120)
    await fleet.central.kill()
    down = time.monotonic()
    await asyncio.sleep(3.0)
    during = await serves(fleet.boxes["box-3"])  # the box serves while central is gone
    await fleet.central.start()
    rollout, steps = await fleet.settle(rid, finished)
    active = await serves(fleet.boxes["box-3"])
    assert rollout.state == "completed" and steps["box-3"].step == "succeeded", (rollout, steps)
    assert active["active"] == index.bundle
    return {"outcome": "succeeded", "active_during": during["active"],
            "active_after": active["active"], "central_down_s": round(time.monotonic() - down, 1),
            "timings_s": _timings(fleet.boxes["box-3"])}


async def case_kill_switch(fleet: Fleet) -> dict[str, Any]:
    """box-1 is SIGKILLed at the switch; restarted, it serves and the rollout completes."""
    box = fleet.boxes["box-1"]
    await box.stop()
    await box.start(kill_at="switch")
    index = fleet.publish()
    rid = await fleet.rollout(index.bundle, "pilot", max_failures=0)
    status = await asyncio.wait_for(box.died(), 240)
    await box.start()
    restarted = await serves(box)
    rollout, steps = await fleet.settle(rid, finished)
    after = await serves(box)
    assert status == -signal.SIGKILL, status
    assert rollout.state == "completed" and after["active"] == index.bundle, (rollout, steps)
    return {"outcome": steps["box-1"].step, "exit_status": status,
            "active_on_restart": restarted["active"], "active_after": after["active"]}


async def case_mid_conversation(fleet: Fleet) -> dict[str, Any]:
    """A customer talks at box-3 as the bundle comes: the switch waits for them."""
    box = fleet.boxes["box-3"]
    kiosk = await Kiosk.connect(box.url)
    index = fleet.publish()
    rid = await fleet.rollout(index.bundle, "b3", max_failures=0)
    waited = ""
    async with asyncio.timeout(240):
        while "conversation" not in (waited := box.health()["bundle"]["reason"]):
            await kiosk.turn()
            await asyncio.sleep(0.2)
    for _ in range(3):
        await kiosk.turn()
        await asyncio.sleep(0.3)
    last_reply = kiosk.turns[-1][1]
    await kiosk.ws.send(json.dumps({"type": "end_session"}))
    rollout, steps = await fleet.settle(rid, finished)
    await kiosk.turn()
    await kiosk.close()
    status = await serves(box)
    record = json.loads((box.data / "bundles" / "update.json").read_bytes())
    began = record["switched_at"] - record["timings_s"]["switch"]
    assert began > last_reply, "switched while the customer was talking"
    delays = [max(0.0, min(r, record["switched_at"]) - max(s, began)) for s, r in kiosk.turns]
    latency = sorted((r - s) * 1000 for s, r in kiosk.turns)
    assert rollout.state == "completed" and status["active"] == index.bundle, (rollout, steps)
    return {"outcome": steps["box-3"].step, "waited_because": waited,
            "turns_during_update": len(kiosk.turns),
            "longest_turn_delay_by_update_ms": round(max(delays) * 1000, 1),
            "turn_latency_ms_p50": round(latency[len(latency) // 2], 1),
            "turn_latency_ms_max": round(latency[-1], 1), "timings_s": record["timings_s"]}


async def case_older_bundle(fleet: Fleet) -> dict[str, Any]:
    """box-3 runs a newer bundle; a rollout of an older one is refused."""
    running = (await serves(fleet.boxes["box-3"]))["active"]
    older = next(i for i in fleet.published if i.bundle < running)
    return await _refused(fleet, older, "box-3", "refused")


async def case_replay(fleet: Fleet) -> dict[str, Any]:
    """Central's disk (or a CDN in front of it) serves an old, validly signed timestamp: the
    box has trusted a newer one and refuses the rollback (TUF's version check)."""
    index = fleet.publish()
    stamp = fleet.repo.metadata_dir / "timestamp.json"
    stamp.write_bytes(fleet.timestamps[-3])
    # (the operator's --repo check would read the replayed metadata too: skipped here)
    entry = await _refused(fleet, index, "box-3", "version", check_published=False)
    fleet.repo.bump_timestamp(fleet.keys)  # central's real timestamp is back: newer again
    return entry


async def case_expired(fleet: Fleet) -> dict[str, Any]:
    """Central stops renewing: the timestamp expires; box-3 refuses it and keeps serving."""
    index = fleet.publish()
    short = Repository(fleet.repo.folder, lifetimes=Lifetimes(timestamp=1.0 / 86_400))
    short.bump_timestamp(fleet.keys)
    await asyncio.sleep(2.5)
    entry = await _refused(fleet, index, "box-3", "expire")
    fleet.repo.bump_timestamp(fleet.keys)  # central renews: the fleet recovers
    return entry


CASES: dict[str, Callable[[Fleet], Awaitable[dict[str, Any]]]] = {
    "staged": case_staged,
    "tampered": case_tampered,
    "truncated": case_truncated,
    "wrong_key": case_wrong_key,
    "smoke_failing": case_smoke_failing,
    "central_down": case_central_down,
    "kill_switch": case_kill_switch,
    "mid_conversation": case_mid_conversation,
    "older_bundle": case_older_bundle,
    "replay": case_replay,
    "expired": case_expired,
}


async def run(names: list[str], work: Path) -> dict[str, Any]:
    fleet = await open_fleet(work)
    out: dict[str, Any] = {}
    try:
        for name in names:
            began = time.monotonic()
            entry = await CASES[name](fleet)
            entry["case_s"] = round(time.monotonic() - began, 1)
            entry["every_box_serves"] = await fleet.all_serve()
            out[name] = entry
            print(f"{name:18} {entry['outcome']:12} {entry['case_s']:7.1f} s  "
                  f"{str(entry.get('reason', ''))[:70]}", flush=True)
    finally:
        await fleet.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help=f"some of {', '.join(CASES)} (default: all)")
    args = parser.parse_args()
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        results = asyncio.run(run(names, Path(tmp)))
    doc = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    doc.setdefault("fleet", {}).update(results)
    doc["fleet_machine"] = {"load": os.getloadavg(), "cpus": os.cpu_count(),
                            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    RESULTS.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
