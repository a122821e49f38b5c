"""Issue 16: staff login and roles, rate limits, secrets kept out of logs and messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from devices.protocol import PROTOCOL_VERSION
from devices.staff_login import LoginError, StaffSession, confirm, login, logout
from edge import staff
from edge.config import load_config
from edge.roles import PERMISSIONS, Staff, authorize
from edge.security import startup_problems
from edge.service import Service
from edge.store import Store
from tests.conftest import REPO, Running, make_config
from tests.wsclient import CREDENTIALS, TIMEOUT, command, recv_json, recv_until
from tests.wsclient import login as ws_login

TELLER = Staff("teller-1", "teller", "c1")
MANAGER = Staff("manager", "manager", "c4", confirmed_at=1000.0)
MANAGER_ACTIONS = sorted(a for a, r in PERMISSIONS.items() if "teller" not in r.roles
                         and "manager" in r.roles)


# ------------------------------------------------------------------ the permission table


def test_teller_acts_for_their_own_counter_only() -> None:
    assert authorize(TELLER, "call_next", (None, None), 0, 300) is None
    assert authorize(TELLER, "call_next", ("c1", None), 0, 300) is None
    denial = authorize(TELLER, "call_next", ("c4", None), 0, 300)
    assert denial is not None and denial.code == "not_your_counter"
    # a ticket at another counter, or at none, is not the teller's either
    assert authorize(TELLER, "transfer", (None, "c2"), 0, 300) is not None
    assert authorize(TELLER, "transfer", (None, ""), 0, 300) is not None
    assert authorize(TELLER, "transfer", (None, "c1"), 0, 300) is None


def test_manager_commands_are_denied_to_tellers_and_overrides_need_a_fresh_password() -> None:
    assert MANAGER_ACTIONS  # walk_in, ack_alert, set_class, cancel, report, appointments
    for action in MANAGER_ACTIONS:
        assert authorize(TELLER, action, (None, None), 0, 300) is not None, action
    assert authorize(MANAGER, "call_next", ("c2", None), 1100, 300) is None
    assert authorize(MANAGER, "set_class", (None, "c2"), 1100, 300) is None
    stale = authorize(MANAGER, "set_class", (None, "c2"), 1400.5, 300)
    assert stale is not None and stale.code == "confirm_required"


def test_auditor_reads_the_audit_log_and_nothing_else() -> None:
    auditor = Staff("auditor", "auditor", None)
    assert authorize(auditor, "audit_log", (None, None), 0, 300) is None
    assert all(authorize(auditor, a, (None, None), 0, 300) is not None
               for a in PERMISSIONS if a != "audit_log")
    assert authorize(TELLER, "audit_log", (None, None), 0, 300) is not None


def test_session_book_expires_and_revokes_tokens() -> None:
    now = [100.0]
    book = staff.SessionBook(ttl_s=60.0, clock=lambda: now[0])
    token, session = book.issue("teller-1", "teller", "c1")
    assert book.check(token) == session and session.digest != token
    assert token not in repr(session) and session.digest not in repr(session)
    now[0] = 161.0
    assert book.check(token) is None
    token, session = book.issue("teller-1", "teller", "c1")
    book.revoke(session.digest)
    assert book.check(token) is None


# ------------------------------------------------------------------ against the running service


async def _denied_audits(running: Running) -> list[dict[str, Any]]:
    assert running.service.store is not None
    rows = await running.service.store.audit_rows(500)
    return [r for r in rows if r["action"].startswith("denied:")]


async def test_console_upgrade_without_a_valid_token_gets_401(running: Running) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        with pytest.raises(InvalidStatus) as err:
            await connect(f"{running.url}/console", open_timeout=TIMEOUT,
                          additional_headers=headers)
        assert err.value.response.status_code == 401
    assert running.service.server is not None
    assert running.service.server.refusals()["refused"]["unauthorized"] == 2


async def test_wrong_password_expired_and_logged_out_tokens_are_refused(running: Running) -> None:
    with pytest.raises(LoginError) as err:
        await login(running.url, "teller-1", "wrong-password-123", timeout=TIMEOUT)
    assert err.value.code == "bad_login"
    gate = running.service.staff
    assert gate is not None
    # expired: the same token after its shift ends
    session = await login(running.url, "teller-1", "demo-teller-1", timeout=TIMEOUT)
    live = gate.book.check(session.token)
    assert live is not None
    gate.book._live[live.digest] = replace(live, expires_at=0.0)
    with pytest.raises(InvalidStatus):
        await connect(f"{running.url}/console", additional_headers=session.header())
    # logout: the open console is told and closed, and the token is dead for good
    session = await login(running.url, "teller-1", "demo-teller-1", timeout=TIMEOUT)
    ws = await _console(running.url, session)
    assert await logout(running.url, session, timeout=TIMEOUT)
    assert (await recv_until(ws, "bye"))["reason"] == "logged out"
    with pytest.raises(InvalidStatus):
        await connect(f"{running.url}/console", additional_headers=session.header())
    assert not await logout(running.url, session, timeout=TIMEOUT)


async def test_a_token_cannot_log_in_as_someone_else(running: Running) -> None:
    session = await login(running.url, "teller-1", "demo-teller-1", timeout=TIMEOUT)
    async with connect(f"{running.url}/console", additional_headers=session.header()) as ws:
        await ws.send(json.dumps({"type": "hello", "device_id": "manager", "role": "console",
                                  "credential": "", "protocol": PROTOCOL_VERSION}))
        reply = await recv_json(ws)
        assert reply["type"] == "error" and reply["code"] == "wrong_user"


async def test_teller_cannot_call_to_another_counter_and_the_denial_is_audited(
        running: Running) -> None:
    kiosk = await ws_login(running.url, "kiosk-1")
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我想换点美元"}))
    await recv_until(kiosk, "ticket")
    teller = await ws_login(running.url, "teller-1")
    reply = await command(teller, "x1", "call_next", counter="c4")
    assert reply["type"] == "error" and reply["code"] == "not_your_counter"
    assert running.service.desk is not None
    assert running.service.desk.engine.counter_ticket("c4") is None  # nobody was called to c4
    denied = await _denied_audits(running)
    assert [(r["actor"], r["action"]) for r in denied] == [("teller-1", "denied:call_next")]
    assert json.loads(denied[0]["detail"])["counter"] == "c4"
    ok = await command(teller, "x2", "call_next")
    assert ok["type"] == "result" and ok["ticket"]["counter"] == "c1"


async def test_teller_trying_every_manager_command_gets_nothing(running: Running) -> None:
    teller = await ws_login(running.url, "teller-1")
    fields = {"service": "fx", "priority_class": "vip", "alert": "a1", "ticket": "B001",
              "counter": "c1"}
    for i, action in enumerate(MANAGER_ACTIONS):
        reply = await command(teller, f"m{i}", action, **fields)
        assert reply["type"] == "error" and reply["code"] == "forbidden", (action, reply)
    assert len(await _denied_audits(running)) == len(MANAGER_ACTIONS)


async def _console(url: str, session: StaffSession) -> ClientConnection:
    ws = await connect(f"{url}/console", open_timeout=TIMEOUT,
                       additional_headers=session.header())
    await ws.send(json.dumps({"type": "hello", "device_id": session.user, "role": "console",
                              "credential": "", "protocol": PROTOCOL_VERSION}))
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def test_override_needs_the_password_again_after_the_window(running: Running) -> None:
    session = await login(running.url, "manager", "demo-manager", timeout=TIMEOUT)
    manager_ws = await _console(running.url, session)
    kiosk = await ws_login(running.url, "kiosk-1")
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": "我想换点美元"}))
    ticket = (await recv_until(kiosk, "ticket"))["number"]
    gate = running.service.staff
    assert gate is not None
    live = gate.book.check(session.token)
    assert live is not None
    gate.book._live[live.digest] = replace(live, confirmed_at=0.0)  # the login was long ago
    reply = await command(manager_ws, "o1", "set_class", ticket=ticket, priority_class="vip")
    assert reply["type"] == "error" and reply["code"] == "confirm_required"
    assert not await confirm(running.url, session, "wrong-password-123", timeout=TIMEOUT)
    reply = await command(manager_ws, "o2", "set_class", ticket=ticket, priority_class="vip")
    assert reply["type"] == "error" and reply["code"] == "confirm_required"
    assert await confirm(running.url, session, "demo-manager", timeout=TIMEOUT)
    reply = await command(manager_ws, "o3", "set_class", ticket=ticket, priority_class="vip")
    assert reply["type"] == "result", reply


async def test_auditor_reads_the_log_of_denials(running: Running) -> None:
    auditor = await ws_login(running.url, "auditor")
    denied = await command(auditor, "a0", "call_next", counter="c1")
    assert denied["type"] == "error" and denied["code"] == "forbidden"
    reply = await command(auditor, "a1", "audit_log")
    assert reply["type"] == "result"
    actions = [r["action"] for r in reply["data"]["rows"]]
    assert "denied:call_next" in actions and "login" in actions


async def test_no_secret_reaches_logs_or_messages(running: Running,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    session = await login(running.url, "manager", "demo-manager", timeout=TIMEOUT)
    async with connect(f"{running.url}/console", additional_headers=session.header()) as ws:
        await ws.send(json.dumps({"type": "hello", "device_id": "manager", "role": "console",
                                  "credential": session.token, "protocol": PROTOCOL_VERSION}))
        seen.append(str(await ws.recv()))  # welcome
        seen.append(str(await asyncio.wait_for(ws.recv(), TIMEOUT)))  # describe
        seen.append(str(await asyncio.wait_for(ws.recv(), TIMEOUT)))  # the snapshot, health
        await ws.send(json.dumps({"type": "command", "id": "s", "action": "snapshot"}))
        seen.append(str(await asyncio.wait_for(ws.recv(), TIMEOUT)))
    bad = await connect(f"{running.url}/kiosk")
    await bad.send(json.dumps({"type": "hello", "device_id": "kiosk-1", "role": "kiosk",
                               "credential": "guess-guess-guess", "protocol": PROTOCOL_VERSION}))
    seen.append(str(await recv_json(bad)))
    assert running.service.store is not None
    hashes = [r["hash"] for r in await running.service.store.call(
        lambda db: list(db.table("staff").rows))]
    secrets_ = [session.token, "guess-guess-guess", *hashes,
                *(c for _, c in CREDENTIALS.values())]
    metrics = running.service.metrics.render().decode()
    text = caplog.text + "\n".join(seen) + metrics + msgspec.json.encode(running.service.health()).decode()
    for secret in secrets_:
        assert secret not in text
    assert "[redacted]" in caplog.text  # the handshake's Authorization header was logged blank


# ------------------------------------------------------------------ rate limits


async def test_flooding_kiosk_is_told_then_disconnected_while_another_is_served(
        tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"server.control_per_s": 50.0,
                                      "server.control_burst": 20.0,
                                      "server.abuse_dropped": 40})
    service = Service(config, demo=True)
    host, port = await service.start()
    url = f"ws://{host}:{port}"
    try:
        flood = await ws_login(url, "kiosk-1")
        other = await ws_login(url, "kiosk-2")
        noise = json.dumps({"type": "context", "id": "n"})
        codes: list[str] = []

        async def read_flood() -> None:
            with pytest.raises(ConnectionClosed):
                while True:
                    msg = await recv_json(flood)
                    if msg["type"] == "error":
                        codes.append(msg["code"])

        reader = asyncio.create_task(read_flood())

        async def other_turn() -> float:
            await asyncio.sleep(0.05)  # the flood is under way
            t0 = time.perf_counter()
            await other.send(json.dumps({"type": "text", "id": "q", "text": "我想换点美元"}))
            assert (await recv_until(other, "ticket"))["service"] == "fx"
            return time.perf_counter() - t0

        served = asyncio.create_task(other_turn())
        with contextlib.suppress(ConnectionClosed):
            for _ in range(100_000):
                await flood.send(noise)
                if reader.done():
                    break
        await asyncio.wait_for(reader, TIMEOUT)
        assert "rate_limited" in codes
        assert flood.close_code == 1008
        assert service.server is not None and service.server.stats["abusive"] == 1
        # a generous bound (the figure is bench/results/security.json's): not starved
        assert await asyncio.wait_for(served, TIMEOUT) < 5.0
    finally:
        await service.stop()


# ------------------------------------------------------------------ start-up refusals and CLI


def test_service_refuses_readable_secrets_demo_credentials_and_plain_lan(tmp_path: Path) -> None:
    path = tmp_path / "branch.toml"
    path.write_text('[[devices]]\nid = "k"\nrole = "kiosk"\ncredential = "demo-kiosk-1"\n'
                    '[server]\nhost = "0.0.0.0"\n', encoding="utf-8")
    os.chmod(path, 0o644)
    problems = startup_problems(load_config(path), path, demo=False)
    assert any(f"chmod 600 {path}" in p for p in problems)
    assert any("demo credential" in p for p in problems)
    assert any("without TLS" in p for p in problems)
    assert startup_problems(load_config(path), path, demo=True) == []
    assert startup_problems(load_config(None), None, demo=False) == []  # built-in, loopback
    lan = load_config(None, {"server.host": "10.0.0.5", "server.tls_cert": "c.pem",
                             "server.tls_key": "k.pem"})
    assert any("demo credential" in p for p in startup_problems(lan, None, demo=False))
    path.write_text('[[devices]]\nid = "k"\nrole = "kiosk"\ncredential = "a-long-own-secret"\n',
                    encoding="utf-8")
    os.chmod(path, 0o600)
    assert startup_problems(load_config(path), path, demo=False) == []


async def test_staff_accounts_hash_passwords_and_disable_ends_sessions(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "branch.db")
    ph = staff.hasher(1, 1024, 1)
    try:
        await store.call(staff.add_account, ph, "wang", "a-good-password", "teller", "c2")
        with pytest.raises(staff.StaffError):
            await store.call(staff.add_account, ph, "li", "short", "teller", "c1")
        with pytest.raises(staff.StaffError):
            await store.call(staff.add_account, ph, "li", "a-good-password", "teller", None)
        row = await store.call(staff.account, "wang")
        assert row is not None and row["hash"].startswith("$argon2id$")
        assert "a-good-password" not in row["hash"]
        assert staff.check_password(ph, row, "a-good-password")
        assert not staff.check_password(ph, row, "a-bad-password")
        book = staff.SessionBook(3600.0)
        _, session = book.issue("wang", "teller", "c2")
        await store.call(staff.save_session, session)
        assert [s.user for s in await store.call(staff.live_sessions, 0.0)] == ["wang"]
        await store.call(staff.disable, "wang")
        assert await store.call(staff.live_sessions, 0.0) == []
        assert not staff.check_password(ph, await store.call(staff.account, "wang"),
                                        "a-good-password")
        assert [r["user"] for r in await store.call(staff.accounts)] == ["wang"]
        assert "hash" not in (await store.call(staff.accounts))[0]
    finally:
        await store.close()


async def test_disabling_an_account_from_another_process_ends_its_live_console(
        tmp_path: Path) -> None:
    """`branch-teller staff disable` runs as its own process on the same database: the
    running service closes that user's console within the sync interval, not at restart."""
    config = make_config(tmp_path, **{"staff.sync_interval_s": 0.2})
    async with Service.open(config, demo=True) as service:
        assert service.address is not None and service.staff is not None
        host, port = service.address
        url = f"ws://{host}:{port}"
        session = await login(url, "teller-1", "demo-teller-1", timeout=TIMEOUT)
        other = await login(url, "teller-2", "demo-teller-2", timeout=TIMEOUT)
        ws, ws2 = await _console(url, session), await _console(url, other)
        cli_store = await Store.open(Path(config.data_dir) / "branch.db")  # the CLI's own
        try:
            await cli_store.call(staff.disable, "teller-1")
        finally:
            await cli_store.close()
        bye = await asyncio.wait_for(recv_until(ws, "bye"), 5.0)
        assert bye["reason"] == "session ended by an administrator"
        with pytest.raises(InvalidStatus):
            await connect(f"{url}/console", additional_headers=session.header())
        assert service.staff.book.check(other.token) is not None  # others keep working
        reply = await command(ws2, "r1", "call_next")  # still authorised (nobody waits)
        assert reply.get("code") == "nothing_waiting", reply
        assert service.store is not None
        ended = [r for r in await service.store.audit_rows(100) if r["action"] == "session_ended"]
        assert [r["actor"] for r in ended] == ["teller-1"]
        await ws2.close()


# ------------------------------------------------------------------ TLS with a branch CA


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A branch CA and the box's certificate, made by the script the README documents."""
    import subprocess

    subprocess.run([str(REPO / "scripts" / "branch_ca.sh"), str(tmp_path / "pki"), "box-1"],
                   check=True, capture_output=True, timeout=60)
    return tmp_path / "pki"


async def test_tls_with_a_pinned_branch_ca_and_no_downgrade(tmp_path: Path, pki: Path) -> None:
    import ssl
    import warnings

    from edge.security import client_tls

    config = make_config(tmp_path, **{"server.tls_cert": str(pki / "box.pem"),
                                      "server.tls_key": str(pki / "box.key")})
    service = Service(config, demo=True)
    host, port = await service.start()
    url = f"wss://{host}:{port}"
    pinned = client_tls(str(pki / "branch-ca.pem"))
    try:
        session = await login(url, "teller-1", "demo-teller-1", tls=pinned, timeout=TIMEOUT)
        async with connect(f"{url}/console", ssl=pinned, open_timeout=TIMEOUT,
                           additional_headers=session.header()) as ws:
            await ws.send(json.dumps({"type": "hello", "device_id": "teller-1",
                                      "role": "console", "credential": "",
                                      "protocol": PROTOCOL_VERSION}))
            welcome = await recv_json(ws)
            assert welcome["type"] == "welcome" and welcome["counter"] == "c1"
            assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        # the system's trust store does not know the branch CA: no silent fallback
        with pytest.raises(ssl.SSLCertVerificationError):
            await login(url, "teller-1", "demo-teller-1", tls=ssl.create_default_context(),
                        timeout=TIMEOUT)
        # a client offering TLS 1.1 at most is refused
        old = client_tls(str(pki / "branch-ca.pem"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError):
            await login(url, "teller-1", "demo-teller-1", tls=old, timeout=TIMEOUT)
        # plain ws to the TLS port gets no websocket
        with pytest.raises((InvalidHandshake, OSError)):
            await connect(f"ws://{host}:{port}/kiosk", open_timeout=TIMEOUT)
    finally:
        await service.stop()
