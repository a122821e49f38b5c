"""The console's Appointments tab against a running service with a seeded appointment book."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from devices.console_messages import Result
from devices.result_payloads import AppointmentsData
from devices.session_messages import Error
from tests.conftest import Running
from tests.test_appointments import book_rows, booked_service
from tests.test_console_pilot import answered, console, issue, rows, until
from ui.app import ConsoleApp

HINT = "王*4321"


@pytest.fixture
async def booked(tmp_path: Path) -> AsyncIterator[Running]:
    """The demo branch with today's bookings (one carrying a customer hint) and one tomorrow."""
    book = book_rows(time.time())
    book[0]["hint"] = HINT
    async with booked_service(tmp_path, book) as running:
        yield running


def counts_line(app: ConsoleApp) -> str:
    return str(app.query_one("#appt-counts", Static).render())


async def test_tab_shows_the_bookings_the_command_returned(booked: Running) -> None:
    async with console(booked, "manager") as (app, pilot):
        n = app.replied
        await pilot.press("7")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and reply.action == "appointments", reply
        assert isinstance(reply.data, AppointmentsData)
        listed = reply.data.appointments
        await until(pilot, lambda: len(rows(app, "appointments")) == len(listed))
        shown = rows(app, "appointments")
        assert [r[0] for r in shown] == [a.number for a in listed]
        assert [r[1] for r in shown] == [a.window for a in listed]
        by_number = {r[0]: r for r in shown}
        assert by_number["335812"][2:] == ["wealth", "", "booked", "-"]
        assert by_number["778899"][4] == "cancelled"
        assert "990011" not in by_number  # tomorrow's booking is not today's
        assert len(shown) == 6
        line = counts_line(app)
        assert "5 booked" in line and "1 cancelled" in line and "0 checked in" in line
        everything = line + " ".join(" ".join(r) for r in shown)
        assert HINT not in everything and "4321" not in everything


async def test_a_kiosk_check_in_shows_its_ticket_without_a_key_press(booked: Running) -> None:
    async with console(booked, "manager") as (app, pilot):
        await pilot.press("7")
        await until(pilot, lambda: len(rows(app, "appointments")) == 6)
        kiosk, issued = await issue(booked, "我预约了，预约号A1234567", "kiosk-1")
        await kiosk.close()
        assert issued["priority_class"] == "appointment"
        ticket = issued["number"]
        await until(
            pilot,
            lambda: (
                ["checked in", ticket]
                in [r[4:] for r in rows(app, "appointments") if r[0] == "A1234567"]
            ),
        )
        await until(pilot, lambda: "1 checked in" in counts_line(app))
        assert "4 booked" in counts_line(app)


async def test_f5_reloads_the_book(booked: Running) -> None:
    store = booked.service.store
    assert store is not None
    async with console(booked, "manager") as (app, pilot):
        await pilot.press("7")
        await until(pilot, lambda: len(rows(app, "appointments")) == 6)
        await store.upsert_appointments(
            [{**book_rows(time.time())[3], "status": "cancelled"}], time.time()
        )
        n = app.replied
        await pilot.press("f5")
        assert isinstance(await answered(pilot, app, n), Result)
        await until(pilot, lambda: "2 cancelled" in counts_line(app))
        assert "4 booked" in counts_line(app)
        assert [r[4] for r in rows(app, "appointments") if r[0] == "112233"] == ["cancelled"]


async def test_a_failing_command_is_said_in_the_tab_not_a_crash(
    booked: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = booked.service.store
    assert store is not None

    async def locked(day: str) -> list[dict[str, Any]]:
        raise sqlite3.OperationalError("database is locked")

    async with console(booked, "manager") as (app, pilot):
        await pilot.press("7")
        await until(pilot, lambda: len(rows(app, "appointments")) == 6)
        monkeypatch.setattr(store, "appointments_on", locked)
        n = app.replied
        await pilot.press("f5")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Error) and reply.code == "internal", reply
        await until(pilot, lambda: "Appointments failed: internal" in counts_line(app))
        assert rows(app, "appointments") == []  # no stale rows passed off as current
        assert "✗ appointments: internal" in str(app.query_one("#last", Static).render())
        assert app.is_running and app.client.online
        monkeypatch.undo()
        n = app.replied
        await pilot.press("f5")
        assert isinstance(await answered(pilot, app, n), Result)
        await until(pilot, lambda: len(rows(app, "appointments")) == 6)


async def test_offline_the_tab_says_so() -> None:
    app = ConsoleApp("ws://127.0.0.1:9", "manager", "unused", autoconnect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        n = app.replied
        await pilot.press("f5")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Error) and reply.code == "offline"
        await until(pilot, lambda: "Appointments failed: offline" in counts_line(app))
        assert app.query_one("#appointments", DataTable).row_count == 0
