"""Voice turns through the running service: real clips in, transcripts, spoken replies out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
import soundfile as sf
from websockets.asyncio.client import ClientConnection

from devices.frames import KIND_AUDIO_IN, KIND_AUDIO_OUT, AudioFrame, decode_frame
from devices.protocol import PROTOCOL_VERSION
from edge.service import Service
from speech.textnorm import cer, wer
from tests.conftest import SHARED, Running, make_config

CLIPS = SHARED / "datasets" / "speech"
pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not (CLIPS / "manifest.tsv").exists(), reason="../shared speech clips absent"),
]
TIMEOUT = 60.0


def clip(name: str) -> tuple[np.ndarray, str]:
    audio, rate = sf.read(CLIPS / name, dtype="int16")
    assert rate == 16_000
    rows = (CLIPS / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]
    reference = next(r.split("\t")[3] for r in rows if r.startswith(name))
    return audio, reference


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def voiced(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    # the tests stream whole clips faster than real time, which a kiosk never does: the
    # per-connection audio budget (tests/test_security.py covers it) is lifted here
    config = make_config(tmp_path_factory.mktemp("voice"), **{
        "speech.enabled": True, "server.audio_bytes_per_s": 100_000_000.0,
        "server.audio_burst_bytes": 100_000_000.0})
    service = Service(config)
    host, port = await service.start()
    assert service.speech is not None and service.speech.listening, service.speech
    try:
        yield Running(service, f"ws://{host}:{port}")
    finally:
        await service.stop()


async def kiosk(url: str, device: str = "kiosk-1") -> ClientConnection:
    from websockets.asyncio.client import connect

    ws = await connect(f"{url}/kiosk", open_timeout=10, max_size=2**23)
    credential = {"kiosk-1": "demo-kiosk-1", "kiosk-2": "demo-kiosk-2"}[device]
    await ws.send(json.dumps({"type": "hello", "device_id": device, "role": "kiosk",
                              "credential": credential, "protocol": PROTOCOL_VERSION,
                              "capabilities": ["audio", "tts"]}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "describe"
    return ws


async def send_audio(ws: ClientConnection, stream: int, pcm: np.ndarray, chunk_ms: int = 100,
                     pace: float = 0.0) -> None:
    step = 16 * chunk_ms
    for seq, i in enumerate(range(0, len(pcm), step)):
        await ws.send(AudioFrame(KIND_AUDIO_IN, stream, seq, pcm[i:i + step].tobytes()).encode())
        if pace:
            await asyncio.sleep(chunk_ms / 1000 * pace)


async def collect(ws: ClientConnection, until: Any, timeout: float = TIMEOUT) -> list[Any]:
    """JSON messages (dicts) and binary frames (AudioFrame) until `until(msgs)` is true."""
    got: list[Any] = []
    async with asyncio.timeout(timeout):
        while not until(got):
            raw = await ws.recv()
            got.append(decode_frame(raw) if isinstance(raw, bytes) else json.loads(raw))
    return got


def of(msgs: list[Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in msgs if isinstance(m, dict) and m["type"] == kind]


async def hear(ws: ClientConnection, stream: int, pcm: np.ndarray, rate: int, ending: str,
               chunk_ms: int = 100) -> tuple[list[Any], str]:
    """Stream a clip plus a second of silence; collect until every final turn is answered.

    Clips with pauses longer than the end-of-turn silence arrive as several turns."""
    await ws.send(json.dumps({"type": "audio_start", "stream": stream, "sample_rate": rate}))
    await send_audio(ws, stream, np.concatenate([pcm, np.zeros(rate, np.int16)]), chunk_ms)
    await ws.send(json.dumps({"type": "audio_end", "stream": stream}))

    def done(m: list[Any]) -> bool:
        finals = [x["text"] for x in of(m, "transcript") if x["final"]]
        joined = "".join(finals) if ending.isascii() is False else " ".join(finals)
        return (bool(finals) and strip(joined).endswith(strip(ending))
                and len(of(m, "reply")) == len(finals))

    msgs = await collect(ws, done, timeout=120)
    finals = [x["text"] for x in of(msgs, "transcript") if x["final"]]
    return msgs, (" " if ending.isascii() else "").join(finals)


def strip(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


async def test_spoken_english_turn_is_transcribed_answered_and_spoken(voiced: Running) -> None:
    ws = await kiosk(voiced.url)
    audio, reference = clip("jfk_16k_mono.flac")
    msgs, heard = await hear(ws, 1, audio, 16_000, "for your country")
    finals = [m for m in of(msgs, "transcript") if m["final"]]
    assert {m["language"] for m in finals} == {"en"}
    assert heard.lower().startswith("and so my fellow americans"), heard
    assert wer(reference, heard) <= 0.15, heard
    reply = of(msgs, "reply")[0]
    assert reply["language"] == "en" and reply["text"]
    msgs += await collect(ws, lambda m: sum(isinstance(x, AudioFrame) for x in m) >= 1)
    speech = of(msgs, "speech")
    frames = [m for m in msgs if isinstance(m, AudioFrame)]
    assert len(speech) >= 1 and len(frames) >= len(speech) - 1
    for meta, frame in zip(speech, frames, strict=False):
        assert frame.kind == KIND_AUDIO_OUT and frame.seq == meta["seq"]
        assert frame.stream == meta["turn"]  # audio of the reply its metadata announced
        assert len(frame.pcm) == round(meta["duration_ms"] * meta["sample_rate"] / 1000) * 2 or \
            abs(len(frame.pcm) / 2 / meta["sample_rate"] * 1000 - meta["duration_ms"]) <= 2
        assert meta["visemes"] and meta["words"]
        starts = [v[1] for v in meta["visemes"]]
        assert starts == sorted(starts)
    await ws.close()


async def test_mandarin_clip_gives_a_simplified_transcript(voiced: Running) -> None:
    ws = await kiosk(voiced.url, "kiosk-2")
    audio, reference = clip("BAC009S0764W0121.wav")
    msgs, heard = await hear(ws, 5, audio, 16_000, "")
    assert {m["language"] for m in of(msgs, "transcript") if m["final"]} == {"zh"}
    assert cer(reference, heard) <= 0.35, heard
    assert of(msgs, "reply")[0]["language"] == "zh"
    await ws.close()


async def test_48k_kiosk_is_resampled(voiced: Running) -> None:
    import soxr

    ws = await kiosk(voiced.url)
    audio, reference = clip("jfk_16k_mono.flac")
    up = soxr.resample(audio.astype(np.float32) / 32768, 16_000, 48_000)
    pcm48 = (np.clip(up, -1, 1) * 32767).astype(np.int16)
    _, heard = await hear(ws, 2, pcm48, 48_000, "for your country", chunk_ms=33)
    assert wer(reference, heard) <= 0.15, heard
    await ws.close()


async def test_speaking_over_a_reply_stops_it(voiced: Running) -> None:
    ws = await kiosk(voiced.url)
    await ws.send(json.dumps({"type": "text", "id": "t1", "language": "en",
                              "text": "what's the weather like today"}))
    first = await collect(ws, lambda m: bool(of(m, "speech")))
    turn = of(first, "speech")[0]["turn"]
    assert of(first, "speech")[0]["interruptible"] is True
    audio, _ = clip("librispeech-1995-1837-0001.wav")
    await ws.send(json.dumps({"type": "audio_start", "stream": 3, "sample_rate": 16000}))
    await send_audio(ws, 3, audio[: 16_000 * 2])
    msgs = await collect(ws, lambda m: bool(of(m, "stop_audio")), timeout=20)
    assert of(msgs, "stop_audio")[0]["turn"] == turn
    await ws.close()


async def test_a_kiosk_reset_stops_the_reply_it_was_speaking(voiced: Running) -> None:
    """The customer left (end_session): the next customer's first words must be a new turn,
    not speech over the old reply that needs min_turn_ms to count."""
    ws = await kiosk(voiced.url)
    await ws.send(json.dumps({"type": "text", "id": "t1", "language": "en",
                              "text": "what's the weather like today"}))
    first = await collect(ws, lambda m: bool(of(m, "speech")))
    turn = of(first, "speech")[0]["turn"]
    voice = voiced.service.sessions["kiosk-1"].voice
    assert voice is not None and voice.speaking
    before = voice.barge_ins
    await ws.send(json.dumps({"type": "end_session", "reason": "customer left"}))
    msgs = await collect(ws, lambda m: bool(of(m, "stop_audio")), timeout=20)
    assert of(msgs, "stop_audio")[0]["turn"] == turn
    await asyncio.sleep(0.05)
    assert not voice.speaking and voice.barge_ins == before  # not counted as a barge-in
    await ws.close()


async def test_an_anti_fraud_warning_is_never_cut(voiced: Running) -> None:
    ws = await kiosk(voiced.url)
    await ws.send(json.dumps({"type": "text", "id": "t1", "text":
                              "有人自称公安局的打电话，让我把存款转到安全账户"}))
    first = await collect(ws, lambda m: bool(of(m, "speech")))
    assert of(first, "speech")[0]["interruptible"] is False
    audio, _ = clip("librispeech-1995-1837-0001.wav")
    await ws.send(json.dumps({"type": "audio_start", "stream": 4, "sample_rate": 16000}))
    await send_audio(ws, 4, audio[: 16_000 * 2])
    rest = await collect(ws, lambda m: any(isinstance(x, dict) and x["type"] == "speech"
                                           and x["final"] for x in m)) \
        if not any(m["final"] for m in of(first, "speech")) else []
    assert not of(first + rest, "stop_audio")
    assert any(m["final"] for m in of(first + rest, "speech"))
    await asyncio.sleep(1.0)
    assert voiced.service.sessions["kiosk-1"].voice.barge_ins == 0  # type: ignore[union-attr]
    await ws.close()



async def test_kiosk_simulator_speaks_a_file(voiced: Running) -> None:
    from devices.kiosk_messages import Reply
    from devices.kiosk_messages import Transcript as TranscriptMsg
    from devices.simulators import Endpoint, run_kiosk_audio

    lines: list[str] = []
    got = await run_kiosk_audio(Endpoint(voiced.url, "kiosk-2", "demo-kiosk-2", "kiosk"),
                                [str(CLIPS / "BAC009S0764W0122.wav")], lines.append,
                                realtime=False, quiet_s=3.0)  # first audio may lag a loaded machine
    heard = [m for m in got if isinstance(m, TranscriptMsg) and m.final]
    assert heard and cer("一二线城市虽然也处于调整中", heard[0].text) <= 0.35
    assert any(isinstance(m, Reply) for m in got)
    assert any(line.startswith("  audio") for line in lines)


async def test_a_model_answer_is_spoken_while_it_is_still_being_written(voiced: Running) -> None:
    from intents.answers.llm import LlmEngine
    from intents.answers.llm_fake import ScriptedBackend

    await asyncio.wait_for(voiced.service.hub_ready.wait(), 60)
    answer = "Your ID, and the old card[1]. A new card is ready 7 days after the loss report[1]."
    saved = voiced.service.llm, voiced.service._answerer
    # 60 ms a character: the second sentence is written about 3 s after the first, time enough
    # to speak the first one even on a loaded 2-core machine (slower, the whole answer passes
    # the answer's deadline and the extractive answer is given instead)
    voiced.service.llm = LlmEngine(ScriptedBackend(answer=answer, token_s=0.06))
    voiced.service._answerer = None
    ws = await kiosk(voiced.url, "kiosk-2")
    try:
        await ws.send(json.dumps({"type": "text", "id": "q", "language": "en",
                                  "text": "What do I bring for a lost card replacement?"}))
        msgs = await collect(ws, lambda m: bool(of(m, "reply"))
                             and any(x["final"] for x in of(m, "speech")))
    finally:
        voiced.service.llm, voiced.service._answerer = saved
        await ws.close()
    kinds = [m["type"] if isinstance(m, dict) else "audio" for m in msgs]
    reply = of(msgs, "reply")[0]
    assert reply["sources"] and reply["text"].startswith("Your ID, and the old card"), reply
    assert kinds.index("speech") < kinds.index("reply")  # the first sentence did not wait
    speech = of(msgs, "speech")
    spoken = " ".join(m["text"] for m in speech if m["text"])
    assert "old card" in spoken and "loss report" in spoken
    assert "ticket" in spoken.lower()  # the offer that follows the answer is spoken too
    assert [m["seq"] for m in speech] == list(range(len(speech)))
    assert speech[-1]["final"] and not any(m["final"] for m in speech[:-1])
