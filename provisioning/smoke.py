"""Smoke-test a staged bundle in a child process, so a model that crashes on load or on its
first use takes down only the test, never the service.

Each component is loaded the way the service loads it and asked to do its job once: the
router routes a sample question, the LLM answers it, a voice synthesises a sentence, Whisper
transcribes that sentence (or a second of silence), the VAD scores frames, the knowledge
pack is indexed into a scratch folder and searched. `run_smoke` (asyncio, in the service)
starts `python -m provisioning.smoke`, kills it after a time limit, and returns the reasons
it failed (empty: it passed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from provisioning import manifest as m

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # so the child imports this code
SAMPLE_QUESTION = "我的银行卡丢了怎么办"
SAMPLE_SENTENCE = {"zh": "您好，请到三号窗口办理。", "en": "Hello, please go to counter three."}


class Check(msgspec.Struct, frozen=True):
    """One component's smoke test."""

    component: str
    kind: str
    ok: bool
    detail: str
    took_s: float


class SmokeReport(msgspec.Struct, frozen=True):
    """What the child process prints (one JSON line)."""

    checks: list[Check]

    @property
    def problems(self) -> list[str]:
        return [f"{c.component} ({c.kind}): {c.detail}" for c in self.checks if not c.ok]


# ------------------------------------------------------------ in the child process


def _router(folder: Path, ctx: dict[str, Any]) -> str:
    from intents.understanding.router import Router

    files = sorted(folder.glob("*.npz"))
    if not files:
        raise FileNotFoundError("no router .npz file")
    routed = Router.load(files[0], encoder=None).route(SAMPLE_QUESTION)
    if not routed.intent:
        raise ValueError("the router gave no intent")
    ctx["candidates"] = [(i, i) for i, _ in routed.candidates[:3]]
    return f"routed the sample question to {routed.intent} ({routed.confidence:.2f})"


def _llm(folder: Path, ctx: dict[str, Any]) -> str:
    from intents.answers.llm import LlmEngine

    engine = LlmEngine.load(folder, "cpu", 2)
    text = "".join(
        engine.stream_answer(
            "You are a bank teller. Answer in one sentence.",
            SAMPLE_QUESTION,
            deadline_s=60,
            max_new_tokens=24,
        )
    )
    if not text.strip():
        raise ValueError("the model answered nothing")
    return f"answered the sample question ({len(text)} characters)"


def _tts(folder: Path, ctx: dict[str, Any]) -> str:
    from speech.settings import TtsSettings
    from speech.tts import load_voice

    voice = load_voice(folder, TtsSettings())
    language = "zh" if (folder / "voice.json").is_file() else "en"
    chunk = voice.synthesize(SAMPLE_SENTENCE[language])
    if chunk.duration_ms < 300:
        raise ValueError(f"synthesised only {chunk.duration_ms} ms of audio")
    ctx.setdefault("speech", (chunk, language))
    return f"synthesised a {language} sentence ({chunk.duration_ms} ms)"


def _audio(ctx: dict[str, Any]) -> tuple[Any, str]:
    import numpy as np
    import soxr

    from speech.audio import pcm16_to_float32

    spoken = ctx.get("speech")
    if spoken is None:
        return np.zeros(16_000, dtype=np.float32), "a second of silence"
    chunk, language = spoken
    audio = soxr.resample(pcm16_to_float32(chunk.pcm), chunk.sample_rate, 16_000)
    return np.asarray(audio, dtype=np.float32), f"the synthesised {language} sentence"


def _stt(folder: Path, ctx: dict[str, Any]) -> str:
    from speech.settings import SttSettings
    from speech.stt import SttEngine

    engine = SttEngine.from_settings(folder, SttSettings())
    try:
        audio, what = _audio(ctx)
        text = engine.transcribe_sync(audio).text
    finally:
        engine.close()
    return f"transcribed {what}: {text[:40]!r}"


def _vad(folder: Path, ctx: dict[str, Any]) -> str:

    from speech.vad import FRAME_SAMPLES, SileroVad

    files = sorted(folder.glob("*.onnx"))
    if not files:
        raise FileNotFoundError("no .onnx VAD model")
    stream = SileroVad.load(files[0]).new_stream()
    audio, what = _audio(ctx)
    frames = len(audio) // FRAME_SAMPLES
    best = max(
        stream.process(audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]) for i in range(frames)
    )
    return f"scored {frames} frames of {what} (peak {best:.2f})"


def _knowledge(folder: Path, ctx: dict[str, Any]) -> str:
    from intents.knowledge import KnowledgeHub

    with tempfile.TemporaryDirectory(prefix="smoke-kb-") as scratch:
        hub = KnowledgeHub.open(scratch)
        report = hub.reindex([folder])
        if not hub.passages:
            raise ValueError(f"no passages indexed ({len(report.errors)} errors)")
        found = hub.search(SAMPLE_QUESTION, k=3, mode="bm25")
    return f"indexed {len(hub.passages)} passages, {len(found)} found for the sample question"


CHECKS: dict[str, Callable[[Path, dict[str, Any]], str]] = {
    "tts": _tts,
    "stt": _stt,
    "vad": _vad,
    "router": _router,
    "llm": _llm,
    "knowledge": _knowledge,
}
ORDER = ("tts", "stt", "vad", "router", "llm", "knowledge")  # speech first: STT hears it


def smoke(root: Path, names: list[str]) -> SmokeReport:
    """Load and exercise each named component of the model root `root` (blocking)."""
    plan: list[tuple[str, str]] = []
    checks: list[Check] = []
    for name in names:
        try:
            plan.append((name, m.read(root / name).kind))
        except m.ManifestError as err:
            checks.append(Check(name, "?", False, str(err), 0.0))
    plan.sort(key=lambda p: ORDER.index(p[1]) if p[1] in ORDER else len(ORDER))
    ctx: dict[str, Any] = {}
    for name, kind in plan:
        started = time.perf_counter()
        check = CHECKS.get(kind)
        if check is None:  # intents, config: verified files; this service loads none yet
            checks.append(Check(name, kind, True, "files verified (not loaded)", 0.0))
            continue
        try:
            detail, ok = check(root / name, ctx), True
        except Exception as err:
            detail, ok = f"{type(err).__name__}: {err}", False
        checks.append(Check(name, kind, ok, detail, round(time.perf_counter() - started, 3)))
    return SmokeReport(checks)


def _die_with(parent: int) -> None:
    """Linux: a killed service takes its smoke test with it (no orphan loading models)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # it died before the line above
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.smoke", description="Smoke-test components of a staged bundle."
    )
    parser.add_argument("root", help="the staged bundle's model root")
    parser.add_argument("components", nargs="+", help="component folder names to test")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority")
    parser.add_argument("--parent", type=int, default=0, help="die when this process dies")
    args = parser.parse_args(argv)
    if args.parent:
        _die_with(args.parent)
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)  # customers' turns on the same cores come first
    report = smoke(Path(args.root), list(args.components))
    sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    return 0 if not report.problems else 1


# ------------------------------------------------------------ in the service


async def run_smoke(
    root: Path, names: list[str], timeout_s: float, nice: int = 0
) -> tuple[list[str], SmokeReport | None]:
    """Run the smoke test in a child process; (problems, report). A crash, a time-out or
    garbage output is a problem like a failed check."""
    if not names:
        return [], SmokeReport([])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provisioning.smoke",
        str(root),
        *names,
        f"--nice={nice}",
        f"--parent={os.getpid()}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError) as stop:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(stop, asyncio.CancelledError):
            raise
        return [f"smoke test did not finish within {timeout_s:g} s"], None
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        report = msgspec.json.decode(lines[-1], type=SmokeReport) if lines else None
    except msgspec.DecodeError:
        report = None
    if report is None:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        how = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode and proc.returncode < 0
            else f"exit {proc.returncode}"
        )
        return [f"smoke test crashed ({how}): {tail[0][:200]}"], None
    return report.problems, report


if __name__ == "__main__":
    raise SystemExit(main())
