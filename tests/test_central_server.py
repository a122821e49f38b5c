"""Central's HTTP side on a real server (127.0.0.1, port 0): the TUF repository served with
Range requests, a box's real TUF client fetching through it (and resuming a cut download),
the box API's credentials and limits, the operators' fleet view."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import msgspec
import pytest
from multidict import CIMultiDict

from provisioning import manifest as m
from provisioning.central.fleet import Rollout, Stage
from provisioning.central.server_settings import OPERATOR_TOKEN_ENV, CentralServerSettings
from provisioning.central.wire import ENCODER, DayAggregates, DayReport, UpdateReport, WaitStats
from tests.central_helpers import (
    WAIT,
    CuttingProxy,
    Fleet,
    encoded,
    fleet,
    raw_get,
    recv,
    reported,
    start_fleet,
    stop_fleet,
    store_url,
)
from tests.pg_server import pg_server, pg_url
from tests.trust_fixtures import MODEL_BYTES, box, make_central

__all__ = ["fleet", "pg_server", "pg_url", "store_url"]  # the fixtures, imported for pytest

TIMEOUT = aiohttp.ClientTimeout(total=WAIT)


async def get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url, headers=headers) as r:
        return r.status, r.headers.copy(), await r.read()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(
        url, data=body, headers={**headers, "Content-Type": "application/json"}
    ) as r:
        return r.status, await r.json()


# the repository -----------------------------------------------------------------------------
async def test_targets_are_served_whole_and_from_any_byte(fleet: Fleet) -> None:
    path = fleet.server.repo_dir / "targets" / "stt" / "abc123.whisper-base-1.tar"
    data = path.read_bytes()
    url = f"{fleet.url}/repo/targets/stt/abc123.whisper-base-1.tar"
    status, headers, body = await get(url)
    assert (status, body) == (200, data)
    assert headers["Content-Length"] == str(len(data)) and headers["Accept-Ranges"] == "bytes"
    assert "immutable" in headers["Cache-Control"]
    status, headers, body = await get(url, headers={"Range": "bytes=1000-"})
    assert status == 206 and body == data[1000:]
    assert headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    status, headers, _ = await get(url, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    # If-Range with a stale validator: the whole (changed) file, not a spliced range
    status, _, body = await get(url, headers={"Range": "bytes=1000-", "If-Range": '"stale"'})
    assert (status, body) == (200, data)
    etag = (await get(url))[1]["ETag"]  # ... and with the current one, the range
    status, _, body = await get(url, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert (status, body) == (206, data[1000:])


async def test_metadata_that_changes_under_its_name_is_never_cached(fleet: Fleet) -> None:
    status, headers, _ = await get(f"{fleet.url}/repo/metadata/timestamp.json")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    status, headers, _ = await get(f"{fleet.url}/repo/metadata/1.root.json")
    assert status == 200 and "immutable" in headers["Cache-Control"]


async def test_no_listing_no_escape_no_symlink_out(fleet: Fleet, tmp_path: Path) -> None:
    secret = tmp_path / "keys" / "root.pem"
    secret.parent.mkdir()
    secret.write_bytes(b"-----BEGIN PRIVATE KEY----- not for boxes")
    inside = fleet.server.repo_dir / "keys"  # a careless key folder inside the repository
    inside.mkdir()
    (inside / "root.pem").write_bytes(secret.read_bytes())
    (fleet.server.repo_dir / "targets" / "leak.pem").symlink_to(secret)
    port = fleet.server.address[1] if fleet.server.address else 0
    for path in (
        "/repo/targets/",
        "/repo/targets/stt/",
        "/repo/metadata/../../keys/root.pem",
        "/repo/metadata/%2e%2e/%2e%2e/keys/root.pem",
        "/repo/metadata/..%2f..%2fkeys%2froot.pem",
        "/repo/targets/leak.pem",
        "/repo/nothing-here.json",
        "/repo/keys/root.pem",
    ):
        for headers in ("", 'Range: bytes=1-\r\nIf-Range: "x"\r\n'):
            status, _, body = await raw_get(port, path, headers)
            assert status in (403, 404), path
            assert b"PRIVATE" not in body and b"abc123" not in body, path


async def test_the_boxs_tuf_client_fetches_and_verifies_a_bundle_through_central(
    tmp_path: Path,
) -> None:
    central = make_central(tmp_path)
    running = await start_fleet(tmp_path, repo=central.folder)
    try:
        trust = box(tmp_path, central, f"{running.url}/repo")
        fetched = await asyncio.to_thread(trust.fetch_bundle, tmp_path / "slot", {})
    finally:
        await stop_fleet(running)
    names = sorted(c.manifest.name for c in fetched.components)
    assert names == ["config-test-001", "kb-test-001", "whisper-base"]
    for comp in fetched.components:
        assert m.problems(comp.folder, comp.manifest) == []
    assert (tmp_path / "slot" / "whisper-base" / "model.bin").stat().st_size == MODEL_BYTES
    assert trust.status.state == "ok"


async def test_a_download_cut_off_midway_resumes_from_where_it_stopped(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    running = await start_fleet(tmp_path, repo=central.folder)
    assert running.server.address is not None
    proxy = CuttingProxy(running.server.address[1], ".whisper-base-1.tar", 1_000_000)
    try:
        url = await proxy.start()
        trust = box(tmp_path, central, f"{url}/repo")
        with pytest.raises(Exception, match="will resume"):
            await asyncio.to_thread(trust.fetch_bundle, tmp_path / "slot", {})
        again = box(tmp_path, central, f"{url}/repo")
        fetched = await asyncio.to_thread(again.fetch_bundle, tmp_path / "slot", {})
    finally:
        await proxy.stop()
        await stop_fleet(running)
    tar = [(rng, status) for path, rng, status in proxy.requests if path.endswith("base-1.tar")]
    assert len(tar) == 2 and tar[0] == ("", 200)
    resumed_from = int(tar[1][0].removeprefix("bytes=").rstrip("-"))
    assert 500_000 < resumed_from < 1_000_000 and tar[1][1] == 206
    assert "whisper-base" in [c.manifest.name for c in fetched.components]
    model = tmp_path / "slot" / "whisper-base"
    assert m.problems(model, m.read(model)) == []


async def test_the_repository_can_require_a_box_credential(tmp_path: Path) -> None:
    running = await start_fleet(
        tmp_path, CentralServerSettings(repo_requires_box_credential=True, auth_cache_s=0)
    )
    try:
        url = f"{running.url}/repo/metadata/timestamp.json"
        assert (await get(url))[0] == 401
        assert (await get(url, headers=running.auth("minhang-003")))[0] == 200
    finally:
        await stop_fleet(running)


# the box API --------------------------------------------------------------------------------
async def test_a_report_is_recorded_and_answered_with_the_boxs_assignment(fleet: Fleet) -> None:
    fleet.store.create_rollout(
        Rollout(rollout_id="r1", bundle="b7", stages=[Stage(name="pilot", tag="pilot")],
                soak_s=0, max_failures=0, created_at=1.0)
    )
    await fleet.server.tick()  # the pilot box is targeted
    update = UpdateReport(rollout="r1", bundle="b7", step="downloading")
    status, body = await post(
        f"{fleet.url}/api/v1/report",
        encoded("pudong-012", service_version="0.2.0", update=update),
        fleet.auth("pudong-012"),
    )
    assert status == 200 and body == {"type": "assignment", "rollout": "r1", "bundle": "b7"}
    status, body = await post(
        f"{fleet.url}/api/v1/report", encoded("minhang-003"), fleet.auth("minhang-003")
    )
    assert body == {"type": "assignment", "rollout": "", "bundle": ""}
    boxes = {b.box_id: b for b in fleet.store.boxes()}
    assert boxes["pudong-012"].service_version == "0.2.0"
    assert boxes["pudong-012"].last_contact is not None
    assert [r.step for r in fleet.store.rollout_boxes("r1")] == ["downloading"]


@pytest.mark.parametrize(
    ("who", "secret", "why"),
    [
        ("pudong-012", "wrong-secret", "wrong secret"),
        ("no-such-box", "x" * 43, "unknown box"),
        ("jingan-001", None, "disabled box"),
        ("", "", "no credential"),
    ],
)
async def test_refused_credentials_get_a_json_401_and_nothing_is_recorded(
    fleet: Fleet, who: str, secret: str | None, why: str
) -> None:
    fleet.store.set_enabled("jingan-001", False)
    headers = fleet.auth(who, secret) if who else {}
    for path in ("report", "day"):
        status, body = await post(f"{fleet.url}/api/v1/{path}", encoded(who or "x"), headers)
        assert status == 401, why
        assert body["error"] == "unauthorized" and body["detail"], why
    assert reported(fleet.store) == []


async def test_a_box_cannot_report_for_another(fleet: Fleet) -> None:
    status, body = await post(
        f"{fleet.url}/api/v1/report", encoded("minhang-003"), fleet.auth("pudong-012")
    )
    assert (status, body["error"]) == (403, "box_id_mismatch")
    day = DayReport(box_id="minhang-003", day="2026-12-06", aggregates=DayAggregates())
    status, body = await post(f"{fleet.url}/api/v1/day", ENCODER.encode(day), fleet.auth("pudong-012"))
    assert (status, body["error"]) == (403, "box_id_mismatch")
    assert reported(fleet.store) == [] and fleet.store.days() == []


async def test_garbage_and_oversized_bodies_are_refused_without_harm(fleet: Fleet) -> None:
    auth = fleet.auth("minhang-003")
    url = f"{fleet.url}/api/v1/report"
    for garbage in (b"", b"{not json", b'{"box_id": 5}', b'{"type": "day", "box_id": "minhang-003"}',
                    b"\xff\xfe" * 100):
        status, body = await post(url, garbage, auth)
        assert status == 400 and body["error"] == "bad_request", garbage
        assert "not a box report" in str(body["detail"])
    limit = fleet.server.settings.max_report_bytes
    big = encoded("minhang-003", bundle="x" * limit)
    status, body = await post(url, big, auth)
    assert (status, body["error"]) == (413, "too_large")

    async def chunked() -> object:  # no Content-Length: refused as the bytes arrive
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(
        url, data=chunked(), headers=auth
    ) as r:
        assert r.status == 413
    assert reported(fleet.store) == []
    # the server is unharmed: a good report still goes through
    status, _ = await post(url, encoded("minhang-003"), auth)
    assert status == 200 and reported(fleet.store) == ["minhang-003"]


async def test_a_day_report_is_kept_once_per_day_and_a_bad_day_is_refused(fleet: Fleet) -> None:
    auth = fleet.auth("minhang-003")
    url = f"{fleet.url}/api/v1/day"
    agg = DayAggregates(tickets=120, within_target=0.9,
                        waits={"cash": {"normal": WaitStats(served=100, p50_s=240.0)}})
    for tickets in (120, 125):  # resent after a change: the second copy replaces the first
        agg.tickets = tickets
        day = DayReport(box_id="minhang-003", day="2026-12-06", aggregates=agg)
        assert await post(url, ENCODER.encode(day), auth) == (200, {"ok": True})
    assert [(b, d, a.tickets) for b, d, a in fleet.store.days()] == [
        ("minhang-003", "2026-12-06", 125)
    ]
    for bad in ("2026-13-01", "06/12/2026", "2026-12-6"):
        day = DayReport(box_id="minhang-003", day=bad, aggregates=agg)
        status, body = await post(url, ENCODER.encode(day), auth)
        assert (status, body["error"]) == (400, "bad_request"), bad
    # a box that would send a customer field is refused: the aggregates have no place for it
    leaky = msgspec.json.decode(ENCODER.encode(day))
    leaky["day"] = "2026-12-05"
    leaky["aggregates"]["transcript"] = "我想取五万块"
    status, body = await post(url, msgspec.json.encode(leaky), auth)
    assert (status, body["error"]) == (400, "bad_request") and "transcript" in str(body["detail"])
    assert [d for _, d, _ in fleet.store.days()] == ["2026-12-06"]
    big = fleet.server.settings.max_day_bytes + 1
    status, body = await post(url, b" " * big, auth)
    assert (status, body["error"]) == (413, "too_large")


# operators ------------------------------------------------------------------------------------
async def test_the_fleet_view_needs_the_operator_token(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"{fleet.url}/api/v1/fleet"
    monkeypatch.delenv(OPERATOR_TOKEN_ENV, raising=False)
    status, _, body = await get(url)
    assert status == 503 and b"no_operator_token" in body
    monkeypatch.setenv(OPERATOR_TOKEN_ENV, "ops-token-" + os.urandom(8).hex())
    assert (await get(url, headers={"Authorization": "Bearer nope"}))[0] == 401
    assert (await get(url, headers=fleet.auth("minhang-003")))[0] == 401  # a box is no operator
    fleet.store.create_rollout(
        Rollout(rollout_id="r1", bundle="b7", stages=[Stage(name="all", share=1.0)], soak_s=0,
                    max_failures=0)
    )
    await fleet.server.tick()
    token = os.environ[OPERATOR_TOKEN_ENV]
    async with fleet.link("pudong-012") as ws:
        await ws.send(encoded("pudong-012").decode())
        assert (await recv(ws))["type"] == "assignment"  # linked, and the link registered
        status, _, body = await get(url, headers={"Authorization": f"Bearer {token}"})
    view = msgspec.json.decode(body)
    assert status == 200
    online = {b["box_id"]: b["online_since"] for b in view["boxes"]}
    assert online["pudong-012"] is not None and online["minhang-003"] is None
    assert view["rollouts"][0]["rollout_id"] == "r1"
    assert sorted(b["box_id"] for b in view["rollouts"][0]["boxes"]) == sorted(online)
    assert not any("hash" in key or "secret" in key for key in str(view).lower().split("'"))


async def test_health_says_how_many_boxes_are_linked(fleet: Fleet) -> None:
    async with fleet.link("minhang-003") as ws:
        await ws.send(encoded("minhang-003").decode())
        await recv(ws)
        status, _, body = await get(f"{fleet.url}/health")
    health = msgspec.json.decode(body)
    assert status == 200 and health["status"] == "ok" and health["links"] == 1
