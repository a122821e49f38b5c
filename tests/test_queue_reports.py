"""Reports (per service per hour, per class) and number-caller announcements."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.queue import QueueEngine, QueueSettings, announce
from edge.queue.reports import class_rows, percentile, render_csv, render_table, report_rows

SH = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 25, 9, 30, tzinfo=SH).timestamp()

    def __call__(self) -> float:
        return self.t


def _day() -> tuple[QueueEngine, Clock]:
    """09:30 two cash (one served in 5 min after 2 min wait, one after 20 min), a no-show
    personal ticket, a VIP at 10:10 served in 6 min, and one cancelled cash ticket."""
    clock = Clock()
    e = QueueEngine(QueueSettings(), clock)
    a = e.issue("cash").ticket
    b = e.issue("cash").ticket
    p = e.issue("personal").ticket
    clock.t += 120
    e.call_next("c1")  # a, waited 120
    e.start(a.id)
    clock.t += 300
    e.complete(a.id)
    clock.t += 780  # now 1200 s after 09:30
    e.call_next("c1")  # b, waited 1200 (> 900 normal target)
    e.start(b.id)
    e.call_next("c2")  # p
    e.no_show(p.id)  # requeued once
    e.call_next("c2")
    e.no_show(p.id)  # gone
    clock.t += 60
    e.complete(b.id)
    clock.t = datetime(2026, 11, 25, 10, 10, tzinfo=SH).timestamp()
    v = e.issue("wealth", vip_tier="vip").ticket
    c = e.issue("cash").ticket
    e.cancel(c.id)
    clock.t += 30
    e.call_next("c5")
    e.start(v.id)
    clock.t += 360
    e.complete(v.id)
    return e, clock


def test_rows_per_service_per_hour() -> None:
    e, _ = _day()
    rows = report_rows(e.tickets(), e.settings, day="2026-11-25")
    keyed = {(r.hour, r.service): r for r in rows}
    cash9 = keyed[(9, "cash")]
    assert (cash9.issued, cash9.called, cash9.served) == (2, 2, 2)
    assert cash9.avg_wait_s == pytest.approx((120 + 1200) / 2)
    assert cash9.max_wait_s == pytest.approx(1200)
    assert cash9.avg_service_s == pytest.approx((300 + 60) / 2)
    assert cash9.within_target == pytest.approx(0.5)
    pers9 = keyed[(9, "personal")]
    assert (pers9.no_shows, pers9.no_show_share, pers9.served) == (1, 1.0, 0)
    wealth10 = keyed[(10, "wealth")]
    assert wealth10.avg_wait_s == pytest.approx(30) and wealth10.within_target == 1.0
    cash10 = keyed[(10, "cash")]
    assert (cash10.cancelled, cash10.called, cash10.avg_wait_s) == (1, 0, None)
    day_cash = keyed[(None, "cash")]
    assert (day_cash.issued, day_cash.served, day_cash.cancelled) == (3, 2, 1)
    assert rows[-1].hour is None  # whole-day rows come after the hourly ones
    assert report_rows(e.tickets(), e.settings, day="2026-11-24") == []


def test_class_rows_share_within_target() -> None:
    e, _ = _day()
    rows = {r.cls: r for r in class_rows(e.tickets(), e.settings)}
    assert rows["normal"].called == 3  # a, b and p's first call
    assert rows["normal"].within_target == pytest.approx(1 / 3)  # only a within 15 min
    assert rows["vip"].p90_wait_s == pytest.approx(30)
    assert "urgent" not in rows


def test_table_and_csv_render_the_same_rows() -> None:
    e, _ = _day()
    rows = report_rows(e.tickets(), e.settings)
    table = render_table(rows)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["day", "hour", "service"]
    assert any(" all " in f" {ln} " and "cash" in ln for ln in lines)
    assert "50%" in table  # within_target of cash at 9 o'clock
    parsed = list(csv.DictReader(io.StringIO(render_csv(rows))))
    assert len(parsed) == len(rows)
    first = parsed[0]
    assert first["service"] == rows[0].service and float(first["issued"]) == rows[0].issued
    assert render_table([]) == "(no tickets)\n" and render_csv([]) == ""


def test_percentile_nearest_rank() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0], 50) == 5.0
    values = [float(i) for i in range(1, 11)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 90) == 9.0
    assert percentile(values, 100) == 10.0


def test_announcements_zh_and_customer_language() -> None:
    zh = announce("A023", 3, "zh")
    assert zh.zh == zh.text == "请A023号到3号窗口办理业务"
    en = announce("A023", 3, "en")
    assert en.zh == "请A023号到3号窗口办理业务"
    assert en.text == "Ticket A023, please go to counter 3"
    again = announce("B007", 12, "en", recall=True)
    assert again.recall and "B007" in again.text and "12" in again.zh
    assert announce("A001", 1, "fr").language == "zh"
