"""Central's links on a real server: a box's websocket gets its Assignment for each report and
a Nudge when the rollout step targets it; bad messages are answered, not fatal; one link per
box; disabled boxes and shutdown close links with a reason; no secret ever reaches the log."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from provisioning.central.fleet import FleetStore, Rollout, Stage
from provisioning.central.links import CLOSE_DISABLED, CLOSE_REPLACED
from provisioning.central.rollout import step as rollout_step
from provisioning.central.server_settings import CentralServerSettings
from provisioning.central.wire import LINK_DECODER, Assignment, Nudge, UpdateReport
from tests.central_helpers import (
    CHEAP,
    WAIT,
    Fleet,
    encoded,
    fleet,
    plain_repo,
    recv,
    reported,
    start_fleet,
    stop_fleet,
    store_url,
)
from tests.conftest import REPO
from tests.pg_server import pg_server, pg_url

__all__ = ["fleet", "pg_server", "pg_url", "store_url"]  # the fixtures, imported for pytest


def pilot_rollout() -> Rollout:
    return Rollout(rollout_id="r-2026-12", bundle="b7", stages=[Stage(name="pilot", tag="pilot")],
                   soak_s=600.0, max_failures=0, created_at=1.0)


async def closed_code(ws: ClientConnection) -> int | None:
    """Wait for the server to close the link; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    code: int | None = ws.close_code
    return code


async def test_each_report_on_the_link_is_recorded_and_answered(fleet: Fleet) -> None:
    async with fleet.link("minhang-003") as ws:
        for version in ("0.1.0", "0.1.1"):
            await ws.send(encoded("minhang-003", service_version=version).decode())
            answer = LINK_DECODER.decode(await asyncio.wait_for(ws.recv(), WAIT))
            assert answer == Assignment()
            # the answer comes after the report is in the store
            assert {b.box_id: b.service_version for b in fleet.store.boxes()}["minhang-003"] == version
    assert reported(fleet.store) == ["minhang-003"]


async def test_a_linked_box_is_nudged_when_the_rollout_step_targets_it(fleet: Fleet) -> None:
    async with fleet.link("pudong-012") as pilot, fleet.link("minhang-003") as other:
        for ws, box_id in ((pilot, "pudong-012"), (other, "minhang-003")):
            await ws.send(encoded(box_id).decode())
            assert (await recv(ws))["bundle"] == ""
        fleet.store.create_rollout(pilot_rollout())  # the next tick (0.1 s) targets the pilot
        nudge = LINK_DECODER.decode(await asyncio.wait_for(pilot.recv(), WAIT))
        assert nudge == Nudge(rollout="r-2026-12", bundle="b7")
        update = UpdateReport(rollout="r-2026-12", bundle="b7", step="downloading")
        await pilot.send(encoded("pudong-012", update=update).decode())
        assert await recv(pilot) == {"type": "assignment", "rollout": "r-2026-12", "bundle": "b7"}
        await other.send(encoded("minhang-003").decode())  # not in the pilot: nothing for it
        assert await recv(other) == {"type": "assignment", "rollout": "", "bundle": ""}
    assert [(r.box_id, r.step) for r in fleet.store.rollout_boxes("r-2026-12")] == [
        ("pudong-012", "downloading")
    ]


async def test_a_box_not_linked_gets_its_assignment_with_its_next_report(fleet: Fleet) -> None:
    fleet.store.create_rollout(pilot_rollout())
    await fleet.server.tick()  # (or the tick loop did): the pilot is targeted while offline
    assert [r.box_id for r in fleet.store.rollout_boxes("r-2026-12")] == ["pudong-012"]
    async with fleet.link("pudong-012") as ws:
        await ws.send(encoded("pudong-012").decode())
        assert await recv(ws) == {"type": "assignment", "rollout": "r-2026-12", "bundle": "b7"}


async def test_bad_messages_are_answered_and_the_link_stays(fleet: Fleet) -> None:
    async with fleet.link("minhang-003") as ws:
        await ws.send("{nonsense")
        assert (await recv(ws))["code"] == "bad_message"
        await ws.send(encoded("pudong-012").decode())  # another box's report
        assert (await recv(ws))["code"] == "box_id_mismatch"
        await ws.send(b"\x00\x01")
        error = await recv(ws)
        assert error["type"] == "error" and error["code"] == "binary_frame" and error["detail"]
        await ws.send(encoded("minhang-003").decode())
        assert (await recv(ws))["type"] == "assignment"
    assert reported(fleet.store) == ["minhang-003"]


async def test_an_oversized_link_message_closes_the_link_with_a_reason(fleet: Fleet) -> None:
    async with fleet.link("minhang-003") as ws:
        await ws.send(encoded("minhang-003", bundle="x" * fleet.server.settings.max_report_bytes).decode())
        assert await closed_code(ws) == 1009  # message too big
    assert reported(fleet.store) == []
    async with fleet.link("minhang-003") as ws:  # the box reconnects at once
        await ws.send(encoded("minhang-003").decode())
        assert (await recv(ws))["type"] == "assignment"


@pytest.mark.parametrize(
    ("who", "secret"), [("pudong-012", "wrong"), ("nobody", "x" * 43), ("jingan-001", None)]
)
async def test_a_refused_link_gets_401_before_the_upgrade(
    fleet: Fleet, who: str, secret: str | None
) -> None:
    fleet.store.set_enabled("jingan-001", False)
    with pytest.raises(InvalidStatus) as refused:
        async with fleet.link(who, secret):
            pass
    assert refused.value.response.status_code == 401
    assert b'"error":"unauthorized"' in refused.value.response.body


async def test_a_second_link_from_a_box_replaces_the_first(fleet: Fleet) -> None:
    async with fleet.link("pudong-012") as first:
        await first.send(encoded("pudong-012").decode())
        await recv(first)
        async with fleet.link("pudong-012") as second:
            assert await closed_code(first) == CLOSE_REPLACED
            fleet.store.create_rollout(pilot_rollout())
            assert (await recv(second))["type"] == "nudge"  # the new link gets what follows
            assert len(fleet.server.links) == 1


async def test_disabling_a_box_closes_its_link(fleet: Fleet) -> None:
    async with fleet.link("minhang-003") as ws:
        await ws.send(encoded("minhang-003").decode())
        await recv(ws)
        fleet.store.set_enabled("minhang-003", False)  # `central box disable`, another process
        assert await closed_code(ws) == CLOSE_DISABLED


async def test_shutdown_closes_links_going_away(fleet: Fleet) -> None:
    async with fleet.link("minhang-003") as ws:
        await ws.send(encoded("minhang-003").decode())
        await recv(ws)
        await fleet.server.stop()
        assert await closed_code(ws) == 1001
    assert len(fleet.server.links) == 0


async def test_the_log_names_boxes_and_rollouts_never_secrets(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with fleet.link("pudong-012") as ws:
        fleet.store.create_rollout(pilot_rollout())
        assert (await recv(ws))["type"] == "nudge"
        update = UpdateReport(rollout="r-2026-12", bundle="b7", step="failed", reason="smoke")
        await ws.send(encoded("pudong-012", update=update).decode())
        await recv(ws)
    with pytest.raises(InvalidStatus):
        async with fleet.link("minhang-003", fleet.secrets["pudong-012"]):  # a stolen secret
            pass
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "pudong-012" in text and "r-2026-12" in text and "minhang-003" in text
    for secret in fleet.secrets.values():
        assert secret not in text and secret[:12] not in text


def test_run_prints_its_address_and_sigterm_closes_links(tmp_path: Path) -> None:
    """The process `central serve` runs: start line, a link, SIGTERM -> going away, exit 0."""
    secret_file = tmp_path / "secret"
    code = (
        "import sys; from pathlib import Path\n"
        "from provisioning.central.rollout import step\n"
        "from provisioning.central.server import run_with\n"
        "from provisioning.central.store import open_store\n"
        f"store = open_store(sys.argv[3], **{CHEAP!r})\n"
        "Path(sys.argv[2]).write_text(store.add_box('box-1', 'b', []))\n"
        "sys.exit(run_with(store, step, repo_dir=Path(sys.argv[1]),"
        " host='127.0.0.1', port=0, tick_s=0.2))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(plain_repo(tmp_path)), str(secret_file),
         f"sqlite:///{tmp_path}/central/fleet.db"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"central listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        secret = secret_file.read_text()
        close_code = asyncio.run(_link_then_sigterm(match.group(1), secret, proc))
        assert close_code == 1001
        assert proc.wait(timeout=WAIT * 3) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert "'box-1' linked" in log and secret not in log


async def _link_then_sigterm(url: str, secret: str, proc: subprocess.Popen[str]) -> int | None:
    ws_url = url.replace("http://", "ws://") + "/api/v1/link"
    headers = {"Authorization": f"Bearer box-1:{secret}"}
    async with connect(ws_url, additional_headers=headers,
                                                 open_timeout=WAIT) as ws:
        await ws.send(encoded("box-1").decode())
        assert (await recv(ws))["type"] == "assignment"
        proc.send_signal(signal.SIGTERM)
        return await closed_code(ws)


async def test_a_box_that_stops_answering_pings_is_dropped(tmp_path: Path) -> None:
    running = await start_fleet(tmp_path, CentralServerSettings(heartbeat_s=0.3, auth_cache_s=0))
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            running.ws_url, headers=running.auth("minhang-003"), autoping=False
        ) as ws:
            await ws.send_str(encoded("minhang-003").decode())
            kinds: list[WSMsgType] = []
            while not ws.closed and len(kinds) < 20:  # pings arrive, we never answer
                msg = await asyncio.wait_for(ws.receive(), WAIT)
                kinds.append(msg.type)
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    break
        assert WSMsgType.PING in kinds and kinds[-1] != WSMsgType.PING
        for _ in range(int(WAIT / 0.05)):
            if len(running.server.links) == 0:
                break
            await asyncio.sleep(0.05)
        assert len(running.server.links) == 0
    finally:
        await stop_fleet(running)


async def test_a_failing_rollout_tick_is_reported_and_the_next_one_runs(tmp_path: Path) -> None:
    calls: list[float] = []

    def flaky(store: FleetStore, now: float) -> list[tuple[str, str, str]]:
        calls.append(now)
        if len(calls) == 1:
            raise ConnectionError("the fleet database went away")
        return rollout_step(store, now)

    running = await start_fleet(tmp_path, step=flaky, tick_s=3600)  # ticks by hand only
    try:
        assert await running.server.tick() == []
        health = running.server.api
        assert (health.tick_error, health.tick_at) == ("ConnectionError", None)
        running.store.create_rollout(pilot_rollout())
        assert await running.server.tick() == [("pudong-012", "r-2026-12", "b7")]
        assert health.tick_error == "" and health.tick_at is not None
    finally:
        await stop_fleet(running)
