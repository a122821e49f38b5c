"""The updater in the real service: a bundle arrives while a customer talks at a kiosk (a
real websocket client); it is installed, verified and smoke-tested while the customer's
turns go on, waits for the conversation to end, switches between turns, passes probation,
and the box reports each step in /health. Bad bundles are refused and the box serves on."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from devices.health_payloads import BundleStatus
from edge.service import Service
from tests.bundles import component, deliver, knowledge, model
from tests.conftest import make_config
from tests.wsclient import login, recv_json

Turn = tuple[float, float]  # sent, replied (time.time())


def _config(tmp_path: Path, **over: Any) -> Any:
    return make_config(
        tmp_path,
        **{
            "updates.check_interval_s": 0.1,
            "updates.quiet_hold_s": 0.5,
            "updates.probation_s": 1.0,
            **over,
        },
    )


async def _until(
    service: Service, ok: Callable[[BundleStatus], bool], timeout: float = 150.0
) -> BundleStatus:
    async with asyncio.timeout(timeout):
        while True:
            status = service.health().bundle
            if ok(status):
                return status
            await asyncio.sleep(0.05)


async def _turn(ws: Any, n: int, text: str = "你好") -> Turn:
    sent = time.time()
    await ws.send(json.dumps({"type": "text", "id": f"t{n}", "text": text}))
    async with asyncio.timeout(30):
        while True:
            msg = await recv_json(ws, 30)
            if msg["type"] in ("reply", "error") and msg.get("ref", msg.get("id")) == f"t{n}":
                assert msg["type"] == "reply", msg
                return sent, time.time()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        data: bytes = r.read()
        return data


def _record(service: Service) -> dict[str, Any]:
    assert service.updater is not None
    data: dict[str, Any] = json.loads((service.updater.slots.root / "update.json").read_bytes())
    return data


async def test_a_bundle_waits_for_the_customer_and_switches_between_turns(tmp_path: Path) -> None:
    async with Service.open(_config(tmp_path), demo=True) as service:
        assert service.address is not None and service.updater is not None
        host, port = service.address
        await asyncio.wait_for(service.hub_ready.wait(), 60)
        documents = service.health().versions.knowledge
        kiosk = await login(f"ws://{host}:{port}", "kiosk-1")
        turns = [await _turn(kiosk, n) for n in range(2)]
        assert service.sessions["kiosk-1"].state.turns > 0  # a customer mid-conversation
        build = tmp_path / "build"
        knowledge(build, 2)
        model(build, "silero-vad", "vad", 1)  # not loaded by this box (speech off): smoke only
        deliver(service.updater.slots.root, "b1", build)
        # the customer keeps talking while the bundle is installed, verified, smoke-tested
        while "conversation" not in service.health().bundle.reason or len(turns) < 6:
            turns.append(await _turn(kiosk, len(turns)))
            await asyncio.sleep(0.2)
        waiting = service.health().bundle
        assert waiting.pending == "b1" and waiting.active == "factory"
        assert "1 conversation(s) in progress" in waiting.reason
        assert set(waiting.timings_s) == {"install", "verify", "smoke"}
        raw = await asyncio.to_thread(_get, f"http://{host}:{port}/health")
        shown = json.loads(raw)["bundle"]  # what the console's health tab shows
        assert shown["pending"] == "b1" and shown["state"] == "waiting_for_quiet"
        await asyncio.sleep(1.5)  # longer than quiet_hold_s: still waiting for the customer
        assert service.health().bundle.state == "waiting_for_quiet"
        last_reply = turns[-1][1]
        await kiosk.send(json.dumps({"type": "end_session"}))
        done = await _until(service, lambda s: s.last.startswith("b1:"))
        assert done.last == "b1: committed (probation passed)" and done.active == "b1"
        assert done.components["kb-branch"] == 2 and done.components["whisper-base"] == 0
        rec = _record(service)
        switch_began = rec["switched_at"] - rec["timings_s"]["switch"]
        assert switch_began > last_reply  # not while the customer was talking
        assert all(
            replied <= switch_began or sent >= rec["switched_at"] for sent, replied in turns
        )  # no turn overlapped the switch
        # the same connection goes on, on the new models; the new document is searchable
        await _turn(kiosk, 99)
        await _until(service, lambda s: service.health().versions.knowledge != documents, 60)
        assert service.hub is not None
        found = service.hub.search("外币现钞预约口令", k=3, mode="bm25")
        assert any("蓝鲸2号" in r.passage.text for r in found)
        assert service.health().versions.bundle == "b1"
        # an older knowledge pack than the one now installed is refused
        build = tmp_path / "older"
        knowledge(build, 1)
        deliver(service.updater.slots.root, "b0", build)
        status = await _until(service, lambda s: s.last.startswith("b0:"))
        assert "kb-branch: version 1 is not newer than the installed 2" in status.last
        assert status.active == "b1"
        await kiosk.close()


async def test_bad_bundles_are_refused_and_the_box_serves_on(tmp_path: Path) -> None:
    async with Service.open(_config(tmp_path), demo=True) as service:
        assert service.address is not None and service.updater is not None
        host, port = service.address
        slots = service.updater.slots
        # a model that does not load: the smoke test (a child process) rejects it
        build = tmp_path / "broken"
        (build / "silero-vad").mkdir(parents=True)
        (build / "silero-vad" / "silero_vad_v6.onnx").write_bytes(b"\x08garbage" * 64)
        component(build / "silero-vad", "silero-vad", "vad", 3)
        deliver(slots.root, "b-broken", build)
        status = await _until(service, lambda s: s.last.startswith("b-broken:"))
        assert status.last.startswith("b-broken: rejected (smoke test failed: silero-vad (vad)")
        assert status.active == "factory" and not (slots.installed / "b-broken").exists()
        # a tampered file: verification rejects it before anything runs
        build = tmp_path / "tampered"
        knowledge(build, 4)
        (build / "kb-branch" / "notice.md").write_text("改过的内容", encoding="utf-8")
        deliver(slots.root, "b-tampered", build)
        status = await _until(service, lambda s: s.last.startswith("b-tampered:"))
        assert "verification failed: kb-branch/notice.md:" in status.last
        # needs a newer service
        build = tmp_path / "future"
        folder = knowledge(build, 5)
        component(folder, "kb-branch", "knowledge", 5, min_service="99.0")
        deliver(slots.root, "b-future", build)
        status = await _until(service, lambda s: s.last.startswith("b-future:"))
        assert "kb-branch: needs service 99.0" in status.last and status.active == "factory"
        kiosk = await login(f"ws://{host}:{port}", "kiosk-2")
        await _turn(kiosk, 1, "I want to open an account")  # still serving
        await kiosk.close()
        assert slots.arrived() == [] and service.health().bundle.pending == ""


async def test_new_speech_models_take_over_an_open_microphone_stream(tmp_path: Path) -> None:
    from tests.test_voice_e2e import clip, collect, kiosk, of, send_audio

    config = _config(
        tmp_path,
        **{
            "speech.enabled": True,
            "server.max_audio_seconds": 900.0,
            "server.audio_bytes_per_s": 100_000_000.0,
            "server.audio_burst_bytes": 100_000_000.0,
        },
    )
    async with Service.open(config) as service:
        assert service.address is not None and service.updater is not None
        host, port = service.address
        before = service.speech
        assert before is not None and before.listening
        ws = await kiosk(f"ws://{host}:{port}")
        # the kiosk's microphone is on: a stream is open, nobody speaks
        await ws.send(json.dumps({"type": "audio_start", "stream": 1, "sample_rate": 16_000}))
        silence = np.zeros(16_000, np.int16)
        await send_audio(ws, 1, silence)
        build = tmp_path / "build"
        model(build, "whisper-base", "stt", 1)
        model(build, "silero-vad", "vad", 1)
        deliver(service.updater.slots.root, "b-speech", build)
        while True:  # the microphone keeps sending silence while the bundle goes through
            await send_audio(ws, 1, silence, pace=1.0)
            status = service.health().bundle
            if status.last.startswith("b-speech:"):
                break
        assert status.last == "b-speech: committed (probation passed)", status
        assert service.speech is not before and service.speech is not None
        assert service.config.models.resolve("whisper").parent.name == "b-speech"
        # the same stream goes on: the customer speaks and the new Whisper hears it
        audio, _ = clip("jfk_16k_mono.flac")
        await send_audio(ws, 1, audio)

        async def microphone() -> None:  # an open microphone goes on sending its silence
            while True:
                await send_audio(ws, 1, silence[:3_200], pace=1.0)

        mic = asyncio.create_task(microphone())
        try:
            msgs = await collect(ws, lambda m: bool(of(m, "reply")), timeout=60)
        finally:
            mic.cancel()
        assert not of(msgs, "error"), of(msgs, "error")
        heard = " ".join(m["text"] for m in of(msgs, "transcript") if m["final"])
        assert "fellow americans" in heard.lower(), heard
        await ws.close()
