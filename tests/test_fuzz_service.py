"""10,000 malformed messages against the running service: every one answered, no crash."""

from __future__ import annotations

import json
import random

from devices.frames import HEADER, MAGIC
from tests.conftest import Running
from tests.wsclient import login, recv_json

N_MESSAGES = 10_000
BATCH = 100
TYPES = ["hello", "text", "context", "end_session", "audio_start", "audio_end", "ack",
         "command", "reply", "welcome", "fly", "", "TEXT", "text ", None, 7]


def malformed(rng: random.Random, i: int) -> str | bytes:
    """One bad message: broken JSON, wrong types, unknown fields, bad frames, oversize."""
    kind = i % 9
    if kind == 0:
        good = json.dumps({"type": "text", "text": "挂失"})
        cut = rng.randrange(1, len(good))
        return good[:cut]
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
    if kind == 2:
        return MAGIC + bytes([rng.choice([0, 2, 9]), 1]) + bytes(8) + b"\x00\x00"
    if kind == 3:
        return HEADER.pack(MAGIC, 1, 1, 1, i) + b"\x00"  # odd PCM byte count
    if kind == 4:
        return json.dumps([rng.random(), "text"])
    if kind == 5:
        return json.dumps({"type": "x" * rng.randrange(1, 200)})
    if kind == 6:
        return json.dumps({"type": "text", "text": "x", f"extra{i}": True})
    if kind == 7:
        msg = {"type": rng.choice(TYPES), "text": rng.choice([1, None, [], {}]),
               "stream": rng.choice([-1, "a", 2**40]), "call": 3}
        if msg["type"] in ("text", "context", "end_session", "audio_start", "audio_end"):
            msg["language"] = "klingon"
        return json.dumps(msg)
    return "{" * rng.randrange(1, 50)


async def test_ten_thousand_bad_messages_each_get_an_error(running: Running) -> None:
    rng = random.Random(20261125)
    ws = await login(running.url, "kiosk-1")
    answered = 0
    codes: dict[str, int] = {}
    for start in range(0, N_MESSAGES, BATCH):
        for i in range(start, start + BATCH):
            await ws.send(malformed(rng, i))
        for _ in range(BATCH):
            msg = await recv_json(ws)
            assert msg["type"] == "error" and msg["fatal"] is False, msg
            codes[msg["code"]] = codes.get(msg["code"], 0) + 1
            answered += 1
    assert answered == N_MESSAGES
    assert "internal" not in codes, codes
    assert set(codes) <= {"malformed", "unknown_type", "not_allowed", "invalid", "bad_frame",
                          "already_welcomed"}
    # Still healthy: a real turn works on the same connection.
    await ws.send(json.dumps({"type": "text", "id": "ok", "text": "几点关门"}))
    while (msg := await recv_json(ws))["type"] != "reply":
        pass
    assert msg["id"] == "ok"
    assert running.service.server is not None
    assert running.service.server.stats["errors"] >= N_MESSAGES
    await ws.close()
