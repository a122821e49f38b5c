"""Protocol clients that own no business state: a kiosk, a number-caller and a teller bot.

Used by `branch-teller kiosk-sim` / `caller-sim`, by the demo mode of the main job, and by the
end-to-end tests. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devices.caller_messages import Ack, Call
from devices.console_messages import Command
from devices.kiosk_messages import EndSession, KioskText, Reply
from devices.message_base import Message, Role
from devices.protocol import PROTOCOL_VERSION, decode_server, encode
from devices.session_messages import Error, Hello, Welcome
from devices.staff_login import LoginError, login

Printer = Callable[[str], None]


class SimulatorError(Exception):
    """The service refused the simulator or stopped answering."""


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom a simulator connects."""

    url: str  # ws://host:port
    device_id: str
    credential: str
    role: Role


@contextlib.asynccontextmanager
async def session(ep: Endpoint, timeout: float = 10.0) -> AsyncIterator[ClientConnection]:
    """Connect and say hello; yields the socket once welcomed."""
    headers: dict[str, str] = {}
    if ep.role == "console":  # staff: the password buys a shift token, checked at the upgrade
        try:
            headers = (await login(ep.url, ep.device_id, ep.credential, timeout=timeout)).header()
        except LoginError as err:
            raise SimulatorError(str(err)) from None
    async with connect(f"{ep.url.rstrip('/')}/{ep.role}", open_timeout=timeout,
                       max_size=2**22, additional_headers=headers) as ws:
        await ws.send(encode(Hello(device_id=ep.device_id, role=ep.role,
                                   credential=ep.credential, protocol=PROTOCOL_VERSION)))
        first = decode_server(await asyncio.wait_for(ws.recv(), timeout))
        if isinstance(first, Error):
            raise SimulatorError(f"{first.code}: {first.message}")
        if not isinstance(first, Welcome):
            raise SimulatorError(f"expected welcome, got {type(first).__name__}")
        yield ws


async def receive(ws: ClientConnection, timeout: float) -> Message:
    """Next message from the service, or SimulatorError after `timeout` seconds."""
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except TimeoutError:
        raise SimulatorError(f"no message from the service within {timeout:.0f} s") from None
    return decode_server(raw)


def to_json_line(msg: Message) -> str:
    """One message as a JSON line (type first)."""
    return json.dumps(msgspec.to_builtins(msg), ensure_ascii=False)


async def kiosk_turn(ws: ClientConnection, text: str, turn_id: str, timeout: float = 15.0,
                     choice: str | None = None) -> list[Message]:
    """Send one customer turn; collect everything up to the `reply` (or `error`) closing it."""
    await ws.send(encode(KioskText(id=turn_id, text=text, choice=choice)))
    got: list[Message] = []
    while True:
        msg = await receive(ws, timeout)
        if getattr(msg, "id", None) != turn_id and getattr(msg, "ref", None) != turn_id:
            continue  # queue updates and other broadcasts
        got.append(msg)
        if isinstance(msg, Reply | Error):
            return got


async def run_kiosk(ep: Endpoint, conversations: list[list[str]], out: Printer,
                    as_json: bool = False, timeout: float = 15.0) -> list[list[Message]]:
    """Play conversations (a blank line in a script starts a new customer)."""
    results: list[list[Message]] = []
    counter = itertools.count(1)
    async with session(ep, timeout) as ws:
        for conversation in conversations:
            for text in conversation:
                if not as_json:
                    out(f"customer> {text}")
                msgs = await kiosk_turn(ws, text, f"t{next(counter)}", timeout)
                results.append(msgs)
                for msg in msgs:
                    out(to_json_line(msg) if as_json else describe(msg))
            await ws.send(encode(EndSession(reason="next customer")))
    return results


async def run_kiosk_audio(ep: Endpoint, files: list[str], out: Printer, as_json: bool = False,
                          realtime: bool = True, quiet_s: float = 3.0,
                          timeout: float = 60.0) -> list[Message]:
    """Speak audio files to the service as a kiosk microphone would (PCM16 binary frames)."""
    import numpy as np
    import soundfile as sf

    from devices.frames import KIND_AUDIO_IN, AudioFrame, decode_frame
    from devices.kiosk_messages import AudioEnd, AudioStart

    got: list[Message] = []
    async with connect(f"{ep.url.rstrip('/')}/{ep.role}", open_timeout=timeout,
                       max_size=2**23) as ws:
        await ws.send(encode(Hello(device_id=ep.device_id, role="kiosk", credential=ep.credential,
                                   protocol=PROTOCOL_VERSION, capabilities=["audio", "tts"])))
        first = decode_server(await asyncio.wait_for(ws.recv(), timeout))
        if not isinstance(first, Welcome):
            raise SimulatorError(f"refused: {getattr(first, 'message', first)}")
        for stream, path in enumerate(files, start=1):
            audio, rate = sf.read(path, dtype="int16", always_2d=True)
            pcm = np.concatenate([audio[:, 0], np.zeros(rate, np.int16)])  # + 1 s of silence
            if not as_json:
                out(f"customer> (speaking {path}, {len(audio) / rate:.1f} s at {rate} Hz)")
            await ws.send(encode(AudioStart(stream=stream, sample_rate=rate)))
            step = rate // 25  # 40 ms frames
            for seq, i in enumerate(range(0, len(pcm), step)):
                await ws.send(AudioFrame(KIND_AUDIO_IN, stream, seq, pcm[i:i + step].tobytes())
                              .encode())
                if realtime:
                    await asyncio.sleep(0.04)
            await ws.send(encode(AudioEnd(stream=stream)))
            replied = False
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), quiet_s if replied else timeout)
                except TimeoutError:
                    break
                if isinstance(raw, bytes):
                    frame = decode_frame(raw)
                    out(json.dumps({"binary": "audio", "stream": frame.stream, "seq": frame.seq,
                                    "bytes": len(frame.pcm)}) if as_json
                        else f"  audio   {len(frame.pcm)} bytes")
                    continue
                msg = decode_server(raw)
                got.append(msg)
                replied = replied or isinstance(msg, Reply)
                out(to_json_line(msg) if as_json else describe(msg))
    return got


def describe(msg: Message) -> str:
    """A one-line human rendering of a message from the service."""
    kind = type(msg).__name__
    text = str(getattr(msg, "text", ""))
    if kind == "TicketIssued":
        return f"  ticket  {msg.number} ({msg.service}, {msg.priority_class})"  # type: ignore[attr-defined]
    if kind == "TicketCancelled":
        return f"  cancel  {msg.number}"  # type: ignore[attr-defined]
    if kind == "GoToTerminal":
        return f"  go to   {msg.name}"  # type: ignore[attr-defined]
    if kind == "Error":
        return f"  error   {msg.code}: {msg.message}"  # type: ignore[attr-defined]
    if kind == "Transcript":
        return f"  heard   {text}" + ("" if msg.final else " ...")  # type: ignore[attr-defined]
    if kind == "SpeechOut":
        return f"  speech  {text} ({msg.duration_ms} ms)"  # type: ignore[attr-defined]
    return f"  teller> {text}" if text else f"  {kind}"


async def run_caller(ep: Endpoint, out: Printer, count: int | None = None,
                     timeout: float | None = None, ack: bool = True) -> list[Call]:
    """A number-caller: print each call, acknowledge it; stop after `count` calls or `timeout`."""
    calls: list[Call] = []
    seen: set[str] = set()
    async with session(ep) as ws:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while count is None or len(calls) < count:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            try:
                msg = await receive(ws, left if left is not None else 3600.0)
            except SimulatorError:
                break
            if isinstance(msg, Call):
                if ack:
                    await ws.send(encode(Ack(call=msg.call)))
                if msg.call not in seen:
                    seen.add(msg.call)
                    calls.append(msg)
                    out(f"CALL {msg.number} -> counter {msg.counter}: {msg.text_zh}"
                        + ("" if msg.language == "zh" else f" / {msg.text}"))
    return calls


async def run_teller(ep: Endpoint, counter: str, out: Printer, interval_s: float,
                     stop: asyncio.Event) -> None:
    """Demo teller: call the next customer, serve for a while, complete; repeat."""
    serial = itertools.count(1)
    async with session(ep) as ws:

        async def command(action: str) -> Message:
            ref = f"{action}-{next(serial)}"
            await ws.send(encode(Command(id=ref, action=action, counter=counter)))  # type: ignore[arg-type]
            while True:
                msg = await receive(ws, 15.0)
                if getattr(msg, "ref", None) == ref:
                    return msg

        while not stop.is_set():
            msg = await command("call_next")
            if not isinstance(msg, Error):
                out(f"counter {counter}: serving {getattr(msg, 'text', '')}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
                await command("complete")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s / 2)


def read_script(text: str) -> list[list[str]]:
    """Script lines are customer turns; a blank line starts the next customer."""
    conversations: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            conversations[-1].append(line.strip())
        elif conversations[-1]:
            conversations.append([])
    return [c for c in conversations if c]


__all__ = ["ConnectionClosed", "Endpoint", "SimulatorError", "kiosk_turn", "read_script",
           "run_caller", "run_kiosk", "run_teller", "session"]
