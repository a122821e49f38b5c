"""Signed bundles reach the updater's inbox: verified by TUF over real HTTP, all or nothing,
never twice, never while an update is in progress, and the service shows the trust state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.bundle_fetch import BundleFetcher
from edge.service import Service
from provisioning import manifest as m
from provisioning.slots import BundleSlots
from provisioning.trust import TrustError
from tests.conftest import make_config
from tests.trust_fixtures import MODEL_BYTES, box, make_central, root_v1, serve

NAMES = ["config-test-001", "kb-test-001", "whisper-base"]


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll the service's health (no event to wait on: the jobs run on their own)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def _slots(tmp_path: Path) -> BundleSlots:
    factory = tmp_path / "factory"
    factory.mkdir()
    slots = BundleSlots(tmp_path / "bundles", factory)
    slots.prepare()
    return slots


def test_a_verified_bundle_lands_in_the_inbox_once(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    slots = _slots(tmp_path)
    with serve(central.folder) as (url, _log):
        fetcher = BundleFetcher(box(tmp_path, central, url), slots, busy=lambda: False)
        bundle = fetcher.fetch_once()
        assert bundle is not None and slots.arrived() == [bundle]
        folder = slots.inbox / bundle
        assert sorted(p.name for p in folder.iterdir()) == NAMES
        for name in NAMES:
            assert m.problems(folder / name, m.read(folder / name)) == []
        assert (folder / "whisper-base" / "model.bin").stat().st_size == MODEL_BYTES
        # the updater installs it and makes it active: nothing newer, nothing fetched
        slots.install(bundle, folder)
        slots.switch(bundle)
        assert fetcher.installed() == {n: 1 for n in NAMES}
        assert fetcher.fetch_once() is None and slots.arrived() == []
        # a new model version: only that component comes, under a bundle id of its own
        central.rebuild(b"w2")
        again = fetcher.fetch_once()
        assert again is not None and again != bundle
        assert [p.name for p in (slots.inbox / again).iterdir()] == ["whisper-base"]
        assert fetcher.status().state == "ok"


def test_a_tampered_model_never_reaches_the_inbox(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    target = next((central.folder / "targets" / "stt").rglob("*.tar"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    slots = _slots(tmp_path)
    with serve(central.folder) as (url, _log):
        fetcher = BundleFetcher(box(tmp_path, central, url), slots, busy=lambda: False)
        with pytest.raises(TrustError):
            fetcher.fetch_once()
    assert slots.arrived() == []
    assert fetcher.status().state == "rejected" and fetcher.status().alarm


async def test_nothing_is_fetched_while_an_update_is_in_progress(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    slots = _slots(tmp_path)
    busy = True
    with serve(central.folder) as (url, log):
        fetcher = BundleFetcher(box(tmp_path, central, url), slots, busy=lambda: busy)
        job = fetcher.job(60.0)
        await job.action(0.0)
        assert log.requests == [] and slots.arrived() == []
        busy = False
        await job.action(60.0)
        assert len(slots.arrived()) == 1
        before = len(log.requests)
        await job.action(120.0)  # a bundle waits in the inbox: the updater takes it first
        assert len(log.requests) == before


async def test_the_service_fetches_into_its_updater_and_shows_the_trust_state(
        tmp_path: Path) -> None:
    central = make_central(tmp_path)
    root = tmp_path / "root.json"
    root.write_bytes(root_v1(central))
    with serve(central.folder) as (url, _log):
        config = make_config(tmp_path, **{
            "provisioning.repository_url": url, "provisioning.root_file": str(root),
            "provisioning.fetch_interval_s": 0.2, "updates.check_interval_s": 0.2,
            "updates.smoke_timeout_s": 60.0})
        async with Service.open(config, demo=True) as service:
            assert service.fetcher is not None
            await _until(lambda: bool(service.health().bundle.pending
                                      or service.health().bundle.last), 60)
            bundle = service.health().bundle
            assert bundle.trust.startswith("ok: bundle")
            # the test bundle's "Whisper model" is 3 MB of filler: the smoke test must refuse
            # it, and the factory models keep serving
            await _until(lambda: bool(service.health().bundle.last), 90)
            assert "rejected" in service.health().bundle.last
            assert service.health().bundle.active == "factory"
