"""Appointment check-in through the running service: the book, the kiosk, the queue, restarts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.queue.events import Issued, QueueEvent, kind_of
from edge.service import Service
from edge.store import BookingTaken, Store
from tests.conftest import Running, make_config
from tests.test_conversations import final_action, play


def midday_zone(now: float) -> str:
    """A fixed-offset zone where it is about noon now, so every booking window (2 h either
    side) falls inside the business day whenever the tests run."""
    offset = 12 - time.gmtime(now).tm_hour  # -11 .. +12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # POSIX sign: Etc/GMT-8 is UTC+8


def _hhmm(at: dt.datetime) -> str:
    return at.strftime("%H:%M")


def book_rows(now: float) -> list[dict[str, Any]]:
    """Bookings relative to `now`: one due, one early, one late, one cancelled, one tomorrow."""
    zone = ZoneInfo(midday_zone(now))
    local = dt.datetime.fromtimestamp(now, zone).replace(second=0, microsecond=0)
    day = local.date()

    def window(start_min: int, length: int) -> tuple[str, str]:
        start = local + dt.timedelta(minutes=start_min)
        return _hhmm(start), _hhmm(start + dt.timedelta(minutes=length))

    rows = []
    for number, (start, end), service, intent, status, when in [
        ("335812", window(-10, 30), "wealth", None, "booked", day),
        ("A1234567", window(-5, 30), "personal", "account_open", "booked", day),
        ("113355", window(-20, 30), "cash", None, "booked", day),
        ("112233", window(120, 30), "loan", None, "booked", day),
        ("445566", window(-120, 30), "fx", None, "booked", day),
        ("778899", window(0, 30), "personal", None, "cancelled", day),
        ("990011", ("10:00", "10:30"), "cash", None, "booked", day + dt.timedelta(days=1)),
    ]:
        rows.append(
            {
                "number": number,
                "day": when.isoformat(),
                "start": start,
                "end": end,
                "service": service,
                "intent": intent,
                "priority_class": None,
                "hint": None,
                "status": status,
            }
        )
    return rows


async def seed(data_dir: Path, rows: list[dict[str, Any]]) -> None:
    store = await Store.open(data_dir / "branch.db")
    try:
        await store.upsert_appointments(rows, time.time())
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def booked_service(tmp_path: Path, rows: list[dict[str, Any]] | None = None,
                         **settings: Any) -> AsyncIterator[Running]:
    """The demo branch, running, with `rows` (default: book_rows) in its appointment book."""
    now = time.time()
    config = make_config(tmp_path, **{"queue.timezone": midday_zone(now), **settings})
    await seed(Path(config.data_dir), rows if rows is not None else book_rows(now))
    service = Service(config, demo=True)
    host, port = await service.start()
    try:
        yield Running(service, f"ws://{host}:{port}")
    finally:
        await service.stop()


@pytest.fixture
async def booked(tmp_path: Path) -> AsyncIterator[Running]:
    async with booked_service(tmp_path) as running:
        yield running


CHECK_INS: list[Any] = [
    (["我预约了，预约号A1234567"], ("ticket", "personal", "appointment"), "签到成功"),
    (["我有预约 号码是 3 3 5 8 1 2"], ("ticket", "wealth", "appointment"), "签到成功"),
    (["I have an appointment, number 335812"], ("ticket", "wealth", "appointment"), "checked in"),
    (["我预约了", "三三五八一二"], ("ticket", "wealth", "appointment"), "签到成功"),
    (["I have an appointment", "A1234567"], ("ticket", "personal", "appointment"), "checked in"),
    # "幺" for 1, after an answer that carried no number: asked once more, then checked in.
    (["我预约了", "嗯我看看", "幺幺三三五五"], ("ticket", "cash", "appointment"), "签到成功"),
    (["335812"], ("ticket", "wealth", "appointment"), "签到成功"),  # typed or scanned alone
    (["我预约了，预约号112233"], ("ask", "起可以签到"), None),
    (["I have a booking, number 112233"], ("ask", "check-in opens"), None),
    (["我预约了，预约号112233", "取普通号"], ("ticket", "loan", "normal"), None),
    (["我预约了，预约号445566"], ("ticket", "fx", "normal"), "已经过了"),
    (["I have an appointment, 445566"], ("ticket", "fx", "normal"), "has passed"),
    (["我预约了，预约号778899"], ("ask", "已经取消"), None),
    (["我预约了，预约号990011"], ("ask", "不是今天"), None),
    (["我预约了，预约号 5 5 5 1 2 3"], ("ask", "没有找到预约号555123"), None),
    (["I have an appointment, number 555123", "555124", "555125"], ("ask", "could not find"), None),
    (["我预约了", "我不记得预约号了"], ("alert", "appointment"), None),
    (["我预约了开户", "没有"], ("ticket", "personal", "normal"), None),
]


@pytest.mark.parametrize(
    ("turns", "expected", "said"), CHECK_INS, ids=[" / ".join(c[0])[:40] for c in CHECK_INS]
)
async def test_check_in_conversations(
    booked: Running, turns: list[str], expected: tuple[str, ...], said: str | None
) -> None:
    got = await play(booked.url, turns, {})
    actual = final_action(got)
    texts = [m.get("text", "") for m in got if m["type"] == "reply"]
    if expected[0] == "ask":
        assert actual[0] in ("ask", "answer") and expected[1] in texts[-1], texts
    else:
        assert actual == expected, (actual, texts)
    if said is not None:
        assert said in texts[-1], texts
    # A turn of digits alone keeps the conversation's language (kiosk-1 starts in Mandarin).
    lang = "en" if turns[0].isascii() and not turns[0].isdigit() else "zh"
    assert got[-1]["type"] in ("reply", "alert")
    assert [m for m in got if m["type"] == "reply"][-1]["language"] == lang


async def test_check_in_marks_the_book_and_the_same_number_again_shows_that_ticket(
    booked: Running,
) -> None:
    service = booked.service
    assert service.desk is not None and service.store is not None
    first = await play(booked.url, ["我预约了，预约号A1234567"], {})
    ticket = next(m for m in first if m["type"] == "ticket")
    assert ticket["priority_class"] == "appointment"
    row = await service.store.appointment("A1234567")
    assert row is not None and row["status"] == "checked_in" and row["ticket"] == ticket["number"]
    again = await play(booked.url, ["I have an appointment, number A1234567"], {}, "kiosk-2")
    shown = [m for m in again if m["type"] == "ticket"]
    assert [m["number"] for m in shown] == [ticket["number"]]
    assert "already checked in" in again[-1]["text"] if again[-1]["type"] == "reply" else True
    issued = [t for t in service.desk.engine.tickets() if t.service == "personal"]
    assert len(issued) == 1, "the same appointment number must never give a second ticket"
    assert issued[0].appointment_at is not None


async def test_two_kiosks_checking_one_booking_in_at_once_get_one_ticket(
    booked: Running,
) -> None:
    import asyncio

    from tests.wsclient import login

    service = booked.service
    assert service.desk is not None and service.store is not None
    kiosks = [await login(booked.url, "kiosk-1"), await login(booked.url, "kiosk-2")]

    async def check_in(ws: Any, text: str) -> list[dict[str, Any]]:
        await ws.send(json.dumps({"type": "text", "id": "c", "text": text}))
        got = []
        while not got or got[-1]["type"] not in ("reply", "error"):
            msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if msg.get("id") == "c":
                got.append(msg)
        return got

    both = await asyncio.gather(check_in(kiosks[0], "我预约了，预约号335812"),
                                check_in(kiosks[1], "I have an appointment, number 335812"))
    for ws in kiosks:
        await ws.close()
    numbers = [m["number"] for got in both for m in got if m["type"] == "ticket"]
    assert len(numbers) == 2 and len(set(numbers)) == 1, both  # both shown the one ticket
    wealth = [t for t in service.desk.engine.tickets() if t.service == "wealth"]
    assert [t.state for t in wealth] == ["waiting"]  # no second ticket, not even a cancelled one
    kinds = [kind_of(e) for e in await service.store.load_events()]
    assert "cancelled" not in kinds and kinds.count("issued") == 1


async def test_transcripts_do_not_keep_the_appointment_number(booked: Running) -> None:
    await play(booked.url, ["我预约了", "三三五八一二"], {})
    store = booked.service.store
    assert store is not None
    for _ in range(50):  # transcripts are written in the background
        rows = await store._run(lambda: list(store.db.table("transcripts").rows))
        if len(rows) >= 4:
            break
        import asyncio

        await asyncio.sleep(0.05)
    text = " ".join(r["text"] for r in rows)
    assert "三三五八一二" not in text and "335812" not in text, text


async def test_a_check_in_survives_a_restart(tmp_path: Path) -> None:
    now = time.time()
    rows = book_rows(now)
    config = make_config(tmp_path, **{"queue.timezone": midday_zone(now)})
    await seed(Path(config.data_dir), rows)
    service = Service(config, demo=True)
    host, port = await service.start()
    try:
        got = await play(f"ws://{host}:{port}", ["我预约了，预约号335812"], {})
        number = next(m for m in got if m["type"] == "ticket")["number"]
    finally:
        await service.stop()
    again = Service(config, demo=True)
    host, port = await again.start()
    try:
        got = await play(f"ws://{host}:{port}", ["335812"], {})
        assert [m["number"] for m in got if m["type"] == "ticket"] == [number]
        assert again.desk is not None
        assert len([t for t in again.desk.engine.tickets() if t.service == "wealth"]) == 1
    finally:
        await again.stop()


async def test_hint_is_asked_when_configured_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    now = time.time()
    rows = book_rows(now)
    rows[0]["hint"] = "王*1234"
    config = make_config(
        tmp_path, **{"appointments.ask_hint": True, "queue.timezone": midday_zone(now)}
    )
    await seed(Path(config.data_dir), rows)
    service = Service(config, demo=True)
    host, port = await service.start()
    url = f"ws://{host}:{port}"
    try:
        wrong = await play(url, ["我预约了，预约号335812", "五六七八"], {})
        assert final_action(wrong) == ("alert", "appointment")
        assert "对不上" in [m["text"] for m in wrong if m["type"] == "reply"][-1]
        right = await play(url, ["我预约了，预约号335812", "幺二三四"], {})
        assert final_action(right) == ("ticket", "wealth", "appointment")
        store = service.store
        assert store is not None
        logged = await store._run(lambda: [r["text"] for r in store.db.table("transcripts").rows])
        assert not any("幺二三四" in t or "1234" in t for t in logged), logged
    finally:
        await service.stop()


async def test_console_lists_todays_appointments(booked: Running) -> None:
    from tests.wsclient import command, login, recv_until

    staff = await login(booked.url, "manager")
    await recv_until(staff, "snapshot")
    result = await command(staff, "a1", "appointments")
    data = result["data"]
    assert data["counts"]["booked"] == 5 and data["counts"]["cancelled"] == 1
    assert all(isinstance(r["hint"], bool) for r in data["appointments"])
    await staff.close()
    assert json.dumps(data)  # plain JSON for the console


def test_cli_imports_all_or_nothing_and_lists_the_day(tmp_path: Path) -> None:
    from tests.test_cli import run

    data = str(tmp_path / "data")
    header = "number,date,start,end,service,intent,priority_class,hint,status\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        header + "335812,2026-11-25,10:00,10:30,wealth,,,王*1234,\n"
        "A1234567,2026-11-25,11:30,11:00,,account_open,,,\n",
        encoding="utf-8",
    )
    code, _, err = run("appointments", "import", str(bad), "--data-dir", data)
    assert code == 2 and "line 3, field 'end'" in err and "nothing imported" in err
    good = tmp_path / "good.csv"
    good.write_text(
        header + "335812,2026-11-25,10:00,10:30,wealth,,,王*1234,\n"
        "a1234567,2026-11-25,11:00,11:30,,account_open,vip,,\n",
        encoding="utf-8",
    )
    code, out, _ = run("appointments", "import", str(good), "--data-dir", data)
    assert code == 0 and "2 added" in out
    code, out, _ = run("appointments", "import", str(good), "--data-dir", data)
    assert code == 0 and "2 unchanged" in out  # importing again changes nothing
    code, out, _ = run("appointments", "list", "--date", "2026-11-25", "--json", "--data-dir", data)
    listed = json.loads(out)
    assert [(r["number"], r["service"], r["hint"]) for r in listed["appointments"]] == [
        ("335812", "wealth", True),
        ("A1234567", "personal", False),
    ]
    assert "王" not in out  # the hint itself is never shown


async def test_reimport_updates_booked_rows_but_keeps_check_ins(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    try:
        row = {
            "number": "335812",
            "day": "2026-11-25",
            "start": "10:00",
            "end": "10:30",
            "service": "wealth",
            "intent": None,
            "priority_class": None,
            "hint": None,
            "status": "booked",
        }
        other = {**row, "number": "445566"}
        assert (await store.upsert_appointments([row, other], 1.0))["added"] == 2
        def issued(at: float, number: str) -> list[QueueEvent]:
            return [Issued(at=at, ticket=f"20261125-{number}", day="2026-11-25", number=number,
                           service="wealth", cls="appointment")]

        await store.append_events("2026-11-25", issued(2.0, "E001"), ("335812", "E001", 2.0))
        with pytest.raises(BookingTaken):  # only once: the second ticket is not committed
            await store.append_events("2026-11-25", issued(3.0, "E002"),
                                      ("335812", "E002", 3.0))
        assert [e.at for e in await store.load_events("2026-11-25")] == [2.0]
        moved = [
            {**row, "start": "11:00", "end": "11:30"},
            {**other, "start": "11:00", "end": "11:30"},
        ]
        assert await store.upsert_appointments(moved, 4.0) == {
            "added": 0,
            "updated": 1,
            "unchanged": 0,
            "kept": 1,
        }
        kept = await store.appointment("335812")
        assert kept is not None and kept["ticket"] == "E001" and kept["start"] == "10:00"
        updated = await store.appointment("445566")
        assert updated is not None and updated["start"] == "11:00"
        assert await store.expire_appointments("2026-11-26", 5.0) == 1
    finally:
        await store.close()


async def test_ticket_reply_names_counters_only_when_few_serve_the_service(
    booked: Running,
) -> None:
    wealth = await play(booked.url, ["我预约了，预约号335812"], {})  # counters 4 and 5
    assert "请到4、5号窗口办理" in wealth[-1]["text"], wealth[-1]
    cash = await play(booked.url, ["我要存钱", "取号"], {}, "kiosk-2")  # all six counters
    reply = [m for m in cash if m["type"] == "reply"][-1]
    assert "请留意叫号" in reply["text"] and "1、2、3" not in reply["text"], reply


async def test_a_booking_taken_meanwhile_leaves_the_queue_as_it_was(booked: Running) -> None:
    """The desk side of the race, deterministically: the second check-in's ticket is rolled
    back with its booking mark, and the queue engine forgets it (its number is not used)."""
    desk = booked.service.desk
    assert desk is not None
    first = await desk.run("issue", "wealth", check_in="335812")
    with pytest.raises(BookingTaken):
        await desk.run("issue", "wealth", check_in="335812")
    wealth = [t for t in desk.engine.tickets() if t.service == "wealth"]
    assert [t.number for t in wealth] == [first.ticket.number]
    after = await desk.run("issue", "wealth")
    assert after.ticket.number[1:] == f"{int(first.ticket.number[1:]) + 1:03d}"
