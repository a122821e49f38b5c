"""`describe`: built from config, sent right after `welcome` and again on request."""

from __future__ import annotations

import json
from pathlib import Path

from devices.branch_payloads import Features
from devices.protocol import decode_server, encode
from devices.session_messages import Describe
from edge.describe import describe_branch
from tests.conftest import Running, make_config
from tests.wsclient import login, recv_json, recv_until


def test_describe_is_built_from_the_branch_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"branch.name_en": "Test Branch"})
    kiosk = describe_branch(config, "kiosk", Features(knowledge=True), ref="d1")
    assert kiosk.id == "d1" and kiosk.name.en == "Test Branch"
    assert [s.id for s in kiosk.services] == [s.id for s in config.queue.services]
    assert [s.name.zh for s in kiosk.services] == [s.name_zh for s in config.queue.services]
    assert [c.id for c in kiosk.classes] == [c.id for c in config.queue.classes]
    assert [(c.id, c.number, c.services) for c in kiosk.counters] == [
        (c.id, c.number, c.services) for c in config.queue.counters]
    first = kiosk.counters[0]
    assert first.name.zh == f"{first.number}号窗口" and first.name.en == f"Counter {first.number}"
    assert [t.id for t in kiosk.terminals] == [t.id for t in config.terminals]
    assert kiosk.terminals[0].location.zh == config.terminals[0].location_zh
    assert kiosk.languages == ["zh", "en"] and kiosk.features.knowledge
    # terminals are for kiosks; a console or caller has no customer to send there
    assert describe_branch(config, "console", Features()).terminals == []
    assert decode_server(encode(kiosk)) == kiosk


async def test_service_describes_the_branch_after_welcome_and_on_request(
        running: Running) -> None:
    kiosk = await login(running.url, "kiosk-1", describe=False)
    first = await recv_json(kiosk)
    assert first["type"] == "describe", first
    described = decode_server(json.dumps(first))
    assert isinstance(described, Describe) and described.role == "kiosk"
    assert described.terminals and described.branch == running.service.config.branch.id
    # speech is switched off in the test config, the LLM tier too
    assert not described.features.speech_in and not described.features.llm
    await kiosk.send(json.dumps({"type": "describe_request", "id": "again"}))
    again = await recv_until(kiosk, "describe", id="again")
    assert again["services"] == first["services"]
    await kiosk.close()

    caller = await login(running.url, "caller-1", describe=False)
    first = await recv_json(caller)
    assert first["type"] == "describe" and first["role"] == "caller"
    assert first["terminals"] == []
    await recv_until(caller, "board")  # the board still follows
    await caller.close()
