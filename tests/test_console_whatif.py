"""The what-if pane driven from the keyboard (Textual Pilot) against a real running service."""

from __future__ import annotations

import json

from textual.widgets import Static

from devices.console_messages import Result
from devices.result_payloads import WhatIfData
from devices.session_messages import Error
from edge.queue.forecast import situation
from edge.queue.staffing import parse_changes
from edge.queue.whatif import what_if
from edge.what_if import replay, what_if_data
from tests.conftest import Running
from tests.test_console_pilot import answered, audit_actions, console, rows, until


def _keys(text: str) -> list[str]:
    return ["space" if ch == " " else "semicolon" if ch == ";" else ch for ch in text]


async def test_what_if_pane_compares_the_next_hour_and_audits_the_seed(running: Running) -> None:
    desk = running.service.desk
    assert desk is not None
    for _ in range(4):
        await desk.run("issue", "personal")
    async with console(running, "manager", size=(120, 40)) as (app, pilot):
        await pilot.press("8")
        await until(pilot, lambda: app.query_one("#tab-whatif").display is True)
        app.query_one("#whatif-change").focus()
        n = app.replied
        await pilot.press(*_keys("close c1; close c2; close c3; close c4; close c5"), "enter")
        reply = await answered(pilot, app, n)
        assert isinstance(reply, Result) and reply.action == "what_if", reply
        data = reply.data
        assert isinstance(data, WhatIfData) and data.changed is not None
        assert data.changed.changes == ["close c1", "close c2", "close c3", "close c4",
                                        "close c5"]
        base = {g.key: g for g in data.base.services}["personal"]
        fewer = {g.key: g for g in data.changed.services}["personal"]
        assert base.p90_s is not None and fewer.p90_s is not None
        assert fewer.p90_s > base.p90_s  # one counter left for the same customers
        await until(pilot, lambda: bool(rows(app, "whatif-services")))
        table = {r[0]: r for r in rows(app, "whatif-services")}
        assert "personal" in table and len(table["personal"]) == 8
        assert table["personal"][6] != "" and table["personal"][3] != table["personal"][6]
        summary = str(app.query_one("#whatif-summary", Static).render())
        assert f"seed {data.seed}" in summary and "Queue empties" in summary

        n = app.replied
        app.query_one("#whatif-change").focus()
        await pilot.press("ctrl+u", *_keys("open c1"), "enter")  # c1 is open already
        refused = await answered(pilot, app, n)
        assert isinstance(refused, Error) and refused.code == "invalid_change"
        await pilot.pause()
        assert "already open" in str(app.query_one("#whatif-summary", Static).render())

    assert running.service.store is not None
    audit = await running.service.store.audit_rows()
    assert "what_if" in await audit_actions(running)
    row = next(r for r in audit if r["action"] == "what_if")
    detail = json.loads(row["detail"])
    assert detail["seed"] == data.seed and detail["change"].startswith("close c1; close c2")
    assert row["actor"] == "manager"

    # The audit row is enough to repeat the run from the database alone.
    settings = running.service.config.queue
    engine, history = await replay(running.service.store, settings, detail["at"])
    again = what_if(settings, engine.policy, situation(engine, detail["at"], history,
                                                        detail["horizon_min"] * 60.0),
                    parse_changes(detail["change"], settings), horizon_min=detail["horizon_min"],
                    seed=detail["seed"], replications=detail["replications"])
    assert what_if_data(again) == data
