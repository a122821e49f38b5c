"""Floods against the running service: 10,000 malformed messages on a logged-in connection
(every one answered), hundreds of hostile connections before hello; no crash, no
traceback, and a log that does not grow with the flood."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request

from devices.frames import HEADER, MAGIC
from tests.conftest import Running
from tests.hostile import counting_logs, flood
from tests.wsclient import TIMEOUT, login, recv_json

N_MESSAGES = 10_000
BATCH = 100
N_HOSTILE = 400  # connections in the unauthenticated flood
MAX_LOG_LINES = 5  # whatever the flood's size: a few summary lines, never one per message
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
    with counting_logs() as logs:
        for start in range(0, N_MESSAGES, BATCH):
            for i in range(start, start + BATCH):
                await ws.send(malformed(rng, i))
            for _ in range(BATCH):
                msg = await recv_json(ws)
                assert msg["type"] == "error" and msg["fatal"] is False, msg
                codes[msg["code"]] = codes.get(msg["code"], 0) + 1
                answered += 1
    assert answered == N_MESSAGES
    assert logs.tracebacks == 0, (logs.records, logs.tracebacks, logs.by_logger, logs.samples)
    assert logs.records <= MAX_LOG_LINES, (logs.records, logs.by_logger, logs.samples)
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
    assert running.service.server.refusals()["bad_messages"] == codes
    await ws.close()


async def test_hostile_connections_before_hello_leave_the_service_up_and_the_log_short(
        running: Running) -> None:
    server = running.service.server
    assert server is not None
    with counting_logs() as logs:
        ran = await asyncio.wait_for(flood(running.url, N_HOSTILE), 120)
        if server._handlers:  # let the last handlers count what they saw
            await asyncio.wait(set(server._handlers), timeout=TIMEOUT)
    assert len(ran) == 7, ran  # every hostile behaviour ran
    assert logs.tracebacks == 0, (logs.records, logs.tracebacks, logs.by_logger, logs.samples)
    assert logs.records <= MAX_LOG_LINES, (logs.records, logs.by_logger, logs.samples)
    refused = server.refusals()["refused"]
    assert sum(refused.values()) >= N_HOSTILE // 2, refused
    assert server.refusals()["faults"] == {}
    # Staff see the flood in /health and /metrics, and devices still log in and get served.
    http = running.url.replace("ws://", "http://")
    health = json.loads(await asyncio.to_thread(
        lambda: urllib.request.urlopen(http + "/health", timeout=TIMEOUT).read()))
    assert health["refused"] == refused
    metrics = (await asyncio.to_thread(
        lambda: urllib.request.urlopen(http + "/metrics", timeout=TIMEOUT).read())).decode()
    assert f'branch_teller_device_refused_total{{kind="dropped"}} {refused["dropped"]:.1f}' \
        in metrics
    ws = await login(running.url, "kiosk-1")
    await ws.send(json.dumps({"type": "text", "id": "ok", "text": "几点关门"}))
    while (msg := await recv_json(ws))["type"] != "reply":
        pass
    assert msg["id"] == "ok"
    await ws.close()
