"""How the service wires central in (kept out of `edge/service.py`): the day's statistics
job always; with `[central] url`, the link (director mode) and the day reports' outbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from devices.health_payloads import BundleStatus, Health
from edge.bundle_fetch import BundleFetcher
from edge.central_link import CentralLink
from edge.config import BranchConfig
from edge.day_reports import DayOutbox
from edge.day_sketch import DaySketch
from edge.jobs import Job, every
from edge.store import Store
from edge.updates import EdgeUpdater
from provisioning.central import wire
from provisioning.settings import ProvisioningSettings


def provisioning_for(config: BranchConfig) -> ProvisioningSettings:
    """`[provisioning]` with central's repository (`<url>/repo`) when none is configured."""
    url = config.central.repository_url(config.provisioning)
    return msgspec.structs.replace(config.provisioning, repository_url=url)


def box_health(health: Health, kiosks_online: int) -> wire.BoxHealth:
    """What central may know of the box's state: no customer data."""
    return wire.BoxHealth(uptime_s=health.uptime_s, trust=health.bundle.trust,
                          turn_failures=sum(health.turn_failures.values()),
                          open_alerts=health.open_alerts, kiosks_online=kiosks_online)


def central_jobs(config: BranchConfig, version: str, updater: EdgeUpdater,
                 fetcher: BundleFetcher | None, store: Store, sketch: DaySketch,
                 today: Callable[[], str],
                 health: Callable[[], wire.BoxHealth]) -> tuple[CentralLink | None, list[Job]]:
    """The jobs (statistics flush; day reports with central) and the link, not yet started."""
    c = config.central
    jobs = [Job("day_stats", every(c.stats_flush_s), lambda now: sketch.flush())]
    if not c.url:
        return None, jobs
    link = CentralLink(c, Path(config.data_dir), version, updater, fetcher, health,
                       config.updates.check_interval_s)
    outbox = DayOutbox(c, Path(config.data_dir), store, sketch, config.queue, today)
    jobs.append(Job("central_days", every(c.day_resend_s), outbox.tick, run_at_start=True))
    return link, jobs


def with_central(status: BundleStatus, link: CentralLink | None) -> BundleStatus:
    """The bundle status with the link's state and central's assignment."""
    if link is None:
        return status
    central, assigned = link.status()
    return msgspec.structs.replace(status, central=central, assigned=assigned)
