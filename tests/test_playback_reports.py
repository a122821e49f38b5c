"""A kiosk's playback reports are accepted and counted; nothing comes back as an error."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import Running
from tests.wsclient import login, recv_json


async def test_playback_reports_are_counted_not_refused(running: Running) -> None:
    ws = await login(running.url, "kiosk-1")
    reports = [{"type": "playback_started", "turn": 1, "seq": 0},
               {"type": "playback_finished", "turn": 1, "seq": 0, "played_ms": 900},
               {"type": "playback_started", "turn": 1, "seq": 1},
               {"type": "playback_stopped", "turn": 1, "seq": 1, "played_ms": 310,
                "reason": "stop_audio"}]
    for report in reports:
        await ws.send(json.dumps(report))
    await ws.send(json.dumps({"type": "playback_stopped", "turn": 1}))  # no played_ms
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == "invalid", error  # only the bad one
    async with asyncio.timeout(5):
        while running.service.playback["stopped"] < 1:
            await asyncio.sleep(0.02)
    assert running.service.playback == {"started": 2, "finished": 1, "stopped": 1}
    assert running.service.health()["playback"]["started"] == 2
    await ws.close()
