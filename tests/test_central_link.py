"""The box's link to central, against the real central (`tests/central_box.py`: real store,
real TUF repository, real server on 127.0.0.1) and the real service: it reconnects after
central stops and starts again on the same port, installs the bundle central assigns
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
from provisioning.repository import Repository
from provisioning.settings import CentralSettings, ProvisioningSettings
from tests.bundles import NOTICE
from tests.central_box import RealCentral
from tests.conftest import make_config
from tests.test_bundle_update_service import _turn
from tests.trust_fixtures import serve
from tests.wsclient import login

BOX, SECRET = "box-sh-012", "s3cr3t-0f-b0x-012-do-not-log"  # a secret central never issued


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


def _secret_file(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "central.secret"
    path.write_text(secret + "\n")
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


def _config(tmp_path: Path, url: str, secret: str = SECRET, **over: Any) -> Any:
    return make_config(tmp_path, **{
        "central.url": url, "central.box_id": BOX,
        "central.secret_file": str(_secret_file(tmp_path, secret)),
        "central.reconnect_min_s": 0.1, "central.reconnect_max_s": 0.5,
        "central.report_interval_s": 30.0,
        "updates.check_interval_s": 0.1, "updates.quiet_hold_s": 0.2,
        "updates.probation_s": 1.0, **over})


def _root_file(central: RealCentral, tmp_path: Path) -> Path:
    root = tmp_path / "root.json"
    root.write_bytes((central.repo.folder / "metadata" / "1.root.json").read_bytes())
    return root


async def _until(ok: Callable[[], bool], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not ok():  # noqa: ASYNC110 - the service's jobs run on their own
            await asyncio.sleep(0.05)


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[RealCentral]:
    """The real central (store, TUF repository, server), this box not yet registered."""
    running = RealCentral(tmp_path)
    try:
        yield await running.start()
    finally:
        await running.close()


def _no_secret_logged(caplog: pytest.LogCaptureFixture, secret: str) -> None:
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
    assert secret not in logged
    assert caplog.records  # the capture worked: there is something to search


async def test_the_link_reports_and_comes_back_after_central_restarts(
        tmp_path: Path, central: RealCentral, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = central.add_box(BOX)
    async with Service.open(_config(tmp_path, central.url, secret), demo=True) as service:
        await central.wait_for("a report", lambda: central.box(BOX).last_contact is not None)
        first = central.box(BOX)
        assert first.bundle == "factory" and first.service_version
        uptime = first.health["uptime_s"]
        assert isinstance(uptime, (int, float)) and uptime >= 0
        assert first.health["kiosks_online"] == 0
        assert central.log.links(BOX) == 1 and central.log.steps(BOX) == []  # no update
        assert service.health().bundle.central.startswith("connected since ")
        await _reports_settle(service)  # central answers each report: no report back to that
        kiosk = await login(f"ws://{service.address[0]}:{service.address[1]}", "kiosk-1")  # type: ignore[index]
        await central.stop()  # central restarts on the same port ...
        await _until(lambda: not service.health().bundle.central.startswith("connected"))
        await central.start()
        await central.wait_for("the box again", lambda: central.log.links(BOX) >= 2
                               and central.box(BOX).health["kiosks_online"] == 1)
        await _until(lambda: service.health().bundle.central.startswith("connected"))
        await kiosk.close()
    refused = [r for r in central.log.records  # central's side only (the box logs there too)
               if r.levelno >= logging.WARNING and "provisioning" in r.pathname]
    assert refused == []
    _no_secret_logged(caplog, secret)


async def test_a_wrong_secret_is_refused_and_said_so(tmp_path: Path, central: RealCentral) -> None:
    central.add_box(BOX)
    async with Service.open(_config(tmp_path, central.url, SECRET), demo=True) as service:
        await _until(lambda: service.health().bundle.central.startswith("unreachable"))
        assert "HTTP 401" in service.health().bundle.central
        assert "(box id or secret not accepted)" in service.health().bundle.central
        assert central.box(BOX).last_contact is None and central.log.links(BOX) == 0


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
    _no_secret_logged(caplog, SECRET)


async def _reports_settle(service: Service) -> None:
    """Once central has answered, the box reports again only on a change or a nudge (or
    after report_interval_s, 30 s here), never in reply to central's Assignment."""
    assert service.central is not None
    before = service.central.reports_sent
    await asyncio.sleep(1.0)
    assert service.central.reports_sent - before <= 1


def _steps(central: RealCentral, rollout: str) -> list[str]:
    """The box's steps in the rollout, as central logged them (targeted left out)."""
    return [step for r, step in central.log.steps(BOX) if r == rollout and step != "targeted"]


async def test_central_rolls_out_a_bundle_the_box_fetches_verifies_and_installs(
        tmp_path: Path, central: RealCentral, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = central.add_box(BOX)
    repo, keys = central.repo, central.keys
    b1 = _publish(repo, keys, tmp_path, 1, 1_700_000_000.0)
    config = _config(tmp_path, central.url, secret, **{
        "provisioning.root_file": str(_root_file(central, tmp_path)),
        "provisioning.fetch_interval_s": 0.2})
    async with Service.open(config, demo=True) as service:
        assert service.fetcher is not None and service.updater is not None
        await central.wait_for("the box", lambda: central.log.links(BOX) >= 1)
        await asyncio.sleep(0.5)
        assert service.updater.slots.arrived() == []  # director mode: no fetch of its own
        central.roll_out("r1", b1.bundle)  # the next tick targets the box and nudges it
        await central.wait_for("r1 succeeded", lambda: "succeeded" in _steps(central, "r1"), 120)
        assert _steps(central, "r1") == ["downloading", "installing", "applied", "succeeded"]
        recorded = central.box(BOX)
        assert recorded.bundle == b1.bundle and recorded.components["kb-branch"] == 1
        row = central.row("r1", BOX)
        assert row is not None and row.step == "succeeded"
        await central.wait_for("r1 completed", lambda: central.store.rollouts()[0].state
                               == "completed")
        assert service.health().bundle.assigned == f"rollout r1: bundle {b1.bundle}, succeeded"
        await _reports_settle(service)  # an assignment already followed asks for nothing more

        # a newer bundle whose archive was tampered with on its way: refused, with the reason
        b2 = _publish(repo, keys, tmp_path, 2, 1_700_000_100.0)
        archive = next(p for p in (repo.folder / "targets" / "knowledge").glob("*.tar")
                       if "kb-branch-2" in p.name)
        good = archive.read_bytes()
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        archive.write_bytes(bytes(data))
        central.roll_out("r2", b2.bundle)
        await central.wait_for("r2 failed", lambda: "failed" in _steps(central, "r2"))
        assert _steps(central, "r2") == ["downloading", "failed"]
        row = central.row("r2", BOX)
        assert row is not None and row.step == "failed"
        assert "does not match its signed hash" in row.reason
        await central.wait_for("r2 halted", lambda: [r.state for r in central.store.rollouts()]
                               == ["completed", "halted"])
        assert service.health().bundle.active == b1.bundle  # the working bundle serves on
        # the archive repaired, the operator rolls the bundle out again: the box installs it
        archive.write_bytes(good)
        central.roll_out("r3", b2.bundle)
        await central.wait_for("r3 succeeded", lambda: "succeeded" in _steps(central, "r3"), 120)
        assert service.health().bundle.active == b2.bundle
        assert central.box(BOX).bundle == b2.bundle
    _no_secret_logged(caplog, secret)


async def test_an_update_that_ends_while_central_is_away_is_reported_on_reconnect(
        tmp_path: Path, central: RealCentral) -> None:
    secret = central.add_box(BOX)
    b1 = _publish(central.repo, central.keys, tmp_path, 1, 1_700_000_000.0)
    root = _root_file(central, tmp_path)
    with serve(central.repo.folder) as (repo_url, _log):  # the repository on a CDN, not on central
        config = _config(tmp_path, central.url, secret, **{
            "provisioning.root_file": str(root), "provisioning.repository_url": repo_url})
        async with Service.open(config, demo=True) as service:
            await central.wait_for("the box", lambda: central.log.links(BOX) >= 1)
            central.roll_out("r1", b1.bundle)
            await central.wait_for("downloading", lambda: "downloading" in _steps(central, "r1"))
            await central.stop()  # central goes down; the update goes on without it
            await _until(lambda: service.health().bundle.last.startswith(b1.bundle), 120)
            await _until(lambda: "succeeded" in service.health().bundle.assigned)
            assert service.health().bundle.central.startswith("unreachable")
            row = central.row("r1", BOX)
            assert row is not None and row.step != "succeeded"  # central has not heard yet
            await central.start()
            await central.wait_for("the report", lambda: "succeeded" in _steps(central, "r1"))
            row = central.row("r1", BOX)
            assert row is not None and row.step == "succeeded"
            assert central.box(BOX).bundle == b1.bundle
    state = json.loads((tmp_path / "data" / "central" / "link.json").read_bytes())
    assert state["step"] == "succeeded" and state["rollout"] == "r1"
    # a restart: the first update the box reports says where it got, from what it kept on its
    # disk (a box that forgot would start r1 over: targeted, downloading, ...)
    seen = len(_all_steps(central))
    links = central.log.links(BOX)
    async with Service.open(config, demo=True):
        await central.wait_for("a report", lambda: central.log.links(BOX) > links
                               and len(_all_steps(central)) > seen)
    assert _all_steps(central)[seen] == ("r1", "succeeded")
    assert central.box(BOX).bundle == b1.bundle


def _all_steps(central: RealCentral) -> list[tuple[str, str]]:
    """Every update the box reported, in order, repeats kept (a restart's report too)."""
    return [(str(r.args[1])[1:-1], str(r.args[2])) for r in central.log.records
            if r.msg == "box %s: rollout %s %s" and isinstance(r.args, tuple)
            and r.args[0] == repr(BOX)]
