"""Voice bench plumbing: the service as a subprocess, kiosks that stream clips in real time.

Every received message is logged with its arrival time (time.perf_counter) so latencies are
computed afterwards from the log, whatever order turns complete in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect

from devices.frames import KIND_AUDIO_IN, KIND_AUDIO_OUT, AudioFrame, decode_frame
from devices.protocol import PROTOCOL_VERSION
from devices.staff_login import login

ROOT = Path(__file__).resolve().parents[1]
CHUNK_MS = 32  # one Silero frame per websocket frame, as a kiosk microphone would send
RATE = 16_000


def kiosk_ids(n: int) -> list[tuple[str, str]]:
    """(device id, credential) of n kiosks; the first two are the demo ones."""
    return [(f"kiosk-{i}", f"demo-kiosk-{i}") for i in range(1, n + 1)]


def devices_toml(n_kiosks: int) -> str:
    """The `devices` list for --set: every demo device plus extra kiosks up to n_kiosks
    (staff consoles log in with staff accounts, not device credentials)."""
    rows = [
        '{id="kiosk-1", role="kiosk", credential="demo-kiosk-1"}',
        '{id="kiosk-2", role="kiosk", credential="demo-kiosk-2", language="en"}',
        '{id="caller-1", role="caller", credential="demo-caller-1"}',
        '{id="display-1", role="caller", credential="demo-display-1"}',
    ]
    rows += [f'{{id="{d}", role="kiosk", credential="{c}"}}' for d, c in kiosk_ids(n_kiosks)[2:]]
    return "[" + ", ".join(rows) + "]"


class ServiceProcess:
    """`edge.cli serve` in a subprocess; knows its URL and pid (for VmRSS)."""

    def __init__(self, data_dir: Path, n_kiosks: int = 4, overrides: tuple[str, ...] = (),
                 llm_folder: str = "") -> None:
        self.data_dir = data_dir
        self.llm_folder = llm_folder
        self.n_kiosks = n_kiosks
        self.overrides = overrides
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 180.0) -> str:
        """Start and wait for 'listening on ws://HOST:PORT' (models load for several seconds)."""
        cmd = [sys.executable, "-m", "edge.cli", "serve", "--port", "0", "--data-dir",
               str(self.data_dir), "--knowledge-dense", "false", "--log-level", "WARNING",
               # the issue measures the voice path without the LLM tier (bench/llm_bench.py
               # measures that): unsure turns are asked back, not sent to the model
               "--llm-folder", self.llm_folder,
               "--set", f"devices={devices_toml(self.n_kiosks)}"]
        for item in self.overrides:
            cmd += ["--set", item]
        # the benches' console logs in as a manager (staff accounts, not device credentials);
        # cheap argon2 on a bench box whose staff are this script
        subprocess.run([sys.executable, "-m", "edge.cli", "staff", "add", "manager", "--role",
                        "manager", "--password-stdin", "--data-dir", str(self.data_dir)],
                       input="demo-manager\n", text=True, cwd=ROOT, check=False,
                       capture_output=True)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.url = wait_listening(self.proc, timeout)
        return self.url

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> float:
        """VmRSS of the service process in MB (from /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def metrics(self) -> str:
        """GET /metrics (Prometheus text)."""
        http = self.url.replace("ws://", "http://") + "/metrics"
        with urllib.request.urlopen(http, timeout=10) as reply:
            return str(reply.read().decode())

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stage_means(metrics_text: str, kind: str = "voice") -> dict[str, dict[str, float]]:
    """Count and mean seconds per stage of branch_teller_turn_stage_seconds for one turn kind."""
    out: dict[str, dict[str, float]] = {}
    pattern = re.compile(r'branch_teller_turn_stage_seconds_(sum|count)\{kind="(\w+)",'
                         r'stage="(\w+)"\} ([0-9.e+-]+)')
    for part, k, stage, value in pattern.findall(metrics_text):
        if k == kind:
            out.setdefault(stage, {})[part] = float(value)
    return {s: {"count": v.get("count", 0.0),
                "mean_s": round(v.get("sum", 0.0) / v["count"], 4) if v.get("count") else 0.0}
            for s, v in out.items()}


@dataclass
class Peer:
    """A connected websocket with a reader task logging (arrival time, message)."""

    ws: ClientConnection
    log: list[tuple[float, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                msg = decode_frame(raw) if isinstance(raw, bytes) else json.loads(raw)
                self.log.append((time.perf_counter(), msg))
                self.event.set()

    async def wait(self, until: Any, timeout: float) -> bool:
        """Wait until `until()` holds (re-checked on every message and every 0.1 s)."""
        deadline = time.perf_counter() + timeout
        while not until():
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), min(left, 0.1))
        return True

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await self.reader


def wait_listening(proc: subprocess.Popen[str], timeout: float) -> str:
    """The URL a starting `edge.cli serve` prints ("listening on ws://HOST:PORT")."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"service exited with {proc.wait()}")
        found = re.search(r"listening on (ws://\S+)", line)
        if found:
            return found.group(1)
    raise TimeoutError("service did not start listening")


async def open_peer(url: str, role: str, device: str, credential: str,
                    capabilities: list[str] | None = None) -> Peer:
    """Connect, hello, check the welcome, start logging everything that arrives. A console
    logs in as the staff account `device` with password `credential` first (GET /login)."""
    headers: dict[str, str] = {}
    if role == "console":
        session = await login(url, device, credential, timeout=20)
        headers = session.header()
        credential = ""
    ws = await connect(f"{url}/{role}", open_timeout=20, max_size=2**24,
                       additional_headers=headers)
    await ws.send(json.dumps({"type": "hello", "device_id": device, "role": role,
                              "credential": credential, "protocol": PROTOCOL_VERSION,
                              "capabilities": capabilities or []}))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 20))
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"{device}: {welcome}")
    peer = Peer(ws)
    peer.reader = asyncio.create_task(peer._read())
    return peer


def of(peer: Peer, kind: str, since: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
    """Logged JSON messages of one type that arrived at or after `since`."""
    return [(t, m) for t, m in peer.log if t >= since and isinstance(m, dict)
            and m.get("type") == kind]


def first_audio(peer: Peer, turn: int) -> float | None:
    """Arrival time of the first synthesised-speech binary frame of a turn."""
    return next((t for t, m in peer.log if isinstance(m, AudioFrame)
                 and m.kind == KIND_AUDIO_OUT and m.stream == turn), None)


async def stream_clip(peer: Peer, stream: int, pcm: npt.NDArray[np.int16],
                      silence_s: float = 1.2, pace: bool = True) -> list[float]:
    """Send audio_start, the clip in CHUNK_MS chunks at real-time pace, silence, audio_end;
    returns the wall time (perf_counter) at which each of the clip's chunks was sent.

    A microphone sends a chunk once it has recorded it, so the customer's end of speech is the
    send time of the chunk holding the last voiced sample (bench.speech_ends), not of the
    clip's last chunk: the clips end with up to 0.7 s of silence."""
    await peer.ws.send(json.dumps({"type": "audio_start", "stream": stream,
                                   "sample_rate": RATE}))
    step = RATE * CHUNK_MS // 1000
    quiet = np.zeros(int(silence_s * RATE), np.int16)
    chunks = [pcm[i:i + step] for i in range(0, len(pcm), step)]
    n_clip = len(chunks)
    chunks += [quiet[i:i + step] for i in range(0, len(quiet), step)]
    start = time.perf_counter()
    sent: list[float] = []
    for seq, chunk in enumerate(chunks):
        if pace:  # absolute schedule: a late wake-up does not slow the stream down
            delay = start + seq * CHUNK_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await peer.ws.send(AudioFrame(KIND_AUDIO_IN, stream, seq, chunk.tobytes()).encode())
        if seq < n_clip:
            sent.append(time.perf_counter())
    await peer.ws.send(json.dumps({"type": "audio_end", "stream": stream}))
    return sent


def settled(peer: Peer, since: float, quiet_s: float, final_after: float = 0.0) -> bool:
    """A final transcript arrived after `final_after` (the clip's end: its last turn is in),
    every final since `since` has its reply and the reply's audio (tts kiosk), and nothing
    arrived for quiet_s."""
    finals = [m for _, m in of(peer, "transcript", since) if m["final"]]
    if not [m for _, m in of(peer, "transcript", final_after) if m["final"]]:
        return False
    replies = [m for _, m in of(peer, "reply", since)]
    if len(replies) < len(finals):
        return False
    if any(first_audio(peer, r["turn"]) is None and r["text"] for r in replies):
        return False
    last = peer.log[-1][0] if peer.log else since
    return time.perf_counter() - max(last, since) >= quiet_s


@dataclass
class ClipRun:
    """One clip streamed by one kiosk, and what came back for it."""

    kiosk: str
    file: str
    lang: str
    reference: str
    stream: int
    sent_at: float
    speech_end: float  # send time of the chunk holding the clip's last voiced sample
    hypothesis: str = ""
    turns: int = 0
    latency_s: float | None = None
    reply: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def account(peer: Peer, runs: list[ClipRun]) -> None:
    """Fill hypothesis, turn count and true end of speech -> first audio of each run.

    The k-th final transcript of a kiosk is answered by its k-th reply (voice turns are answered
    in order); a clip split into several turns is timed by its last turn."""
    finals = [(t, m) for t, m in of(peer, "transcript") if m["final"]]
    replies = [m for _, m in of(peer, "reply")]
    by_stream: dict[int, list[tuple[dict[str, Any], dict[str, Any] | None]]] = {}
    for k, (_, m) in enumerate(finals):
        by_stream.setdefault(m["stream"], []).append((m, replies[k] if k < len(replies) else None))
    for run in runs:
        pairs = by_stream.get(run.stream, [])
        run.turns = len(pairs)
        sep = " " if run.lang == "en" else ""
        run.hypothesis = sep.join(m["text"] for m, _ in pairs)
        if pairs and pairs[-1][1] is not None:
            run.reply = " | ".join(f"{r['intent']}: {r['text'][:80]}" for _, r in pairs if r)
            audio_at = first_audio(peer, pairs[-1][1]["turn"])
            if audio_at is not None:
                run.latency_s = audio_at - run.speech_end


def attach_console_timings(console: Peer, device: str, runs: list[ClipRun],
                           replies_turns: dict[int, int], since: float) -> None:
    """Copy the console's per-turn timings_ms (last turn of each clip) onto the runs; turn
    numbers restart with every kiosk connection, so only logs since `since` count."""
    turns = {(m["device"], m["turn"]): m for _, m in of(console, "turn", since)
             if m.get("speaker") == "customer"}
    for run in runs:
        turn = replies_turns.get(run.stream)
        if turn is not None and (device, turn) in turns:
            run.timings_ms = dict(turns[(device, turn)]["timings_ms"])


def last_reply_turns(peer: Peer) -> dict[int, int]:
    """stream -> turn number of the reply to that stream's last final transcript."""
    finals = [m for _, m in of(peer, "transcript") if m["final"]]
    replies = [m for _, m in of(peer, "reply")]
    out: dict[int, int] = {}
    for k, m in enumerate(finals):
        if k < len(replies):
            out[m["stream"]] = replies[k]["turn"]
    return out
