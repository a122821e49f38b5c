"""The PII scan: real conversations with realistic identifiers through the real service, then
the database files, the logs and every message the lobby's devices received are searched for
any identifier or name left whole. None may be.

Customers give ID numbers, bank cards, mobiles and names in both languages, typed and spoken
(digits, Mandarin 幺三九, English words with "double", groups split by commas), in the
requests a branch hears: a lost card, a fraud report, a transfer, "this is my number".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect

from devices.protocol import PROTOCOL_VERSION
from edge.service import Service
from tests.conftest import REPO, make_config
from tests.pii_scan import database_texts, digit_runs, leaks
from tests.wsclient import TIMEOUT, command, login

MOBILE = "13957246813"
MOBILE_2 = "13885572246"
RESIDENT_ID = "44030519900307121X"  # a valid GB 11643 number (check character X)
CARD = "6222024837165093"
CARD_19 = "6217008836429175304"
IDENTIFIERS = (MOBILE, MOBILE_2, RESIDENT_ID, CARD, CARD_19)
NAMES = ("王建国", "欧阳娜娜", "Xiaoming", "Harrington")

ZH_TURNS = [
    "我叫王建国，手机号13957246813",
    "我的身份证号是44030519900307121X",
    "我的银行卡丢了，卡号6222 0248 3716 5093，要挂失",
    "手机号是幺三九五七二四六八幺三",
    "户名是欧阳娜娜，卡号六二一七零零八八三六四二九一七五三零四",
    "有人冒充公安局让我把钱转到安全账户，账号6217008836429175304",
    "身份证号码四四零三零五一九九零零三零七一二一叉",
    "我要转账五万元给我儿子",
]
EN_TURNS = [
    "My name is Li Xiaoming, my phone number is one three nine five seven two four six eight "
    "one three",
    "my card number is six two two two, zero two four eight, three seven one six, five zero "
    "nine three",
    "I lost my card 6222-0248-3716-5093, can you block it?",
    "my ID is four four zero three zero five one nine nine zero zero three zero seven one two "
    "one X",
    "call me on one three double eight, double five, seven, double two, four six",
    "My name's Tom Harrington and I want to open an account",
]


def test_the_scanner_sees_every_identifier_as_the_customers_said_it() -> None:
    """Without masking, each turn leaks what it carries: the scan below can fail."""
    said = "\n".join(ZH_TURNS + EN_TURNS)
    assert sorted(leaks(said, IDENTIFIERS, NAMES)) == sorted(IDENTIFIERS + NAMES)
    assert "13885572246" in digit_runs(EN_TURNS[4])


class Listener:
    """A device connection whose every message is kept, raw, for the scan."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.raw: list[str] = []
        self.arrived = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for msg in self.ws:
                async with self.arrived:
                    self.raw.append(msg if isinstance(msg, str) else "")
                    self.arrived.notify_all()

    async def wait_for(self, found: Callable[[list[str]], Any], timeout: float) -> Any:
        """Wait until `found(messages so far)` is true, and return what it returned."""
        async with asyncio.timeout(timeout), self.arrived:
            return await self.arrived.wait_for(lambda: found(self.raw))

    def texts(self) -> list[str]:
        """Each message as JSON with its characters unescaped."""
        return [json.dumps(json.loads(m), ensure_ascii=False) if m else "" for m in self.raw]

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self.task, TIMEOUT)


async def _device(url: str, device: str, role: str, credential: str) -> Listener:
    path = "caller" if role == "caller" else role
    ws = await connect(f"{url}/{path}", open_timeout=TIMEOUT, max_size=2**23)
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "device_id": device,
                "role": role,
                "credential": credential,
                "protocol": PROTOCOL_VERSION,
            }
        )
    )
    return Listener(ws)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Everything logged at DEBUG and up also goes to a file, as a box's log would."""
    path = tmp_path / "service.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    library = logging.getLogger("websockets")
    old_library = library.level
    library.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        library.setLevel(old_library)  # other tests read the handshake's debug lines
        handler.close()


async def _talk(kiosk: Listener, turns: list[str], language: str, prefix: str) -> None:
    for i, text in enumerate(turns):
        ref = f"{prefix}{i}"
        start = len(kiosk.raw)
        await kiosk.ws.send(
            json.dumps({"type": "text", "id": ref, "text": text, "language": language})
        )
        await kiosk.wait_for(
            lambda raw, ref=ref, start=start: any(_answers(m, ref) for m in raw[start:]), 30
        )


def _answers(raw: str, ref: str) -> bool:
    """This message closes the turn `ref` (its reply, or an error)."""
    msg = json.loads(raw) if raw else {}
    return msg.get("type") == "error" or (msg.get("type") == "reply" and msg.get("id") == ref)


def _scan(texts: list[str], where: str) -> list[str]:
    return [
        f"{where}: {found} in {text[:160]!r}"
        for text in texts
        for found in leaks(text, IDENTIFIERS, NAMES)
    ]


async def test_no_identifier_survives_in_database_logs_or_lobby_devices(
    tmp_path: Path, log_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = make_config(tmp_path)
    async with Service.open(config, demo=True) as service:
        assert service.address is not None
        url = f"ws://{service.address[0]}:{service.address[1]}"
        kiosk_zh = await _device(url, "kiosk-1", "kiosk", "demo-kiosk-1")
        kiosk_en = await _device(url, "kiosk-2", "kiosk", "demo-kiosk-2")
        caller = await _device(url, "caller-1", "caller", "demo-caller-1")
        display = await _device(url, "display-1", "caller", "demo-display-1")
        await asyncio.gather(
            _talk(kiosk_zh, ZH_TURNS, "zh", "z"), _talk(kiosk_en, EN_TURNS, "en", "e")
        )
        called = []
        for user in ("teller-1", "teller-2"):  # the number-caller and display announce them
            teller = await login(url, user)
            await command(teller, f"{user}-done", "complete")  # a counter still busy: free it
            called.append((await command(teller, f"{user}-next", "call_next"))["type"])
            await teller.close()
        assert "result" in called
        await asyncio.sleep(0.5)  # the transcripts' background writes land
        lobby = [
            (d, name)
            for d, name in (
                (kiosk_zh, "kiosk-1"),
                (kiosk_en, "kiosk-2"),
                (caller, "caller-1"),
                (display, "display-1"),
            )
        ]
        for device, _ in lobby:
            await device.close()
    db = Path(config.data_dir) / "branch.db"
    stored = database_texts(db)
    transcripts = [t for t in stored if "customer" in t]
    assert any("要挂失" in t for t in stored), "the turns were stored"
    assert sum(len(d.raw) for d, _ in lobby) > 20 and transcripts
    problems = _scan(stored, "database")
    problems += _scan([r.getMessage() for r in caplog.records], "log record")
    problems += _scan([r.exc_text or "" for r in caplog.records], "logged exception")
    problems += _scan(await asyncio.to_thread(_log_lines, log_file), "log file")
    for device, name in lobby:
        problems += _scan(device.texts(), f"message to {name}")
    assert problems == [], "\n".join(problems)


def _clip_models_present() -> bool:
    return (REPO / "models" / "whisper-base").exists()


@pytest.mark.skipif(not _clip_models_present(), reason="speech models absent")
@pytest.mark.timeout(400)  # loads the speech models; a loaded 2-core machine is slow
async def test_a_spoken_number_is_masked_on_the_kiosk_screen_and_in_the_record(
    tmp_path: Path, log_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real voice turn: the box's own English voice says a mobile number, the kiosk streams
    it, speech-to-text writes it (as digits or words), and nothing keeps it whole."""
    caplog.set_level(logging.DEBUG)
    config = make_config(
        tmp_path,
        **{
            "speech.enabled": True,
            "server.audio_bytes_per_s": 100_000_000.0,
            "server.audio_burst_bytes": 100_000_000.0,
        },
    )
    async with Service.open(config, demo=True) as service:
        assert service.speech is not None and service.speech.tts is not None
        said = "My phone number is one three nine, five seven two four, six eight one three."
        chunk = await asyncio.to_thread(service.speech.tts.voice_for("en").synthesize, said)
        assert service.address is not None
        url = f"ws://{service.address[0]}:{service.address[1]}"
        ws = await connect(f"{url}/kiosk", open_timeout=TIMEOUT, max_size=2**23)
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "device_id": "kiosk-2",
                    "role": "kiosk",
                    "credential": "demo-kiosk-2",
                    "protocol": PROTOCOL_VERSION,
                    "capabilities": ["audio"],
                }
            )
        )
        kiosk = Listener(ws)
        from devices.frames import KIND_AUDIO_IN, AudioFrame

        pcm = np.frombuffer(chunk.pcm, np.int16)
        pcm = np.concatenate([pcm, np.zeros(chunk.sample_rate, np.int16)])
        await ws.send(
            json.dumps({"type": "audio_start", "stream": 1, "sample_rate": chunk.sample_rate})
        )
        step = chunk.sample_rate // 10
        for seq, i in enumerate(range(0, len(pcm), step)):
            await ws.send(AudioFrame(KIND_AUDIO_IN, 1, seq, pcm[i : i + step].tobytes()).encode())
        await ws.send(json.dumps({"type": "audio_end", "stream": 1}))
        final = await _final_transcript(kiosk)
        await asyncio.sleep(0.5)
        await kiosk.close()
    heard = final["text"]
    assert sum(len(run) for run in digit_runs(heard)) >= 7, f"no number heard in {heard!r}"
    stored = database_texts(Path(config.data_dir) / "branch.db")
    problems = _scan(stored, "database") + _scan(kiosk.texts(), "message to kiosk-2")
    problems += _scan([r.getMessage() for r in caplog.records], "log record")
    problems += _scan(await asyncio.to_thread(_log_lines, log_file), "log file")
    assert problems == [], "\n".join(problems)


async def _final_transcript(kiosk: Listener, timeout: float = 180.0) -> dict[str, Any]:
    def final(raw: list[str]) -> dict[str, Any] | None:
        msgs = [json.loads(m) for m in raw if m]
        return next((m for m in msgs if m["type"] == "transcript" and m.get("final")), None)

    found: dict[str, Any] = await kiosk.wait_for(final, timeout)
    return found


def _log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
