"""The box's link to central, against a real peer (`tests/central_peer.py`) on 127.0.0.1 and
the real service: it reconnects after the peer drops it, installs the bundle central assigns
through a real TUF fetch (every byte verified), reports each step in order, reports an
update that finished while central was away, refuses a tampered bundle with the reason,
never logs its secret, and serves kiosks while central is unreachable."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.central_link import backoff_s, link_url, step_of
from edge.central_secret import CentralError, read_secret
from edge.service import Service
from provisioning.bundle import BundleIndex, ComponentSource, build_bundle
from provisioning.central import wire
from provisioning.repository import Repository
from provisioning.settings import CentralSettings, ProvisioningSettings
from tests.bundles import NOTICE
from tests.central_peer import CentralPeer
from tests.conftest import make_config
from tests.test_bundle_update_service import _turn
from tests.trust_fixtures import fresh_keys, serve
from tests.wsclient import login

BOX, SECRET = "box-sh-012", "s3cr3t-0f-b0x-012-do-not-log"


# ------------------------------------------------------------------ pure parts


def test_the_updater_states_map_onto_the_fleet_steps() -> None:
    assert [step_of(s) for s in ("staged", "verifying", "smoke_testing", "waiting_for_quiet",
                                 "switching")] == ["installing"] * 5
    assert step_of("probation") == "applied" and step_of("committed") == "succeeded"
    assert step_of("rejected") == "failed" and step_of("rolled_back") == "rolled_back"


def test_backoff_doubles_with_jitter_within_its_bounds() -> None:
    assert backoff_s(1, 1.0, 300.0, lambda: 0.99) == 1.0  # the first retry: the minimum
    assert backoff_s(4, 1.0, 300.0, lambda: 1.0) == 8.0
    assert backoff_s(4, 1.0, 300.0, lambda: 0.0) == 1.0
    assert backoff_s(40, 1.0, 300.0, lambda: 1.0) == 300.0  # capped
    assert 1.0 < backoff_s(6, 1.0, 300.0, lambda: 0.5) < 32.0


def test_central_settings_derive_the_link_and_the_repository() -> None:
    c = CentralSettings(url="https://central.bank.example/fleet/", box_id=BOX, secret_file="s")
    assert link_url(c.url) == "wss://central.bank.example/fleet/api/v1/link"
    assert c.repository_url(ProvisioningSettings()) == "https://central.bank.example/fleet/repo"
    mine = ProvisioningSettings(repository_url="https://cdn.example/tuf")
    assert c.repository_url(mine) == "https://cdn.example/tuf"  # configured wins
    assert CentralSettings().repository_url(ProvisioningSettings()) == ""  # no central
    assert c.problems() == []
    bad = CentralSettings(url="ftp://x", reconnect_min_s=5.0, reconnect_max_s=1.0)
    fields = {f for f, _ in bad.problems()}
    assert {"central.url", "central.box_id", "central.secret_file",
            "central.reconnect_max_s"} <= fields


def test_the_secret_file_must_be_private_and_its_content_never_shows(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o644)
    with pytest.raises(CentralError, match="readable by others") as err:
        read_secret(str(path))
    assert SECRET not in str(err.value)
    path.chmod(0o600)
    assert read_secret(str(path)) == SECRET
    with pytest.raises(CentralError, match="not found"):
        read_secret(str(tmp_path / "missing"))


# ------------------------------------------------------------------ with the real service


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "central.secret"
    path.write_text(SECRET + "\n")
    os.chmod(path, 0o600)
    return path


def _publish(repo: Repository, keys: dict[str, Any], tmp: Path, version: int,
             created: float) -> BundleIndex:
    """A knowledge-only bundle (a real document the smoke test can index), published."""
    src = tmp / "src" / f"v{version}"
    src.mkdir(parents=True)
    (src / "notice.md").write_text(NOTICE.format(version=version), encoding="utf-8")
    source = ComponentSource("kb-branch", "knowledge", {"notice.md": src / "notice.md"})
    out = tmp / "central" / "bundle"
    index = build_bundle([source], out, "0.1.0", lambda _s: None, now=lambda: created)
    repo.publish(out, keys)
    return index


def _config(tmp_path: Path, url: str, **over: Any) -> Any:
    return make_config(tmp_path, **{
        "central.url": url, "central.box_id": BOX,
        "central.secret_file": str(_secret_file(tmp_path)),
        "central.reconnect_min_s": 0.1, "central.reconnect_max_s": 0.5,
        "central.report_interval_s": 30.0,
        "updates.check_interval_s": 0.1, "updates.quiet_hold_s": 0.2,
        "updates.probation_s": 1.0, **over})


async def _until(ok: Callable[[], bool], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not ok():  # noqa: ASYNC110 - the service's jobs run on their own
            await asyncio.sleep(0.05)


@pytest.fixture
async def peer() -> AsyncIterator[CentralPeer]:
    central = await CentralPeer({BOX: SECRET}).start()
    yield central
    await central.stop()


def _no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
    assert SECRET not in logged
    assert caplog.records  # the capture worked: there is something to search


async def test_the_link_reports_and_comes_back_after_central_drops_it(
        tmp_path: Path, peer: CentralPeer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Service.open(_config(tmp_path, peer.url), demo=True) as service:
        await peer.wait_for("a report", lambda: len(peer.reports) >= 1)
        first = peer.reports[0]
        assert first.box_id == BOX and first.bundle == "factory" and first.update is None
        assert first.service_version and first.health.uptime_s >= 0
        assert service.health().bundle.central.startswith("connected since ")
        kiosk = await login(f"ws://{service.address[0]}:{service.address[1]}", "kiosk-1")  # type: ignore[index]
        await peer.drop(BOX)  # central restarts, a load balancer cuts the link ...
        await peer.wait_for("the box again", lambda: peer.connects >= 2 and len(peer.reports) >= 2)
        assert peer.reports[-1].health.kiosks_online == 1  # the report on reconnect is fresh
        await _until(lambda: service.health().bundle.central.startswith("connected"))
        await kiosk.close()
    assert peer.refused == []
    _no_secret_logged(caplog)


async def test_a_wrong_secret_is_refused_and_said_so(tmp_path: Path, peer: CentralPeer) -> None:
    peer.secrets[BOX] = "another secret"
    async with Service.open(_config(tmp_path, peer.url), demo=True) as service:
        await _until(lambda: service.health().bundle.central.startswith("unreachable"))
        assert "HTTP 401 (box id or secret not accepted)" in service.health().bundle.central
        assert peer.reports == []


async def test_central_unreachable_the_box_serves_a_kiosk_turn(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config(tmp_path, f"http://127.0.0.1:{port}")
    async with Service.open(config, demo=True) as service:
        assert service.address is not None
        await _until(lambda: service.health().bundle.central.startswith("unreachable"))
        assert "next try in" in service.health().bundle.central
        kiosk = await login(f"ws://{service.address[0]}:{service.address[1]}", "kiosk-1")
        sent, replied = await _turn(kiosk, 1, "我要取号办理个人业务")
        assert replied - sent < 30
        await kiosk.close()
        assert service.jobs is not None and "central_days" in service.jobs.health()
    _no_secret_logged(caplog)


async def test_central_assigns_a_bundle_the_box_fetches_verifies_and_installs(
        tmp_path: Path, peer: CentralPeer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = fresh_keys()
    repo = Repository.create(tmp_path / "central" / "repository", keys)
    peer.repo = repo.folder
    await peer.stop()
    await peer.start()  # now serving /repo too
    b1 = _publish(repo, keys, tmp_path, 1, 1_700_000_000.0)
    root = tmp_path / "root.json"
    root.write_bytes((repo.folder / "metadata" / "1.root.json").read_bytes())
    config = _config(tmp_path, peer.url, **{"provisioning.root_file": str(root),
                                             "provisioning.fetch_interval_s": 0.2})
    async with Service.open(config, demo=True) as service:
        assert service.fetcher is not None and service.updater is not None
        await peer.wait_for("the box", lambda: BOX in peer.links)
        await asyncio.sleep(0.5)
        assert service.updater.slots.arrived() == []  # director mode: no fetch of its own
        await peer.send(BOX, wire.Nudge(rollout="r1", bundle=b1.bundle))
        await peer.wait_for("succeeded", lambda: ("r1", "succeeded") in
                            [s[:2] for s in peer.steps(BOX)], timeout=120)
        steps = [s[1] for s in peer.steps(BOX) if s[0] == "r1" and s[1] != "targeted"]
        assert steps == ["downloading", "installing", "applied", "succeeded"]
        last = peer.reports[-1]
        assert last.bundle == b1.bundle and last.components["kb-branch"] == 1
        assert service.health().bundle.assigned == f"rollout r1: bundle {b1.bundle}, succeeded"

        # a newer bundle whose archive was tampered with on its way: refused, with the reason
        b2 = _publish(repo, keys, tmp_path, 2, 1_700_000_100.0)
        archive = next(p for p in (repo.folder / "targets" / "knowledge").glob("*.tar")
                       if "kb-branch-2" in p.name)
        good = archive.read_bytes()
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        archive.write_bytes(bytes(data))
        await peer.send(BOX, wire.Assignment(rollout="r2", bundle=b2.bundle))
        await peer.wait_for("failed", lambda: ("r2", "failed") in
                            [s[:2] for s in peer.steps(BOX)])
        r2 = [s for s in peer.steps(BOX) if s[0] == "r2" and s[1] != "targeted"]
        assert [s[1] for s in r2] == ["downloading", "failed"]
        assert "does not match its signed hash" in r2[-1][2]
        assert service.health().bundle.active == b1.bundle  # the working bundle serves on
        # the archive repaired, central asks again: the box tries again and installs it
        archive.write_bytes(good)
        await peer.send(BOX, wire.Nudge(rollout="r2", bundle=b2.bundle))
        await peer.wait_for("r2 succeeded", lambda: ("r2", "succeeded") in
                            [s[:2] for s in peer.steps(BOX)], timeout=120)
        assert service.health().bundle.active == b2.bundle
    _no_secret_logged(caplog)


async def test_an_update_that_ends_while_central_is_away_is_reported_on_reconnect(
        tmp_path: Path, peer: CentralPeer) -> None:
    keys = fresh_keys()
    repo = Repository.create(tmp_path / "central" / "repository", keys)
    b1 = _publish(repo, keys, tmp_path, 1, 1_700_000_000.0)
    root = tmp_path / "root.json"
    root.write_bytes((repo.folder / "metadata" / "1.root.json").read_bytes())
    with serve(repo.folder) as (repo_url, _log):  # the repository on a CDN, not on central
        config = _config(tmp_path, peer.url, **{"provisioning.root_file": str(root),
                                                 "provisioning.repository_url": repo_url})
        async with Service.open(config, demo=True) as service:
            await peer.wait_for("the box", lambda: BOX in peer.links)
            await peer.send(BOX, wire.Nudge(rollout="r1", bundle=b1.bundle))
            await peer.wait_for("downloading", lambda: "downloading" in
                                [s[1] for s in peer.steps(BOX)])
            await peer.stop()  # central goes down; the update goes on without it
            await _until(lambda: service.health().bundle.last.startswith(b1.bundle), 120)
            await _until(lambda: "succeeded" in service.health().bundle.assigned)
            assert service.health().bundle.central.startswith("unreachable")
            seen = len(peer.reports)
            await peer.start()
            await peer.wait_for("the report", lambda: len(peer.reports) > seen
                                and peer.reports[-1].update is not None
                                and peer.reports[-1].update.step == "succeeded")
            assert peer.reports[-1].bundle == b1.bundle
    state = json.loads((tmp_path / "data" / "central" / "link.json").read_bytes())
    assert state["step"] == "succeeded" and state["rollout"] == "r1"
    # a restart: the first report says where the box got, from what it kept on its disk
    seen = len(peer.reports)
    async with Service.open(config, demo=True):
        await peer.wait_for("a report", lambda: len(peer.reports) > seen)
    update = peer.reports[seen].update
    assert update is not None and (update.rollout, update.step) == ("r1", "succeeded")
    assert peer.reports[seen].bundle == b1.bundle
