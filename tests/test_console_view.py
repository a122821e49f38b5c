"""Pure formatting behind the console panes, and the console's command line."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from ui.client import LinkStatus
from ui.console_cli import main
from ui.view import (
    appointment_counts,
    appointment_rows,
    bar,
    duration,
    health_rows,
    hourly_issued,
    passage_lines,
    report_lines,
    service_summary,
    status_line,
    timings,
    waiting_rows,
    waiting_shown,
)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.4, "0s"), (59.4, "59s"), (60, "1m00"), (545, "9m05"), (3599, "59m59"),
    (3600, "1h00"), (3900, "1h05"), (-3, "0s"), (float("nan"), "-")])
def test_duration_reads_like_staff_say_it(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


@given(st.floats(min_value=-1.0, max_value=2.0), st.integers(min_value=1, max_value=30))
def test_bar_always_fills_exactly_its_width(share: float, width: int) -> None:
    drawn = bar(share, width)
    assert cell_len(drawn) == width
    clamped = min(1.0, max(0.0, share))
    assert drawn.count("█") == round(clamped * width * 8) // 8  # nearest eighth of a cell


def test_bar_ends_full_and_empty() -> None:
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "    " and bar(None, 3) == "   "
    assert bar(0.5, 3) == "█▌ "


def test_waiting_rows_keep_call_order_and_label_classes() -> None:
    board = {"waiting": [
        {"number": "U001", "service": "urgent", "cls": "urgent", "waited_s": 30.0,
         "people_ahead": 0, "estimated_wait_s": 0.0},
        {"number": "A004", "service": "personal", "cls": "elderly", "waited_s": 244.0,
         "people_ahead": 1, "estimated_wait_s": 240.0},
        {"number": "A005", "service": "personal", "cls": "normal", "waited_s": 12.0,
         "people_ahead": None, "estimated_wait_s": None}]}
    rows = waiting_rows(board)
    assert [(r.number, r.cls, r.waited, r.ahead, r.estimate) for r in rows] == [
        ("U001", "urgent", "30s", "0", "0s"), ("A004", "elderly", "4m04", "1", "4m00"),
        ("A005", "", "12s", "-", "-")]


def test_service_summary_lists_empty_services_too() -> None:
    board = {"waiting_counts": {"personal": 2, "fx": 0},
             "waiting": [{"service": "personal", "waited_s": 90.0},
                         {"service": "personal", "waited_s": 400.0}]}
    assert service_summary(board) == [("personal", 2, "6m40"), ("fx", 0, "-")]


def test_service_summary_takes_the_longest_wait_from_the_service_when_it_sent_a_part() -> None:
    board = {"waiting_counts": {"personal": 900, "fx": 1}, "longest_wait_s": {"personal": 4000.0},
             "waiting": [{"service": "personal", "waited_s": 90.0},
                         {"service": "fx", "waited_s": 30.0}]}
    assert service_summary(board) == [("personal", 900, "1h06"), ("fx", 1, "30s")]


def test_waiting_shown_says_when_the_list_is_only_the_head_of_the_queue() -> None:
    two = [{"service": "personal"}, {"service": "cash"}]
    assert waiting_shown({"waiting": two, "waiting_counts": {"personal": 1, "cash": 1}}) == (
        "2 waiting")
    assert waiting_shown({"waiting": two, "waiting_counts": {"personal": 4000, "cash": 1812}}) == (
        "2 of 5,812 waiting")
    assert waiting_shown({}) == "0 waiting"


def test_appointment_rows_show_status_and_ticket_never_the_hint() -> None:
    data = {"day": "2026-11-25", "counts": {"booked": 1, "checked_in": 1, "cancelled": 0,
                                            "expired": 1},
            "appointments": [
                {"number": "335812", "date": "2026-11-25", "window": "10:00-10:30",
                 "service": "wealth", "intent": None, "priority_class": "vip", "status": "booked",
                 "ticket": None, "hint": True},
                {"number": "A1234567", "date": "2026-11-25", "window": "10:30-11:00",
                 "service": "personal", "intent": "account_open", "priority_class": None,
                 "status": "checked_in", "ticket": "A007", "hint": False},
                {"number": "445566", "date": "2026-11-25", "window": "09:00-09:30",
                 "service": None, "intent": None, "priority_class": None, "status": "expired",
                 "ticket": None, "hint": False}]}
    assert [(r.number, r.window, r.service, r.cls, r.status, r.ticket)
            for r in appointment_rows(data)] == [
        ("335812", "10:00-10:30", "wealth", "VIP", "booked", "-"),
        ("A1234567", "10:30-11:00", "personal", "", "checked in", "A007"),
        ("445566", "09:00-09:30", "-", "", "expired", "-")]
    assert appointment_counts(data) == (
        "2026-11-25: 1 booked · 1 checked in · 0 cancelled · 1 expired")
    assert appointment_rows(None) == [] and appointment_counts({"day": "d"}).startswith(
        "d: 0 booked")


def test_timings_put_the_whole_turn_first() -> None:
    assert timings({"route": 7.42, "turn": 19.9, "llm": 3.0}) == "19.9 (llm 3.0, route 7.4)"
    assert timings({"turn": 5.0}) == "5.0" and timings({}) == "-"
    assert timings({"route": 1.25}) == "route 1.2"


def test_report_lines_use_whole_day_rows_and_hourly_counts_add_up() -> None:
    base: dict[str, Any] = {"served": 1, "no_shows": 0, "avg_wait_s": 60.0, "p90_wait_s": 120.0}
    services: list[dict[str, Any]] = [{**base, "hour": 9, "service": "fx", "issued": 2, "within_target": 1.0},
                {**base, "hour": 9, "service": "cash", "issued": 3, "within_target": 0.5},
                {**base, "hour": 10, "service": "fx", "issued": 1, "within_target": 1.0},
                {**base, "hour": None, "service": "fx", "issued": 3, "within_target": 1.0},
                {**base, "hour": None, "service": "cash", "issued": 3, "within_target": 0.5}]
    lines = report_lines(services, width=4)
    assert [(r.service, r.issued, r.within, r.chart) for r in lines] == [
        ("fx", 3, "100%", "████"), ("cash", 3, "50%", "██  ")]
    assert hourly_issued(services) == [(9, 5), (10, 1)]


def test_passage_lines_name_source_version_and_risk() -> None:
    lines = passage_lines({"title": "借记卡", "section": "挂失", "source": "debit_card.md",
                           "version": "1.4", "effective_date": "2026-01-01",
                           "audience": "customer", "score": 0.0328,
                           "text": "卡丢失\n请挂失", "risk_note": "不要透露验证码"}, 1)
    assert lines[0] == "1. 借记卡 › 挂失"
    assert "debit_card.md v1.4" in lines[1] and "0.033" in lines[1]
    assert lines[2].strip() == "卡丢失 请挂失" and lines[3].strip() == "⚠ 不要透露验证码"


def test_health_rows_flatten_versions() -> None:
    assert health_rows({"router": "loaded", "versions": {"stt": "base", "bundle": "7"},
                        "uptime_s": 12.5}) == [
        ("router", "loaded"), ("versions.stt", "base"), ("versions.bundle", "7"),
        ("uptime_s", "12.5")]


def test_command_line_refuses_to_run_without_a_credential(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BRANCH_TELLER_CREDENTIAL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["--user", "teller-1"])
    assert exited.value.code == 2
    assert "credential" in capsys.readouterr().err


def test_status_line_is_loud_when_offline_or_refused() -> None:
    online = status_line(LinkStatus("online", branch="城东支行"), "teller-1 @ c1", 0)
    assert online.plain == " ● ONLINE  teller-1 @ c1 · 城东支行"
    offline = status_line(LinkStatus("offline", "ConnectionRefusedError", 2, 1.5),
                          "manager → c3", 3)
    assert offline.plain.startswith(" ○ OFFLINE ")
    assert "retry 2 in 1.5s" in offline.plain and "3 alerts" in offline.plain
    refused = status_line(LinkStatus("refused", "bad_credential: wrong"), "x", 1)
    assert "REFUSED" in refused.plain and "bad_credential" in refused.plain
    assert refused.plain.endswith("1 alert ")


def test_waiting_estimate_is_shown_as_a_range_when_the_service_sends_one() -> None:
    from ui.view import wait_range

    assert wait_range({"estimated_wait_s": 240.0}) == "4m00"
    assert wait_range({"estimated_wait_s": 300.0, "wait_p50_s": 250.0,
                       "wait_p90_s": 570.0}) == "4m10-9m30"
    assert wait_range({"estimated_wait_s": 0.0, "wait_p50_s": 0.0, "wait_p90_s": 0.0}) == "0s"
