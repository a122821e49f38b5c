"""Device pairing: one-time codes (hashed, expiring, single use), the `GET /pair` exchange
on the real service, the paired credential at hello, and revocation from the CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from edge import pairing
from edge.device_cli import run_device
from edge.pairing_gate import CODE_HEADER
from edge.service import Service
from tests.conftest import make_config
from tests.wsclient import command, login, recv_json


def db() -> sqlite_utils.Database:
    return sqlite_utils.Database(sqlite3.connect(":memory:", isolation_level=None))


def test_a_code_is_stored_hashed_and_works_once() -> None:
    d = db()
    code, expires = pairing.create_code(d, "kiosk-1", "kiosk", 600.0, "cli", now=1000.0)
    assert expires == 1600.0 and len(pairing.normalize(code)) == pairing.CODE_CHARS
    stored = [str(v) for row in d.conn.execute("SELECT * FROM device_pairings") for v in row]
    assert pairing.normalize(code) not in "".join(stored) and code not in "".join(stored)
    got = pairing.redeem(d, code.lower().replace("-", " "), now=1001.0)  # as typed
    assert isinstance(got, pairing.Paired) and got.device == "kiosk-1"
    assert got.credential not in repr(got)
    assert pairing.redeem(d, code, now=1002.0) == "used"
    table = pairing.token_table(d)
    assert table == {pairing.digest(got.credential): ("kiosk-1", False)}


def test_codes_expire_and_a_newer_code_replaces_an_unused_one() -> None:
    d = db()
    old, _ = pairing.create_code(d, "kiosk-1", "kiosk", 60.0, "cli", now=0.0)
    assert pairing.redeem(d, old, now=60.0) == "expired"
    first, _ = pairing.create_code(d, "kiosk-1", "kiosk", 60.0, "cli", now=100.0)
    second, _ = pairing.create_code(d, "kiosk-1", "kiosk", 60.0, "cli", now=101.0)
    assert pairing.redeem(d, first, now=102.0) == "used"
    assert isinstance(pairing.redeem(d, second, now=102.0), pairing.Paired)
    assert pairing.redeem(d, "ABCD-EFGH", now=102.0) == "unknown"


def test_revoke_ends_credentials_and_waiting_codes() -> None:
    d = db()
    code, _ = pairing.create_code(d, "kiosk-1", "kiosk", 60.0, "cli", now=0.0)
    got = pairing.redeem(d, code, now=1.0)
    assert isinstance(got, pairing.Paired)
    waiting, _ = pairing.create_code(d, "kiosk-1", "kiosk", 60.0, "cli", now=2.0)
    assert pairing.revoke(d, "kiosk-1", now=3.0) == 1
    assert pairing.token_table(d)[pairing.digest(got.credential)] == ("kiosk-1", True)
    assert pairing.redeem(d, waiting, now=4.0) == "used"


def _get_pair(base: str, code: str | None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{base}/pair", headers={CODE_HEADER: code} if code else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _cli(config: Any, *argv: str) -> None:
    args = argparse.Namespace(action=argv[0], device=argv[1], url=None, ttl=None, json=True)
    assert run_device(config, args) == 0


async def test_pair_over_http_then_sign_in_then_revoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(
        tmp_path, **{"pairing.refresh_s": 0.2, "jobs.tick_s": 0.1, "pairing.exchange_burst": 4.0}
    )
    async with Service.open(config) as service:
        assert service.address is not None
        host, port = service.address
        url, base = f"ws://{host}:{port}", f"http://{host}:{port}"
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _cli, config, "pair", "kiosk-1")
        printed = json.loads(capsys.readouterr().out)
        assert printed["link"].endswith(f"/k/#pair={printed['code']}")
        status, body = await loop.run_in_executor(None, _get_pair, base, printed["code"])
        assert status == 200 and body["device"] == "kiosk-1" and body["role"] == "kiosk", body
        credential = body["credential"]
        assert (await loop.run_in_executor(None, _get_pair, base, printed["code"]))[1] == {
            "error": "used_code",
            "message": pairing_message("used"),
        }
        ws = await login(url, "kiosk-1", credential)  # the paired credential signs in
        # ... for its own device only
        with pytest.raises(AssertionError, match="bad_credential"):
            await login(url, "kiosk-2", credential)
        # revoked from the CLI (another process's write): the service closes the device
        await loop.run_in_executor(None, _cli, config, "revoke", "kiosk-1")
        async with asyncio.timeout(10):
            while (msg := await recv_json(ws))["type"] != "error":
                pass
        assert msg["code"] == "credential_revoked" and msg["fatal"], msg
        with pytest.raises(AssertionError, match="credential_revoked"):
            await login(url, "kiosk-1", credential)
        await login(url, "kiosk-1")  # the branch.toml credential is the admin's own business
        # the exchange is rate limited per address: guessing codes costs time
        codes = [await loop.run_in_executor(None, _get_pair, base, "WXYZ-2345") for _ in range(6)]
        assert codes[0][0] == 404 and codes[-1][0] == 429, codes
        assert service.pairing is not None and service.pairing.counts["throttled"] >= 1


def pairing_message(why: str) -> str:
    from edge.pairing_gate import REFUSED

    return REFUSED[why][3]


async def test_a_manager_pairs_a_display_from_the_console(tmp_path: Path) -> None:
    async with Service.open(make_config(tmp_path), demo=True) as service:
        assert service.address is not None
        host, port = service.address
        url = f"ws://{host}:{port}"
        manager = await login(url, "manager")
        result = await command(manager, "p1", "pair_device", device="display-1")
        assert result["type"] == "result", result
        code = re.search(r"pairing code for display-1: (\S+)", result["text"])
        assert code and f"/d/#pair={code.group(1)}" in result["text"]
        got = await asyncio.get_running_loop().run_in_executor(
            None, _get_pair, f"http://{host}:{port}", code.group(1))
        assert got[0] == 200 and got[1]["device"] == "display-1"
        unknown = await command(manager, "p2", "pair_device", device="kiosk-99")
        assert unknown["type"] == "error" and unknown["code"] == "unknown_device"
        teller = await login(url, "teller-1")
        denied = await command(teller, "p3", "pair_device", device="kiosk-1")
        assert denied["type"] == "error" and denied["code"] == "forbidden", denied
        await manager.close()
        await teller.close()
