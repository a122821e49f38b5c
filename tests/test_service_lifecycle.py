"""The service's lifecycle: one factory opens every resource, closes them newest first, and
closes what it had opened when a later resource fails to load; jobs show in health."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest

from devices.server import DeviceServer
from edge import service as service_module
from edge.jobs import Supervisor
from edge.service import Service
from edge.store import Store
from tests.conftest import make_config


def _config(tmp_path: Path, **overrides: Any) -> Any:
    return make_config(tmp_path, **{"models.router_encoder": False, **overrides})


async def test_a_resource_failing_to_load_closes_those_opened_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_router(*args: Any) -> Any:
        raise RuntimeError("router file unreadable")

    monkeypatch.setattr(service_module, "load_understanding", broken_router)
    service = Service(_config(tmp_path))
    with pytest.raises(RuntimeError, match="router file unreadable"):
        await service.start()
    assert service.store is not None and service.desk is not None  # opened before the router
    assert service.store._db is None  # ... and closed again
    assert service.lanes.indexing._pool._shutdown  # type: ignore[attr-defined]
    assert service.server is None and service.jobs is None and not service.tasks
    await service.stop()  # nothing left to close: no error
    again = await Store.open(Path(tmp_path, "data", "branch.db"))  # the file is free again
    await again.close()


async def test_the_last_resource_failing_closes_everything_before_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = Service(_config(tmp_path, **{"server.port": port}))
        with pytest.raises(OSError):
            await service.start()
    assert service._understand is not None  # the router was loaded before the port failed
    assert service.store is not None and service.store._db is None
    assert service.lanes.indexing._pool._shutdown  # type: ignore[attr-defined]
    assert service.jobs is None and not service.tasks


async def test_resources_close_in_reverse_order(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []

    def recording(cls: type, name: str, label: str) -> None:
        original = getattr(cls, name)

        async def wrapper(self: Any, *args: Any) -> Any:
            closed.append(label)
            return await original(self, *args)

        monkeypatch.setattr(cls, name, wrapper)

    recording(Store, "close", "store")
    recording(DeviceServer, "stop", "server")
    recording(Supervisor, "stop", "jobs")
    async with Service.open(_config(tmp_path)) as service:
        assert service.address is not None and service.jobs is not None
        assert closed == []
    assert closed == ["jobs", "server", "store"]
    assert service.lanes.indexing._pool._shutdown  # type: ignore[attr-defined]
    await service.stop()  # a second stop closes nothing twice
    assert closed == ["jobs", "server", "store"]


async def test_health_and_metrics_show_every_job(tmp_path: Path) -> None:
    async with Service.open(_config(tmp_path)) as service:
        assert service.jobs is not None
        for _ in range(100):  # the purge and the day close run once at start
            jobs = msgspec.to_builtins(service.health().jobs)
            if jobs["retention_purge"]["runs"] and jobs["day_close"]["runs"]:
                break
            await asyncio.sleep(0.05)
        assert set(jobs) == {"call_resends", "idle_reset", "retention_purge", "day_close",
                             "staff_sync", "bundle_update", "audit_checkpoint",
                             "pairing_refresh", "day_stats"}
        assert jobs["day_close"]["failures"] == 0 and jobs["day_close"]["last_success_at"]
        host, port = service.address or ("", 0)

        def get(path: str) -> str:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as r:
                return str(r.read().decode())

        health = json.loads(await asyncio.to_thread(get, "/health"))
        assert health["jobs"]["retention_purge"]["runs"] >= 1
        metrics = await asyncio.to_thread(get, "/metrics")
        assert 'branch_teller_job_runs_total{job="day_close",outcome="ok"} 1.0' in metrics
        assert 'branch_teller_job_last_success_timestamp_seconds{job="retention_purge"}' in (
            metrics)


async def test_a_failing_job_shows_in_health_while_the_others_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def full_disk(self: Store, *args: Any) -> dict[str, int]:
        raise OSError("disk full")

    monkeypatch.setattr(Store, "purge", full_disk)
    async with Service.open(_config(tmp_path, **{"jobs.tick_s": 0.05})) as service:
        for _ in range(100):
            jobs = msgspec.to_builtins(service.health().jobs)
            if jobs["retention_purge"]["failures"] and jobs["call_resends"]["runs"] >= 3:
                break
            await asyncio.sleep(0.05)
        assert jobs["retention_purge"]["last_error"] == "OSError: disk full"
        assert jobs["retention_purge"]["last_success_at"] is None
        assert jobs["call_resends"]["runs"] >= 3 and jobs["call_resends"]["failures"] == 0
        assert jobs["day_close"]["failures"] == 0
