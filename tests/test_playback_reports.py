"""A kiosk's playback reports are accepted and counted; nothing comes back as an error."""

from __future__ import annotations

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
    # messages are handled in order: the error for the last one means the four were counted
    assert error["type"] == "error" and error["code"] == "invalid", error
    assert running.service.playback == {"started": 2, "finished": 1, "stopped": 1}
    assert running.service.health().playback["started"] == 2
    await ws.close()
