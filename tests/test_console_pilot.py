"""The console app driven from the keyboard (Textual Pilot) against a real running service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Static
from websockets.asyncio.client import ClientConnection

from devices.console_messages import Result
from devices.result_payloads import GuidanceData, SearchData
from devices.session_messages import Error
from tests.conftest import Running
from tests.wsclient import login, recv_until
from ui.app import ConsoleApp
from ui.dialogs import ChoiceScreen, ConfirmScreen
from ui.side_panes import AlertsPane

TIMEOUT = 10.0
CREDENTIALS = {"manager": "demo-manager", "teller-1": "demo-teller-1",
               "teller-2": "demo-teller-2"}


async def until(pilot: Pilot[None], cond: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Let the app run until `cond` holds; fail the test after `timeout`."""
    async with asyncio.timeout(timeout):
        while not cond():
            await pilot.pause(0.05)


@asynccontextmanager
async def console(running: Running, user: str = "teller-1",
                  size: tuple[int, int] = (100, 30)) -> AsyncIterator[tuple[ConsoleApp, Pilot[None]]]:
    app = ConsoleApp(running.url, user, CREDENTIALS[user], command_timeout_s=TIMEOUT)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.client.online and bool(app.counters))
        yield app, pilot


async def issue(running: Running, text: str = "I'd like to open a new bank account",
                kiosk_id: str = "kiosk-2") -> tuple[ClientConnection, dict[str, Any]]:
    kiosk = await login(running.url, kiosk_id)
    await kiosk.send(json.dumps({"type": "text", "id": "t1", "text": text}))
    ticket = await recv_until(kiosk, "ticket", id="t1")
    await recv_until(kiosk, "reply", id="t1")
    return kiosk, ticket


def rows(app: ConsoleApp, table_id: str) -> list[list[str]]:
    table: DataTable[str] = app.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def answered(pilot: Pilot[None], app: ConsoleApp, before: int) -> Result | Error:
    await until(pilot, lambda: app.replied > before)
    reply = app.replies[-1]
    assert isinstance(reply, Result | Error)
    return reply


async def audit_actions(running: Running, sessions: bool = False) -> list[str]:
    """Audited actions, newest first (logins and logouts only with `sessions`)."""
    assert running.service.store is not None
    rows = await running.service.store.audit_rows()
    return [r["action"] for r in rows
            if sessions or r["action"] not in ("login", "logout")]


async def test_call_next_recall_and_done_from_the_keyboard(running: Running) -> None:
    kiosk, ticket = await issue(running)
    async with console(running) as (app, pilot):
        number = ticket["number"]
        await until(pilot, lambda: [number] == [r[0] for r in rows(app, "waiting")])
        n = app.replied
        await pilot.press("n")
        called = await answered(pilot, app, n)
        assert isinstance(called, Result) and called.ticket is not None
        assert called.ticket.number == number
        await until(pilot, lambda: rows(app, "counters")[0][1:] == ["called", number])
        assert rows(app, "waiting") == []
        assert "call_next" in str(app.query_one("#last", Static).render())

        n = app.replied
        await pilot.press("r")
        recalled = await answered(pilot, app, n)
        assert isinstance(recalled, Result) and recalled.action == "recall"

        n = app.replied
        await pilot.press("d")
        done = await answered(pilot, app, n)
        assert isinstance(done, Result) and done.ticket and done.ticket.state == "done"
        await until(pilot, lambda: rows(app, "counters")[0][1:] == ["idle", "-"])
    assert (await audit_actions(running))[:3] == ["complete", "recall", "call_next"]
    await kiosk.close()


async def test_no_show_from_the_keyboard(running: Running) -> None:
    kiosk, ticket = await issue(running)
    async with console(running, "teller-2") as (app, pilot):
        await until(pilot, lambda: len(rows(app, "waiting")) == 1)
        n = app.replied
        await pilot.press("n")
        await answered(pilot, app, n)
        n = app.replied
        await pilot.press("x")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and reply.action == "no_show", reply
        assert reply.ticket and reply.ticket.number == ticket["number"]
    assert (await audit_actions(running))[0] == "no_show"
    await kiosk.close()


async def test_service_errors_are_shown_not_swallowed(running: Running) -> None:
    async with console(running) as (app, pilot):
        n = app.replied
        await pilot.press("n")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Error) and reply.code == "nothing_waiting"
        await pilot.pause()
        assert "nothing_waiting" in str(app.query_one("#last", Static).render())
        assert any("nothing_waiting" in str(note.message) for note in app._notifications)


async def test_transfer_the_called_customer_to_another_service(running: Running) -> None:
    kiosk, ticket = await issue(running)
    async with console(running) as (app, pilot):
        await until(pilot, lambda: len(rows(app, "waiting")) == 1)
        n = app.replied
        await pilot.press("n")
        await answered(pilot, app, n)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        options = app.screen.query_one(OptionList)
        options.focus()
        target = next(i for i in range(options.option_count)
                      if options.get_option_at_index(i).id == "fx")
        options.highlighted = 0
        for _ in range(target):
            await pilot.press("down")
        n = app.replied
        await pilot.press("enter")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and reply.action == "transfer", reply
        assert reply.ticket and reply.ticket.service == "fx"
        await until(pilot, lambda: [ticket["number"], "fx"] in [r[:2] for r in
                                                               rows(app, "waiting")])
    assert (await audit_actions(running))[0] == "transfer"
    await kiosk.close()


async def test_priority_class_needs_confirmation(running: Running) -> None:
    kiosk, ticket = await issue(running)
    async with console(running, "manager") as (app, pilot):
        await until(pilot, lambda: len(rows(app, "waiting")) == 1)
        app.query_one("#waiting", DataTable).focus()
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        app.screen.query_one(OptionList).focus()
        await pilot.press("down", "enter")  # normal -> elderly
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # declined: nothing is sent
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not any(isinstance(r, Result) and r.action == "set_class" for r in app.replies)

        app.query_one("#waiting", DataTable).focus()
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        app.screen.query_one(OptionList).focus()
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        n = app.replied
        await pilot.press("y")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and reply.action == "set_class", reply
        await until(pilot, lambda: rows(app, "waiting")[0][:3] ==
                    [ticket["number"], "personal", "elderly"])
    assert (await audit_actions(running))[0] == "set_class"
    await kiosk.close()


async def test_alert_acknowledged_with_second_verification(running: Running) -> None:
    async with console(running, "manager") as (app, pilot):
        kiosk, _ = await issue(running, "我想取五万块钱现金", "kiosk-1")
        await until(pilot, lambda: bool(app.alerts))
        alert_id = next(iter(app.alerts))
        assert running.service.desk and alert_id in running.service.desk.alerts
        await pilot.press("2")
        await until(pilot, lambda: len(rows(app, "alerts")) == len(app.alerts))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        # A new alert arriving while the dialog is open still reaches the panes.
        other, _ = await issue(running, "我要取十万元现金", "kiosk-2")
        await until(pilot, lambda: len(app.alerts) >= 2)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert alert_id in running.service.desk.alerts  # not acknowledged by a slip
        assert len(rows(app, "alerts")) == len(app.alerts)
        await pilot.press("up", "up")  # to the first row: the alert `alert_id` is
        alert_id = app.query_one(AlertsPane).selected() or ""
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        n = app.replied
        await pilot.press("y")
        reply = await answered(pilot, app, n)
        # a large-value alert is closed by the supervisor's verification (password checked
        # at login, within the confirm window), never by a plain acknowledgement
        assert isinstance(reply, Result) and reply.action == "verify_alert", reply
        await until(pilot, lambda: alert_id not in app.alerts)
        assert alert_id not in running.service.desk.alerts
    assert (await audit_actions(running))[0] == "verify_alert"
    await kiosk.close()
    await other.close()


async def test_calling_a_ticket_shows_its_guidance_and_risk_flags(running: Running) -> None:
    async with asyncio.timeout(60):
        while running.service.hub is None:
            assert running.service.hub_error is None, running.service.hub_error
            await asyncio.sleep(0.1)
    kiosk, _ = await issue(running, "我想取八万块钱现金", "kiosk-1")
    async with console(running, "teller-1") as (app, pilot):
        n = app.replied
        await pilot.press("n")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and isinstance(reply.data, GuidanceData), reply
        await until(pilot, lambda: "RISK" in str(app.query_one("#kb-results", Static).render()))
        shown = str(app.query_one("#kb-results", Static).render())
        assert "large_cash" in shown and "awaiting supervisor verification" in shown
        assert "teller_guidance.md" in shown and "取款" in shown
    await kiosk.close()


async def test_knowledge_search_shows_sources(running: Running) -> None:
    async with asyncio.timeout(60):
        while running.service.hub is None:
            assert running.service.hub_error is None, running.service.hub_error
            await asyncio.sleep(0.1)
    async with console(running, "manager") as (app, pilot):
        await pilot.press("slash")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "kb-input")
        await pilot.press(*"small business loan")
        n = app.replied
        await pilot.press("enter")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and isinstance(reply.data, SearchData), reply
        assert reply.data.passages, reply
        shown = str(app.query_one("#kb-results", Static).render())
        first = reply.data.passages[0]
        assert first.source in shown and f"v{first.version}" in shown


async def test_console_says_offline_when_the_service_goes_away(running: Running) -> None:
    async with console(running) as (app, pilot):
        assert "ONLINE" in str(app.query_one("#status", Static).render())
        await running.service.stop()
        await until(pilot, lambda: app.link.state in ("offline", "connecting")
                    and app.link.attempt > 0)
        assert "OFFLINE" in str(app.query_one("#status", Static).render())
        n = app.replied
        await pilot.press("n")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Error) and reply.code == "offline"


async def test_quitting_the_console_logs_out(running: Running) -> None:
    """The shift's token dies with the console: it cannot open another console."""
    gate = running.service.staff
    assert gate is not None
    async with console(running) as (app, pilot):
        session = app.client._staff
        assert session is not None and gate.book.check(session.token) is not None
        await pilot.press("q")
    assert gate.book.check(session.token) is None
    assert "logout" in await audit_actions(running, sessions=True)
