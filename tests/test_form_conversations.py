"""The account-opening form through the running service, in both languages: field by field,
a wrong digit caught and the part to repeat named, digit repair, the masked read-back, the
elderly mode for a customer of 65 or more, and nothing of the form in logs or the database."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.service import Service
from intents.understanding.resident_id import check_char
from tests.conftest import make_config
from tests.wsclient import login, recv_json, recv_until

TODAY = dt.datetime.fromtimestamp(time.time(), ZoneInfo("Asia/Shanghai")).date()


def resident_id(born: dt.date, region: str = "110105", sequence: str = "002") -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + check_char(first17)


YOUNG = resident_id(dt.date(1990, 3, 7))
OLD = resident_id(TODAY.replace(year=TODAY.year - 70) - dt.timedelta(days=3))
ZH_DIGITS = dict(zip("0123456789X", "零幺二三四五六七八九叉", strict=True))
EN_DIGITS = dict(
    zip("0123456789X", "zero one two three four five six seven eight nine x".split(), strict=True)
)


def say_zh(number: str) -> str:
    """An ID read out the way people do: 幺 for 1, in groups of 6, 8 and 4."""
    spoken = "".join(ZH_DIGITS[c] for c in number)
    return f"{spoken[:6]} {spoken[6:14]} {spoken[14:]}"


def say_en(number: str) -> str:
    return " ".join(EN_DIGITS[c] for c in number)


class Kiosk:
    """One customer at kiosk-1 with the lobby manager's console listening."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.n = 0
        self.alerts: list[dict[str, Any]] = []
        self.logged: list[str] = []

    async def __aenter__(self) -> Kiosk:
        self.kiosk = await login(self.url, "kiosk-1")
        self.staff = await login(self.url, "manager")
        await recv_until(self.staff, "snapshot")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kiosk.close()
        await self.staff.close()

    async def turn(self, text: str, choice: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Everything the kiosk got for one turn, by message type."""
        self.n += 1
        ref = f"t{self.n}"
        await self.kiosk.send(
            json.dumps({"type": "text", "id": ref, "text": text, "choice": choice})
        )
        got: dict[str, list[dict[str, Any]]] = {}
        while True:
            msg = await recv_json(self.kiosk)
            if msg.get("id") == ref:
                got.setdefault(msg["type"], []).append(msg)
                if msg["type"] in ("reply", "error"):
                    break
        await self._drain_staff()
        return got

    async def _drain_staff(self) -> None:
        try:
            while True:
                msg = await recv_json(self.staff, timeout=0.3)
                if msg["type"] == "alert":
                    self.alerts.append(msg)
                elif msg["type"] == "turn":
                    self.logged.append(msg["text"])
        except TimeoutError:
            pass


def form(got: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    [card] = got["form"]
    return card


def reply(got: dict[str, list[dict[str, Any]]]) -> str:
    text: str = got["reply"][0]["text"]
    return text


@pytest.fixture
async def service(tmp_path: Path) -> Any:
    svc = Service(make_config(tmp_path), demo=True)
    host, port = await svc.start()
    svc.url = f"ws://{host}:{port}"  # type: ignore[attr-defined]
    try:
        yield svc
    finally:
        await svc.stop()


async def test_a_form_in_mandarin_with_a_wrong_digit_repaired(
    service: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Kiosk(service.url) as k:
        got = await k.turn("我要填开户资料")
        assert form(got)["asking"] == "id_number" and "身份证" in reply(got)
        # a wrong digit in the birth date (month 13): told to repeat digits 7-14
        wrong = YOUNG[:10] + "13" + YOUNG[12:]
        got = await k.turn(say_zh(wrong))
        assert "第7到14位" in reply(got) and form(got)["asking"] == "id_number"
        assert "7到14" in form(got)["problem"]
        got = await k.turn(say_zh(YOUNG[6:14]))  # only those 8 digits again
        card = form(got)
        assert (
            card["asking"] == "mobile"
            and card["fields"][0]["value"] == "110***********" + YOUNG[-4:]
        )
        assert YOUNG not in json.dumps(got, ensure_ascii=False)
        # one digit off in the mobile number prefix, then the whole number
        got = await k.turn("幺二八 幺二三四 五六七八")
        assert "前3位" in reply(got)
        got = await k.turn("第二位是三")  # repair one digit of what was heard
        assert form(got)["asking"] == "name" and "138****5678" in reply(got)
        got = await k.turn("我叫张伟")
        assert "张*" in reply(got) and "张伟" not in reply(got)
        got = await k.turn("我住在北京市朝阳区建国路88号")
        assert "北京市朝阳区****" in reply(got)
        got = await k.turn("退休", "occupation:retired")
        assert form(got)["state"] == "confirming" and "请核对" in reply(got)
        got = await k.turn("确认", "form_confirm")
        assert form(got)["state"] == "done"
        [ticket] = got["ticket"]
        assert ticket["service"] == "personal" and ticket["priority_class"] == "normal"
    secrets = (YOUNG, YOUNG[6:14], "13812345678", "12812345678", "张伟", "建国路88号")
    assert k.logged and not [s for s in secrets for line in k.logged if s in line]
    assert not [s for s in secrets if s in caplog.text]
    await service.stop()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert not [s for s in secrets if s.encode() in raw]


async def test_an_english_form_asks_for_a_digit_and_fixes_the_check_digit(service: Any) -> None:
    async with Kiosk(service.url) as k:
        got = await k.turn("I'd like to fill in the account opening form")
        assert form(got)["asking"] == "id_number" and "ID number" in reply(got)
        wrong = YOUNG[:16] + str((int(YOUNG[16]) + 5) % 10) + YOUNG[17]
        got = await k.turn(say_en(wrong))
        assert "does not check out" in reply(got)
        got = await k.turn("what is the seventeenth digit?")
        assert f"Digit 17 is {wrong[16]}" in reply(got)
        got = await k.turn(f"the seventeenth digit is {EN_DIGITS[YOUNG[16]]}")
        assert form(got)["asking"] == "mobile"
        got = await k.turn("one three eight one two three four five six seven")
        assert "I heard 10 characters" in reply(got)
        got = await k.turn("one three eight one two three four five six seven eight")
        got = await k.turn("My name is John Smith")
        assert "J*** S****" in reply(got)
        got = await k.turn("I live at 12 Garden Road, Chaoyang, Beijing")
        got = await k.turn("I'm a software engineer")
        assert form(got)["state"] == "confirming" and "Please check" in reply(got)
        got = await k.turn("change the mobile number")
        assert form(got)["asking"] == "mobile"
        got = await k.turn("one three nine one two three four five six seven eight")
        assert form(got)["state"] == "confirming" and "139****5678" in reply(got)
        got = await k.turn("Confirm", "form_confirm")
        assert got["ticket"][0]["service"] == "personal"


@pytest.mark.parametrize(
    ("answer", "choice", "cls", "large"),
    [
        ("好的", "elderly_yes", "elderly", True),
        ("不用了", "elderly_no", "normal", False),
    ],
)
async def test_a_customer_of_seventy_is_offered_the_elderly_mode(
    service: Any, answer: str, choice: str, cls: str, large: bool
) -> None:
    async with Kiosk(service.url) as k:
        await k.turn("我要填开户资料")
        got = await k.turn(say_zh(OLD))
        assert "长辈模式" in reply(got) and [c["key"] for c in got["reply"][0]["choices"]] == [
            "elderly_yes",
            "elderly_no",
        ]
        assert got["reply"][0]["large_text"] is False
        got = await k.turn(answer, choice)
        assert got["reply"][0]["large_text"] is large
        assert form(got)["asking"] == "mobile"
        for text in ("13812345678", "王秀英", "上海市浦东新区世纪大道100号"):
            got = await k.turn(text)
        got = await k.turn("退休", "occupation:retired")
        got = await k.turn("确认", "form_confirm")
        assert got["ticket"][0]["priority_class"] == cls
        assert got["reply"][0]["large_text"] is large


async def test_cancelling_the_form_forgets_it(service: Any) -> None:
    async with Kiosk(service.url) as k:
        await k.turn("我要填开户资料")
        await k.turn(say_zh(YOUNG))
        got = await k.turn("不填了")
        assert form(got)["state"] == "cancelled" and "已清除" in reply(got)
        session = service.sessions["kiosk-1"]
        assert session.state.form is None
        got = await k.turn("我想开户")  # the ordinary request still takes a ticket at once
        assert got["ticket"][0]["service"] == "personal"


async def test_a_customer_stuck_on_a_field_gets_staff(service: Any) -> None:
    async with Kiosk(service.url) as k:
        await k.turn("我要填开户资料")
        for _ in range(2):
            got = await k.turn("不知道")
            assert "身份证" in reply(got)
        got = await k.turn("不记得")
        assert "工作人员" in reply(got)
    assert [a["kind"] for a in k.alerts] == ["form_help"]
