"""What the service reports of itself: its health (console snapshot, `GET /health`, central),
what works right now (`describe`'s features) and where its models come from (bundle status)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec

from devices.branch_payloads import Features
from devices.health_payloads import (
    BundleStatus,
    Health,
    JobHealth,
    LaneHealth,
    SpeechHealth,
    Versions,
)
from devices.server import Peer
from devices.session_messages import Describe
from edge.central_wiring import with_central
from edge.describe import describe_branch
from edge.remote_tier import remote_health

if TYPE_CHECKING:
    from edge.service import Service


def service_health(service: Service) -> Health:
    """The service's own state, from what it holds right now."""
    desk = service.desk
    return Health(
        branch=service.config.branch.id,
        uptime_s=round(time.time() - service.started_at, 1),
        queue_ops=desk.ops if desk else 0,
        waiting=sum(desk.engine.waiting_counts().values()) if desk else 0,
        pending_calls=len(desk.pending_calls) if desk else 0,
        open_alerts=len(desk.alerts) if desk else 0,
        turn_failures=dict(service.turn_failures),
        playback=dict(service.playback),
        router="loaded" if service._understand is not None else "absent",
        speech=service.speech.health() if service.speech else SpeechHealth(enabled=False),
        versions=Versions(**service.versions, knowledge=knowledge_version(service)),
        knowledge=(("hybrid" if service.hub.dense else "keyword") if service.hub is not None
                   else f"failed: {service.hub_error}" if service.hub_error else "loading"),
        jobs=msgspec.convert(service.jobs.health(), dict[str, JobHealth])
        if service.jobs is not None else {},
        lanes=msgspec.convert(service.lanes.health(), dict[str, LaneHealth]),
        bundle=bundle_status(service),
        remote_llm=remote_health(service.llm),
    )


def describe_for(service: Service, peer: Peer, ref: str | None = None) -> Describe:
    """The branch for this device's page, with what works right now."""
    sp = service.speech
    features = Features(speech_in=sp is not None and sp.listening,
                        speech_out=sp is not None and sp.tts is not None,
                        llm=service.llm is not None, knowledge=service.hub is not None,
                        forms=["account_opening"])
    return describe_branch(service.config, peer.role, features, ref)


def knowledge_version(service: Service) -> str:
    hub = service.hub
    if hub is None:
        return "loading"
    sources = {p.source for p in hub.passages}
    return f"{len(sources)} documents, {len(hub.passages)} passages"


def bundle_status(service: Service) -> BundleStatus:
    """The updater's view plus where signed bundles come from and whether to worry."""
    status = with_central(
        service.updater.status() if service.updater is not None else BundleStatus(),
        service.central)
    if service.fetcher is None:
        return status
    trust = service.fetcher.status()
    return msgspec.structs.replace(status, trust=f"{trust.state}: {trust.detail}")
