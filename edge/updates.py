"""The box's updater in the service: the thin shell around `provisioning.updater`.

A bundle is a folder of verified components dropped into `<slots_dir>/inbox/` (by the TUF
client, a USB import or a test). Each tick of the `bundle_update` job moves the one update
in progress on by a step: install beside the active bundle, verify, smoke-test in a child
process, load the new models off the event loop, wait for a quiet lobby, switch the pointer
and the service's models in one event-loop step (no await in between, so no customer turn
can start half-way), watch probation, commit or roll back. Every state change is written
to `update.json` (atomically) before the step it announces, so a kill at any moment resumes
or rolls back on the next start, and the service always starts on a working bundle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from devices.health_payloads import BundleStatus
from edge.config import BranchConfig
from edge.jobs import Job, every
from provisioning import manifest as m
from provisioning import updater as u
from provisioning.slots import BundleSlots, SlotError, refusals, write_atomic
from provisioning.smoke import run_smoke

log = logging.getLogger("branch_teller.updates")

RECORD = "update.json"
KILL_AT_ENV = "BRANCH_TELLER_KILL_AT"  # crash tests: the step at which this process dies
KNOWLEDGE_KINDS = ("knowledge",)


class Host(Protocol):
    """What the updater needs from the running service."""

    def lobby(self) -> u.Lobby: ...

    def probe(self) -> u.Probe: ...

    async def load_models(self, config: BranchConfig) -> Any: ...

    def use_models(self, loaded: Any, bundle: str) -> None: ...

    def drop_models(self, loaded: Any) -> None: ...


def kill_point(step: str) -> None:
    """Crash tests: die here as a power cut would, when the environment names this step
    (install, switch, switched). Unset in a real service, where it does nothing."""
    if os.environ.get(KILL_AT_ENV) == step:
        log.warning("%s=%s: killing this process", KILL_AT_ENV, step)
        os.kill(os.getpid(), signal.SIGKILL)


def slots_for(config: BranchConfig) -> BundleSlots:
    """The box's slots folder (default: under the data folder)."""
    folder = config.updates.slots_dir or str(Path(config.data_dir) / "bundles")
    return BundleSlots(Path(folder), Path(config.models.root))


def effective_config(config: BranchConfig, slots: BundleSlots, bundle: str) -> BranchConfig:
    """The configuration with model paths taken from `bundle` ("" = as configured)."""
    if not bundle:
        return config
    root = slots.bundle_root(bundle)
    models = msgspec.structs.replace(config.models, root=str(root.resolve()))
    llm, knowledge = config.llm, config.knowledge
    kinds = {name: man.kind for name, man in slots.components(bundle).items() if man}
    llm_names = [n for n, k in kinds.items() if k == "llm"]
    if config.llm.folder:
        same = root / Path(config.llm.folder).name
        target = root / llm_names[0] if llm_names else same
        if (target / "genai_config.json").is_file():
            llm = msgspec.structs.replace(config.llm, folder=str(target.resolve()))
    extra = [str((root / n).resolve()) for n, k in kinds.items() if k in KNOWLEDGE_KINDS]
    if extra:
        knowledge = msgspec.structs.replace(
            config.knowledge, folders=[*config.knowledge.folders, *extra]
        )
    return msgspec.structs.replace(config, models=models, llm=llm, knowledge=knowledge)


class EdgeUpdater:
    """One box's updates: `boot` before models load, `tick` from the job, `stopped` at exit."""

    def __init__(
        self, config: BranchConfig, service_version: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.base = config
        self.settings = config.updates
        self.service_version = service_version
        self.clock = clock
        self.slots = slots_for(config)
        self.record: u.UpdateRecord | None = None
        self.last: u.UpdateRecord | None = None  # the last finished update, for staff
        self.host: Host | None = None
        self._loaded: Any = None  # the new (or, rolling back, old) models, ready to swap in
        self._work: asyncio.Task[None] | None = None
        self._quiet_since: float | None = None
        self._rollback_to: str | None = None

    # ------------------------------------------------------------ persistence

    def _save(self) -> None:
        if self.record is not None:
            write_atomic(self.slots.root / RECORD, msgspec.json.encode(self.record))

    def _load(self) -> u.UpdateRecord | None:
        try:
            return msgspec.json.decode((self.slots.root / RECORD).read_bytes(), type=u.UpdateRecord)
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    # ------------------------------------------------------------ start and stop

    def boot(self) -> BranchConfig:
        """Before any model loads: finish or undo what a crash interrupted, count this start
        if a bundle is on probation, and return the config of the bundle to load."""
        self.slots.prepare()
        rec = self._load()
        if rec is not None and not rec.done:
            action = u.on_start(rec, self.slots.active_bundle(), self.clock(), self.settings)
            self.record = rec
            if action == "rollback":
                self._roll_back_now()
            else:
                self._save()
            log.info("update %s resumes: %s (%s)", rec.bundle, rec.state, action)
        elif rec is not None:
            self.last = rec
        return self.config()

    def config(self) -> BranchConfig:
        """The service's config on the active bundle."""
        return effective_config(self.base, self.slots, self.slots.active_bundle())

    def busy(self) -> bool:
        """An update is on its way (staged to probation): nothing new is fetched meanwhile."""
        return self.record is not None and not self.record.done

    def stopped(self) -> None:
        """A graceful stop: not a crash of a bundle on probation."""
        if self.record is not None and self.record.state == "probation":
            u.stopped_cleanly(self.record)
            self._save()

    def job(self, host: Host) -> Job:
        """The supervised job that moves the update on (every `check_interval_s`)."""
        self.host = host

        async def tick(now: float) -> None:
            self.tick(now)

        return Job("bundle_update", every(self.settings.check_interval_s), tick)

    async def close(self) -> None:
        """Cancel a step in progress (the record says where to resume)."""
        work, self._work = self._work, None
        if work is not None:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
        if self._loaded is not None and self.host is not None:
            self.host.drop_models(self._loaded)
            self._loaded = None

    # ------------------------------------------------------------ the steps

    def tick(self, now: float) -> None:
        """One look: start the next long step, or switch, judge, roll back (all quick)."""
        if not self.settings.enabled or (self._work is not None and not self._work.done()):
            return
        rec = self.record
        if rec is None or rec.done:
            self._take_arrival(now)
            return
        if rec.state == "staged":
            self._spawn(self._install(rec))
        elif rec.state == "verifying":
            self._spawn(self._verify(rec))
        elif rec.state == "smoke_testing":
            self._spawn(self._smoke(rec))
        elif rec.state == "waiting_for_quiet":
            self._wait_for_quiet(rec, now)
        elif rec.state == "probation":
            self._watch(rec, now)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:  # the job retries at the next tick; the record is unchanged
                log.exception("update step failed; it will be retried")

        self._work = asyncio.ensure_future(guarded())

    def _take_arrival(self, now: float) -> None:
        arrived = self.slots.arrived()
        if not arrived:
            return
        bundle = arrived[0]
        components: dict[str, int] = {}
        for folder in sorted(
            p
            for p in (self.slots.inbox / bundle).iterdir()
            if p.is_dir() and not p.name.startswith(".")
        ):
            try:
                components[folder.name] = m.read(folder).version
            except m.ManifestError:
                components[folder.name] = -1  # verification names what is wrong
        if self.record is not None:
            self.last = self.record
        self.record = u.new_record(bundle, components, now)
        self._save()
        log.info("bundle %s arrived: %s", bundle, components)

    async def _install(self, rec: u.UpdateRecord) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if not self.slots.bundle_root(rec.bundle).is_dir():
            try:
                await loop.run_in_executor(
                    None,
                    self.slots.install,
                    rec.bundle,
                    self.slots.inbox / rec.bundle,
                    lambda _: kill_point("install"),
                )
            except SlotError as err:
                u.verified(rec, [str(err)], 0.0, self.clock())
                self._finish_if_rejected(rec)
                self._save()
                return
        u.installed(rec, time.perf_counter() - started)
        self._save()

    async def _verify(self, rec: u.UpdateRecord) -> None:
        started = time.perf_counter()
        active = self.slots.components(self.slots.active_bundle())
        problems = await asyncio.get_running_loop().run_in_executor(
            None,
            refusals,
            self.slots.bundle_root(rec.bundle),
            sorted(rec.components),
            active,
            self.service_version,
        )
        u.verified(rec, problems, time.perf_counter() - started, self.clock())
        self._finish_if_rejected(rec)
        self._save()

    def _smoke_names(self, rec: u.UpdateRecord) -> list[str]:
        """The new components, and every component of the bundle the service will load."""
        speech = self.base.speech.enabled
        used = {"router", "knowledge", "llm"} | ({"stt", "vad", "tts"} if speech else set())
        names = set(rec.components)
        for name, man in self.slots.components(rec.bundle).items():
            if man is not None and man.kind in used:
                names.add(name)
        return sorted(names)

    async def _smoke(self, rec: u.UpdateRecord) -> None:
        started = time.perf_counter()
        problems, _ = await run_smoke(
            self.slots.bundle_root(rec.bundle),
            self._smoke_names(rec),
            self.settings.smoke_timeout_s,
        )
        u.smoked(rec, problems, time.perf_counter() - started, self.clock())
        self._finish_if_rejected(rec)
        self._save()

    def _finish_if_rejected(self, rec: u.UpdateRecord) -> None:
        if rec.state == "rejected":
            log.warning("bundle %s rejected: %s", rec.bundle, rec.reason)
            self.slots.discard(rec.bundle)

    def _wait_for_quiet(self, rec: u.UpdateRecord, now: float) -> None:
        assert self.host is not None
        if self._loaded is None:  # models load while the old ones serve
            rec.reason = "loading the new models beside the running ones"
            config = effective_config(self.base, self.slots, rec.bundle)
            self._spawn(self._preload(config))
            return
        decision = u.may_switch(rec, self.host.lobby(), self._quiet_since, now, self.settings)
        self._quiet_since = decision.quiet_since
        if not decision.switch:
            if rec.reason != decision.reason:
                rec.reason = decision.reason
                self._save()
            return
        # From here to the end: no await, so no customer turn starts half-way through.
        started = time.perf_counter()
        u.switching(rec, self.slots.active_bundle(), self.host.probe().turn_failures)
        self._save()
        kill_point("switch")
        self.slots.switch(rec.bundle)
        kill_point("switched")
        self.host.use_models(self._loaded, rec.bundle)
        self._loaded = None
        u.switched(rec, time.perf_counter() - started, self.clock())
        self._save()
        log.info(
            "bundle %s active (%s); probation %.0f s",
            rec.bundle,
            decision.reason,
            self.settings.probation_s,
        )

    async def _preload(self, config: BranchConfig) -> None:
        assert self.host is not None
        self._loaded = await self.host.load_models(config)

    def _watch(self, rec: u.UpdateRecord, now: float) -> None:
        assert self.host is not None
        if self._rollback_to is None:
            verdict = u.judge(rec, self.host.probe(), now, self.settings)
            if verdict == "commit":
                u.committed(rec, now)
                self._save()
                removed = self.slots.prune(self.settings.keep_bundles)
                log.info("bundle %s committed (pruned %s)", rec.bundle, removed or "none")
                return
            if verdict == "watch":
                return
            self._rollback_to = rec.previous
            log.warning("bundle %s fails probation: %s; rolling back", rec.bundle, rec.reason)
        if self._loaded is None:
            self._spawn(self._preload(effective_config(self.base, self.slots, self._rollback_to)))
            return
        lobby = self.host.lobby()
        if lobby.turns_running or lobby.speaking:  # between two turns, not during one
            return
        self.slots.switch(self._rollback_to)
        self.host.use_models(self._loaded, self._rollback_to)
        self._loaded = None
        self._rollback_to = None
        u.rolled_back(rec, self.clock())
        self._save()

    def _roll_back_now(self) -> None:
        """At start, before models load: back to the bundle the update replaced."""
        rec = self.record
        assert rec is not None
        self.slots.switch(rec.previous)
        u.rolled_back(rec, self.clock())
        self._save()
        log.warning("bundle %s rolled back at start: %s", rec.bundle, rec.reason)

    # ------------------------------------------------------------ for staff

    def status(self) -> BundleStatus:
        """The active bundle, a pending one and why it waits, the last outcome."""
        active = self.slots.active_bundle()
        comps = self.slots.components(active)
        rec, last = self.record, self.last
        pending = rec if rec is not None and not rec.done else None
        finished = rec if rec is not None and rec.done else last
        shown = pending or finished
        return BundleStatus(
            active=active or "factory",
            components={n: (man.version if man else 0) for n, man in comps.items()},
            pending=pending.bundle if pending else "",
            state=pending.state if pending else "",
            reason=pending.reason if pending else "",
            last=(
                f"{finished.bundle}: {finished.state}"
                + (f" ({finished.reason})" if finished.reason else "")
            )
            if finished
            else "",
            timings_s=dict(shown.timings_s) if shown is not None else {},
        )
