"""The queue's event log: an old database (written before events were typed) still replays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edge.desk import QueueDesk
from edge.queue.settings import QueueSettings
from edge.store import Store
from tests.fixtures.make_queue_day import DB, EXPECTED, Clock, Quiet, summarize


async def test_old_database_replays_to_the_same_queue(tmp_path: Path) -> None:
    expected = json.loads(EXPECTED.read_text())
    shutil.copyfile(DB, tmp_path / "branch.db")
    store = await Store.open(tmp_path / "branch.db")
    desk = await QueueDesk.open(QueueSettings(), store, Quiet(), Clock(expected["at"]))
    got = summarize(desk.engine)
    got["appointments"] = {r["number"]: r["status"]
                           for r in await store.appointments_on(expected["day"])}
    await store.close()
    assert {"day": expected["day"], "at": expected["at"], **got} == expected
    assert expected["waiting_counts"]["cash"] == 5  # the fixture is a real day, not empty
