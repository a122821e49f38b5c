"""Executor lanes under load: four kiosks speak while others ask questions that take the LLM path.

Run: .venv/bin/python bench/voice_lanes.py [--quick] [--questions 2]
(or `bench/voice_bench.py --with-questions 2`, which adds these figures under "lanes").

For lanes on and lanes off (`lanes.enabled = false`: one shared 2-thread pool, as before),
one service each with the LLM tier on (models/llm-tiny unless --llm-folder): the speaking kiosks'
end of speech -> first reply audio p50/p95, first alone, then with the question kiosks asking
knowledge questions back to back (each answer is a real LLM call: prompt, decode, grounding
check, until it is grounded or answers.first_sentence_s / deadline_s runs out). Writes
bench/results/voice_lanes.json. The goal: with lanes, the p95 with questions stays within 10%
of the p95 without them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.protocol import State  # noqa: E402

from bench.voice_client import ClipRun, Peer, ServiceProcess, kiosk_ids, of, open_peer  # noqa: E402

OUT = ROOT / "bench" / "results" / "voice_lanes.json"
QUESTIONS = [("en", "How much does a wire transfer cost?"),
             ("zh", "跨行转账手续费是多少"),
             ("en", "What is the minimum for a large-denomination certificate of deposit?"),
             ("zh", "外币兑换需要带什么证件")]
SPEAKERS = 4

LatencyPhase = Callable[[ServiceProcess, Peer, list[list[dict[str, Any]]]],
                        Awaitable[list[ClipRun]]]
Summarise = Callable[[list[ClipRun]], dict[str, Any]]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def health(svc: ServiceProcess) -> dict[str, Any]:
    with urllib.request.urlopen(svc.url.replace("ws://", "http://") + "/health",
                                timeout=10) as reply:
        out: dict[str, Any] = json.loads(reply.read())
        return out


async def wait_for_knowledge(svc: ServiceProcess, timeout: float = 300.0) -> str:
    """First-run indexing must be over, or the questions would get no answer at all."""
    deadline = time.monotonic() + timeout
    state = "loading"
    while time.monotonic() < deadline:
        state = str((await asyncio.to_thread(health, svc)).get("knowledge"))
        if state != "loading":
            return state
        await asyncio.sleep(1.0)
    return state


async def asker(url: str, device: str, credential: str, stop: asyncio.Event,
                offset: int) -> list[dict[str, Any]]:
    """A kiosk asking knowledge questions back to back (replies spoken, as a kiosk would)."""
    peer = await open_peer(url, "kiosk", device, credential, ["tts"])
    asked: list[dict[str, Any]] = []
    i = offset
    while not stop.is_set() and peer.ws.state is State.OPEN:
        lang, text = QUESTIONS[i % len(QUESTIONS)]
        ref = f"q{i}"
        since = time.perf_counter()
        try:
            await peer.ws.send(json.dumps({"type": "text", "id": ref, "text": text,
                                           "language": lang}))
        except ConnectionClosed:
            break
        await peer.wait(lambda r=ref, s=since: any(_answer(peer, r, s)), 30)
        reply, error = _answer(peer, ref, since)
        asked.append({"kiosk": device, "question": text,
                      "reply_s": round(time.perf_counter() - since, 3),
                      "intent": reply.get("intent") if reply else None,
                      "grounded": bool(reply and reply.get("sources")),
                      "error": error.get("code") if error else None})
        with contextlib.suppress(ConnectionClosed):
            await peer.ws.send(json.dumps({"type": "end_session", "reason": "bench: next"}))
        i += 1
        if len(peer.log) > 500:
            peer.log.clear()
    await peer.close()
    return asked


async def one_setting(lanes_on: bool, clips: list[dict[str, Any]], per: int, questions: int,
                      llm_folder: str, latency_phase: LatencyPhase,
                      summarise: Summarise, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One service: the speakers alone, then the speakers with `questions` askers."""
    plan = [[clips[(k + j) % len(clips)] for j in range(per)] for k in range(SPEAKERS)]
    out: dict[str, Any] = {"lanes_enabled": lanes_on}
    with tempfile.TemporaryDirectory(prefix="voice-lanes-") as tmp:
        svc = ServiceProcess(Path(tmp), n_kiosks=SPEAKERS + questions,
                             overrides=(f"lanes.enabled={str(lanes_on).lower()}", *extra),
                             llm_folder=llm_folder)
        svc.start()
        try:
            out["knowledge"] = await wait_for_knowledge(svc)
            console = await open_peer(svc.url, "console", "manager", "demo-manager")
            out["load_before_alone"] = load()
            alone = await _phase(latency_phase, summarise, svc, console, plan)
            out["load_after_alone"] = load()
            stop = asyncio.Event()
            ids = kiosk_ids(SPEAKERS + questions)[SPEAKERS:]
            askers = [asyncio.create_task(asker(svc.url, d, c, stop, n))
                      for n, (d, c) in enumerate(ids)]
            await asyncio.sleep(2.0)  # the first questions are on the model before anyone speaks
            out["load_before_with_questions"] = load()
            try:
                loaded = await _phase(latency_phase, summarise, svc, console, plan)
            finally:
                stop.set()
                asked = [q for group in await asyncio.gather(*askers) for q in group]
            out["load_after_with_questions"] = load()
            out["health_lanes"] = (await asyncio.to_thread(health, svc)).get("lanes")
            with contextlib.suppress(Exception):
                await console.close()
        finally:
            svc.stop()
    out["alone"] = _brief(alone)
    out["with_questions"] = _brief(loaded)
    out["questions"] = {"asked": len(asked),
                        "grounded": sum(1 for q in asked if q["grounded"]),
                        "errors": sorted({q["error"] for q in asked if q["error"]}),
                        "reply_s_median": _median([q["reply_s"] for q in asked]),
                        "intents": sorted({str(q["intent"]) for q in asked})}
    a, w = out["alone"].get("p95_s"), out["with_questions"].get("p95_s")
    out["p95_ratio"] = round(w / a, 3) if a and w else None
    return out


async def _phase(latency_phase: LatencyPhase, summarise: Summarise, svc: ServiceProcess,
                 console: Peer, plan: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """One latency phase; a dropped connection (an overloaded box) is reported, not fatal."""
    try:
        return summarise(await latency_phase(svc, console, plan))
    except ConnectionClosed as err:
        return {"error": f"{type(err).__name__}: {err}"}


def _answer(peer: Peer, ref: str, since: float
            ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The reply to a question, or the error that refused it."""
    reply = next((m for _, m in of(peer, "reply", since) if m.get("id") == ref), None)
    error = next((m for _, m in of(peer, "error", since) if m.get("ref") == ref), None)
    return reply, error


def _median(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keep = ("p50_s", "p95_s", "n", "missing", "max_s", "server_stages_last_turn", "error")
    return {k: summary[k] for k in keep if k in summary}


async def lanes_bench(clips: list[dict[str, Any]], questions: int, quick: bool,
                      latency_phase: LatencyPhase, summarise: Summarise,
                      llm_folder: str = "models/llm-tiny", settings: tuple[bool, ...] = (True, False),
                      extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Lanes on and lanes off, each alone and with `questions` asking kiosks."""
    per = 2 if quick else len(clips)
    result: dict[str, Any] = {"questions": questions, "speaking_kiosks": SPEAKERS,
                              "clips_per_speaker": per, "llm_folder": llm_folder,
                              "service_overrides": list(extra)}
    for lanes_on in settings:
        key = "lanes_on" if lanes_on else "lanes_off"
        result[key] = await one_setting(lanes_on, clips, per, questions, llm_folder,
                                        latency_phase, summarise, extra)
    result["method"] = (
        "speaking kiosks as in turn_4_kiosks (real clips at real-time pace, end of speech -> "
        "first reply audio); question kiosks send typed knowledge questions back to back "
        "(next one as soon as the reply arrives), starting 2 s before the speakers; lanes_off "
        "= lanes.enabled false: VAD, routing, answers and indexing share one 2-thread pool.")
    return result


def main() -> None:
    from bench.voice_bench import latency_phase, load_clips, summarise

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 clips per speaking kiosk")
    parser.add_argument("--questions", type=int, default=2, help="kiosks asking questions")
    parser.add_argument("--llm-folder", default="models/llm-tiny")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", choices=["on", "off"], help="one setting instead of both")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a service setting for both runs (e.g. lanes.answers.nice=10)")
    args = parser.parse_args()
    settings = (True, False) if args.only is None else (args.only == "on",)
    started = time.perf_counter()
    load0 = load()
    result = asyncio.run(lanes_bench(load_clips(), args.questions, args.quick, latency_phase,
                                     summarise, args.llm_folder, settings, tuple(args.set)))
    result.update({"quick": args.quick, "load_average_1_5_15": {"start": load0, "end": load()},
                   "wall_s": round(time.perf_counter() - started, 1)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    print(table(result))
    print(f"load average start {load0} end {load()}; wrote {args.out}")


def table(result: dict[str, Any]) -> str:
    """Speakers' end of speech -> first audio, alone and with questions, lanes on and off."""
    lines = [f"{'setting':<10} {'phase':<16} {'p50 s':>7} {'p95 s':>7} {'n':>3}  load(1m)"]
    for key in ("lanes_on", "lanes_off"):
        r = result.get(key)
        if not r:
            continue
        for phase, load_key in (("alone", "load_after_alone"),
                                ("with_questions", "load_after_with_questions")):
            p = r[phase]
            lines.append(f"{key:<10} {phase:<16} {p.get('p50_s')!s:>7} {p.get('p95_s')!s:>7} "
                         f"{p.get('n')!s:>3}  {r[load_key][0]}  {p.get('error', '')}")
        q = r["questions"]
        lines.append(f"{key:<10} p95 ratio {r['p95_ratio']}; questions asked {q['asked']}, "
                     f"grounded {q['grounded']}, errors {q['errors']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
