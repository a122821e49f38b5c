"""The box fetches signed bundles from central (or a USB mirror) into the updater's inbox.

The TUF client (`provisioning/trust.py`) verifies and unpacks every component newer than the
active bundle's into `inbox/.fetching`; only a complete, verified set is renamed to
`inbox/<bundle id>`, where the updater (`edge/updates.py`) takes it through install, verify,
smoke test, the quiet-lobby switch and probation. A fetch interrupted by a power cut resumes
from what is already verified there. Nothing is fetched while an update is in progress.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable

from edge.jobs import Job, every
from provisioning.repository import CURRENT_BUNDLE
from provisioning.slots import BundleSlots, fsync_dir
from provisioning.trust import BoxTrust, TrustError
from provisioning.trust_status import TrustStatus

log = logging.getLogger("branch_teller.bundle_fetch")

STAGING = ".fetching"


class BundleFetcher:
    """One box's fetches: blocking work, run in a worker thread one at a time."""

    def __init__(self, trust: BoxTrust, slots: BundleSlots, busy: Callable[[], bool]) -> None:
        self.trust = trust
        self.slots = slots
        self.busy = busy  # an update is in progress: fetch nothing now
        self.last_bundle = ""  # the last bundle delivered to the inbox

    def installed(self) -> dict[str, int]:
        """Component versions the box runs now (factory models count as version 0)."""
        comps = self.slots.components(self.slots.active_bundle())
        return {name: (man.version if man else 0) for name, man in comps.items()}

    def fetch_once(self, index: str = CURRENT_BUNDLE) -> str | None:
        """Fetch what central publishes now (or, in director mode, the bundle index central
        assigned: `bundles/<name>.json`); the bundle id delivered to the inbox, or None when
        nothing is newer. Raises TrustError (already recorded in the trust status)."""
        staging = self.slots.inbox / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        fetched = self.trust.fetch_bundle(staging, self.installed(), bundle=index)
        if not fetched.components:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        for leftover in staging.iterdir():  # partial folders of an earlier, failed component
            if leftover.name.startswith("."):
                shutil.rmtree(leftover, ignore_errors=True)
        bundle = self._free_name(fetched.index.bundle)
        os.replace(staging, self.slots.inbox / bundle)
        fsync_dir(self.slots.inbox)
        self.last_bundle = bundle
        names = sorted(c.manifest.name for c in fetched.components)
        log.info("bundle %s fetched and verified: %s", bundle, ", ".join(names))
        return bundle

    def _free_name(self, bundle: str) -> str:
        """The bundle's id, or id-2, id-3... when a bundle of that name is already here."""
        taken = {p.name for p in self.slots.inbox.iterdir()} | (
            {p.name for p in self.slots.installed.iterdir()} if self.slots.installed.is_dir()
            else set())
        name, n = bundle, 1
        while name in taken:
            n += 1
            name = f"{bundle}-{n}"
        return name

    def status(self) -> TrustStatus:
        return self.trust.status

    def job(self, interval_s: float) -> Job:
        """The supervised job: every `interval_s`, fetch in a worker thread unless busy."""

        async def tick(now: float) -> None:
            if self.busy() or self.slots.arrived():
                return
            try:
                await asyncio.to_thread(self.fetch_once)
            except TrustError as exc:  # recorded in the trust status; staff see it
                log.warning("bundle fetch refused: %s", exc)

        return Job("bundle_fetch", every(interval_s), tick)

