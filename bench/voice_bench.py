"""Voice benchmark against the real running service: clips streamed at real-time pace like a kiosk.

Run: .venv/bin/python bench/voice_bench.py [--quick]   (full run ~35 min on 2 cores)
Reports STT CER (zh) / WER (en) of the service's transcripts, STT RTF and TTS first audio / RTF
(in-process, same engines and settings), true end of speech -> first reply audio p50/p95 with
one kiosk and with 4 concurrent kiosks, the server's per-stage timings (console `turn` messages
and GET /metrics), and the service's RSS growth over 1,000 turns after a 200-turn warm-up.
Writes bench/results/voice_bench.json.

End of speech is the send time of the chunk holding the clip's last voiced sample (Silero,
found once by bench/speech_ends.py and stored with each clip's sha256), not of the clip's last
chunk: the clips end with up to 0.7 s of silence that the endpointer has to wait through too.

Each service phase is one `Scenario` in SCENARIOS: another module can add its own with
`SCENARIOS["name"] = fn` before calling main().
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.speech_ends import load_ends, speech_end_chunk, stored_end  # noqa: E402
from bench.voice_client import (  # noqa: E402
    CHUNK_MS,
    ClipRun,
    Peer,
    ServiceProcess,
    account,
    attach_console_timings,
    first_audio,
    kiosk_ids,
    last_reply_turns,
    of,
    open_peer,
    settled,
    stage_means,
    stream_clip,
)
from bench.voice_inproc import stt_rtf, tts_figures, window_experiment  # noqa: E402
from speech.textnorm import cer, wer  # noqa: E402

CLIPS = ROOT.parent / "shared" / "datasets" / "speech"
OUT = ROOT / "bench" / "results" / "voice_bench.json"
TEXT_TURNS = [("en", "What time do you open on Saturday?"), ("zh", "你们周六几点开门"),
              ("en", "How much does a wire transfer cost?"), ("zh", "我想查一下余额"),
              ("en", "I lost my bank card"), ("zh", "今天天气怎么样"),
              ("en", "I want to open an account"), ("zh", "我要存五千块钱")]


def load_clips() -> list[dict[str, Any]]:
    """The shared clips with their PCM and the index of the chunk that ends their speech."""
    with (CLIPS / "manifest.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ends = load_ends()
    for row in rows:
        pcm, rate = sf.read(CLIPS / row["file"], dtype="int16")
        assert rate == 16_000, row["file"]
        row["pcm"] = pcm
        end = stored_end(CLIPS / row["file"], ends)  # raises if the clip changed
        row["speech_end_s"] = end.speech_end_s
        row["end_chunk"] = speech_end_chunk(CLIPS / row["file"], CHUNK_MS, end.speech_end_s)
    return rows


def pct(values: list[float], q: float) -> float | None:
    """Percentile (linear interpolation); None when there is nothing to summarise."""
    return round(float(np.percentile(values, q)), 3) if values else None


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def kiosk_loop(url: str, device: str, credential: str, clips: list[dict[str, Any]],
                     stream0: int, delay_s: float) -> tuple[Peer, list[ClipRun]]:
    """One kiosk: each clip at real-time pace, then wait for its answer; a new customer each."""
    await asyncio.sleep(delay_s)
    peer = await open_peer(url, "kiosk", device, credential, ["audio", "tts"])
    runs: list[ClipRun] = []
    for i, c in enumerate(clips):
        since = time.perf_counter()
        sent = await stream_clip(peer, stream0 + i, c["pcm"])
        runs.append(ClipRun(device, c["file"], c["lang"], c["reference"], stream0 + i,
                            since, sent[c["end_chunk"]]))
        # the last turn is in once a final arrives after the end of speech (with the semantic
        # end of turn it may come before the clip's trailing silence has all been sent)
        await peer.wait(lambda s=since, e=sent[c["end_chunk"]]: settled(peer, s, 1.0, e),
                        timeout=60)
        await peer.ws.send(json.dumps({"type": "end_session", "reason": "bench: next customer"}))
    account(peer, runs)
    return peer, runs


async def latency_phase(svc: ServiceProcess, console: Peer, plan: list[list[dict[str, Any]]]
                        ) -> list[ClipRun]:
    """Kiosk i streams plan[i] (all kiosks at once, staggered by 0.8 s)."""
    ids = kiosk_ids(len(plan))
    since = time.perf_counter()
    results = await asyncio.gather(*(kiosk_loop(svc.url, d, c, plan[i], 1000 * (i + 1), 0.8 * i)
                                      for i, (d, c) in enumerate(ids)))
    await asyncio.sleep(3.0)  # console `turn` logs arrive after the reply has been synthesised
    runs: list[ClipRun] = []
    for (device, _), (peer, kiosk_runs) in zip(ids, results, strict=True):
        attach_console_timings(console, device, kiosk_runs, last_reply_turns(peer), since)
        runs += kiosk_runs
        await peer.close()
    return runs


def summarise(runs: list[ClipRun]) -> dict[str, Any]:
    """Latency over single-turn clips (a clip heard as several turns has its later replies
    queued behind the earlier ones: reported per clip, not in p50/p95); CER/WER over all."""
    lat = [r.latency_s for r in runs if r.latency_s is not None and r.turns == 1]
    multi = [r for r in runs if r.turns > 1]
    zh = [cer(r.reference, r.hypothesis, "zh") for r in runs if r.lang == "zh"]
    en = [wer(r.reference, r.hypothesis, "en") for r in runs if r.lang == "en"]
    stages: dict[str, dict[str, float | None]] = {}
    for stage in ("stt_final", "route", "answer", "first_audio"):
        vals = [r.timings_ms[stage] / 1000 for r in runs if stage in r.timings_ms]
        stages[stage] = {"p50_s": pct(vals, 50), "p95_s": pct(vals, 95)}
    return {"p50_s": pct(lat, 50), "p95_s": pct(lat, 95), "n": len(lat),
            "missing": len([r for r in runs if r.turns <= 1]) - len(lat),
            "max_s": pct(lat, 100),
            "multi_turn_clips": [{"file": r.file, "turns": r.turns, "last_turn_latency_s":
                                  None if r.latency_s is None else round(r.latency_s, 3)}
                                 for r in multi],
            "zh_cer": round(statistics.mean(zh), 4) if zh else None,
            "en_wer": round(statistics.mean(en), 4) if en else None,
            "server_stages_last_turn": stages,
            "per_clip": [{"kiosk": r.kiosk, "file": r.file, "turns": r.turns,
                          "latency_s": None if r.latency_s is None else round(r.latency_s, 3),
                          "hypothesis": r.hypothesis, "reply": r.reply,
                          "timings_ms": r.timings_ms}
                         for r in runs]}


async def text_turn(peer: Peer, ref: str, text: str, whole: bool
                    ) -> tuple[float, str, int] | None:
    """One typed turn; waits for the reply and its first (or, if `whole`, last) sentence;
    returns send -> first audio, the first spoken sentence and its duration in ms."""
    since = time.perf_counter()
    await peer.ws.send(json.dumps({"type": "text", "id": ref, "text": text}))
    await peer.wait(lambda: bool([m for _, m in of(peer, "reply", since) if m.get("id") == ref]),
                    30)
    reply = next((m for _, m in of(peer, "reply", since) if m.get("id") == ref), None)
    if reply is None or not reply["text"]:
        return None
    await peer.wait(lambda: first_audio(peer, reply["turn"]) is not None and (not whole or any(
        m["turn"] == reply["turn"] and m["final"] for _, m in of(peer, "speech", since))), 30)
    at = first_audio(peer, reply["turn"])
    first = next((m for _, m in of(peer, "speech", since)
                  if m["turn"] == reply["turn"] and m["seq"] == 0), None)
    if at is None or first is None:
        return None
    return at - since, first["text"], first["duration_ms"]


class RssTarget(Protocol):
    """A running service: where to connect and how much memory it holds."""

    url: str

    def rss_mb(self) -> float: ...


async def rss_phase(svc: RssTarget, clips: list[dict[str, Any]], turns: int, warmup: int,
                    audio_every: int, every: int = 50,
                    on_sample: Callable[[int], None] | None = None,
                    max_s: float | None = None) -> dict[str, Any]:
    """Every clip once, then `warmup` + `turns` turns on one kiosk: typed turns (spoken back; the next turn follows
    the first audio, so most replies are cut short by it, every 5th plays out) and every
    `audio_every`-th an audio clip sent as fast as the socket takes it. VmRSS is sampled every
    `every` turns (printed as it goes; `on_sample(turn)` then); growth is counted from the
    end of the warm-up. With `max_s`, the phase stops at the first sample after that many
    seconds (a loaded machine) and says so: growth is then over fewer turns."""
    peer = await open_peer(svc.url, "kiosk", "kiosk-1", "demo-kiosk-1", ["audio", "tts"])
    samples: list[tuple[int, float]] = [(0, round(svc.rss_mb(), 2))]
    text_first: dict[str, list[float]] = {"en": [], "zh": []}
    sentences: dict[str, dict[str, Any]] = {}
    n_audio = n_text = 0
    started = time.perf_counter()
    # Every clip once before the warm-up: whatever a clip allocates the first time it is heard
    # is not growth. (The 2026-12-06 run's +27.7 MB was not that: VmRSS moves +-40 MB between
    # samples here, glibc arenas, so two single samples cannot resolve 5 MB; hence the
    # block-median figure below as well.)
    for n, c in enumerate(clips):
        since = time.perf_counter()
        sent = await stream_clip(peer, 40_000 + n, c["pcm"], silence_s=1.0, pace=False)
        await peer.wait(lambda s=since, e=sent[-1]: settled(peer, s, 0.3, e), timeout=60)
        await peer.ws.send(json.dumps({"type": "end_session", "reason": "bench"}))
        n_audio += 1
    total = warmup + turns
    stopped_at: int | None = None
    for i in range(1, total + 1):
        # audio turns fall between the RSS samples (every 50th turn), never just before one:
        # right after a clip, STT buffers not yet given back read as +15 MB of transient RSS
        if i % audio_every == audio_every // 4:
            c = clips[(i // audio_every) % len(clips)]
            since = time.perf_counter()
            sent = await stream_clip(peer, 50_000 + i, c["pcm"], silence_s=1.0, pace=False)
            await peer.wait(lambda s=since, e=sent[-1]: settled(peer, s, 0.3, e), timeout=60)
            n_audio += 1
        else:
            lang, text = TEXT_TURNS[i % len(TEXT_TURNS)]
            took = await text_turn(peer, f"r{i}", text, whole=i % 5 == 4)
            if took is not None:
                text_first[lang].append(took[0])
                sentences.setdefault(text, {"first_sentence": took[1], "audio_ms": took[2],
                                            "first_audio_s": []})["first_audio_s"].append(
                                                round(took[0], 3))
            n_text += 1
        if i % 5 == 0:
            await peer.ws.send(json.dumps({"type": "end_session", "reason": "bench"}))
        if len(peer.log) > 2000:  # the bench's own log must not grow either
            peer.log.clear()
        if i == warmup or i % every == 0 or i == total:
            samples.append((i, round(svc.rss_mb(), 2)))
            base = next((mb for n, mb in samples if n == warmup), None)
            since_warm = "" if base is None else f" ({samples[-1][1] - base:+.1f} since warm-up)"
            print(f"  rss turn {i:5d}: {samples[-1][1]:8.1f} MB{since_warm}", flush=True)
            if on_sample is not None:
                on_sample(i)
            if max_s is not None and i > warmup and time.perf_counter() - started > max_s:
                stopped_at = i
                print(f"  rss phase stopped after {i} turns: over {max_s:.0f} s", flush=True)
                break
    await peer.close()
    base = next(mb for n, mb in samples if n == warmup)
    after = [(n - warmup, mb - base) for n, mb in samples if n >= warmup]
    slope = float(np.polyfit([n for n, _ in after], [mb for _, mb in after], 1)[0]) * 1000
    return {"growth_mb": round(samples[-1][1] - base, 2),
            "block_median_growth_mb": block_median_growth(samples, warmup),
            "max_growth_mb": round(max(mb for _, mb in after), 2),
            "slope_mb_per_1000_turns": round(slope, 2), "samples_mb": samples,
            "turns": (stopped_at or total) - warmup, "turns_planned": turns,
            "stopped_early": stopped_at is not None, "warmup_turns": warmup, "text_turns": n_text, "audio_turns": n_audio,
            "wall_s": round(time.perf_counter() - started, 1),
            "text_turn_first_audio_s": {k: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)}
                                        for k, v in text_first.items()},
            "text_turn_first_sentences": {k: {**v, "first_audio_s": pct(v["first_audio_s"], 50)}
                                          for k, v in sentences.items()}}


def block_median_growth(samples: list[tuple[int, float]], warmup: int, k: int = 4) -> float:
    """Median of the last `k` samples less the median of the first `k` after the warm-up:
    growth that a +-40 MB sample-to-sample swing cannot fake in either direction."""
    after = [mb for n, mb in samples if n > warmup]
    if len(after) < 2 * k:
        return round(after[-1] - after[0], 2) if len(after) > 1 else 0.0
    return round(float(np.median(after[-k:]) - np.median(after[:k])), 2)


Scenario = Callable[[ServiceProcess, Peer, list[dict[str, Any]], argparse.Namespace],
                    Awaitable[dict[str, Any]]]


async def one_kiosk(svc: ServiceProcess, console: Peer, clips: list[dict[str, Any]],
                    args: argparse.Namespace) -> dict[str, Any]:
    """One kiosk streams every clip `reps` times."""
    reps = 1 if args.quick else args.reps
    out = {"turn": summarise(await latency_phase(svc, console, [clips * reps]))}
    out["metrics_after_1_kiosk"] = stage_means(svc.metrics())
    return out


async def four_kiosks(svc: ServiceProcess, console: Peer, clips: list[dict[str, Any]],
                      args: argparse.Namespace) -> dict[str, Any]:
    """Four kiosks at once, each cycling the clips from a different offset."""
    per = 2 if args.quick else len(clips) * max(1, args.reps - 1)
    plan = [[clips[(k + j) % len(clips)] for j in range(per)] for k in range(4)]
    out = {"turn_4_kiosks": summarise(await latency_phase(svc, console, plan))}
    out["metrics_all_voice"] = stage_means(svc.metrics())
    return out


async def rss(svc: ServiceProcess, console: Peer, clips: list[dict[str, Any]],
              args: argparse.Namespace) -> dict[str, Any]:
    """Memory over many turns on one kiosk (see rss_phase)."""
    turns, warm = (60, 20) if args.quick else (args.rss_turns, args.rss_warmup)
    limit = None if args.rss_max_minutes is None else args.rss_max_minutes * 60
    out = {"rss": await rss_phase(svc, clips, turns, warm, args.audio_every, max_s=limit)}
    out["metrics_text"] = stage_means(svc.metrics(), "text")
    return out


SCENARIOS: dict[str, Scenario] = {"one": one_kiosk, "four": four_kiosks, "rss": rss}
"""Service phases by name, run in this order when listed in --phases."""


async def service_phases(args: argparse.Namespace, clips: list[dict[str, Any]]
                         ) -> dict[str, Any]:
    """The chosen scenarios against one running service, with the load around each."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
        svc = ServiceProcess(Path(tmp), n_kiosks=4, overrides=tuple(args.set))
        svc.start()
        try:
            console = await open_peer(svc.url, "console", "manager", "demo-manager")
            out["rss_after_start_mb"] = round(svc.rss_mb(), 1)
            for name, scenario in SCENARIOS.items():
                if name in args.phases:
                    print(f"scenario {name} (load {load()})", flush=True)
                    out[f"load_before_{name}"] = load()
                    out.update(await scenario(svc, console, clips, args))
                    out[f"load_after_{name}"] = load()
            await console.close()
        finally:
            svc.stop()
    return out


def table(result: dict[str, Any]) -> str:
    none: dict[str, Any] = {"zh_cer": None, "en_wer": None, "rtf": None, "p50_s": None,
                            "p95_s": None, "en_first_audio_ms": None, "en_rtf": None,
                            "zh_first_audio_ms": None, "zh_rtf": None}
    s, t = result.get("stt") or none, result.get("tts") or none
    one, four = result.get("turn") or none, result.get("turn_4_kiosks") or none
    rows = [("STT zh CER (service transcripts)", s["zh_cer"], ""),
            ("STT en WER (service transcripts)", s["en_wer"], ""),
            ("STT RTF (in-process, base int8)", s["rtf"], ""),
            ("TTS en first audio ms", t["en_first_audio_ms"], "<= 150"),
            ("TTS en RTF", t["en_rtf"], ""),
            ("TTS zh first audio ms", t["zh_first_audio_ms"], ""),
            ("TTS zh RTF", t["zh_rtf"], ""),
            ("turn p50 s (1 kiosk)", one["p50_s"], "<= 1.0"),
            ("turn p95 s (1 kiosk)", one["p95_s"], "<= 1.8"),
            ("turn p50 s (4 kiosks)", four["p50_s"], ""),
            ("turn p95 s (4 kiosks)", four["p95_s"], ""),
            ("RSS growth MB after warm-up", result.get("rss_growth_mb"), "<= 5"),
            ("RSS growth MB, block medians", result.get("rss_block_median_growth_mb"), "<= 5")]
    lines = [f"{'figure':<36} {'value':>10}  target"]
    lines += [f"{name:<36} {'-' if v is None else v:>10}  {goal}" for name, v, goal in rows]
    for label, key in (("1 kiosk", "turn"), ("4 kiosks", "turn_4_kiosks")):
        if key not in result["detail"]:
            continue
        st = result["detail"][key]["server_stages_last_turn"]
        lines.append(f"server stages p50 s, {label}: " + ", ".join(
            f"{k}={v['p50_s']}" for k, v in st.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run (~4 min)")
    parser.add_argument("--reps", type=int, default=3, help="passes over the clips, 1 kiosk")
    parser.add_argument("--rss-turns", type=int, default=1000,
                        help="turns measured for RSS growth, after the warm-up")
    parser.add_argument("--rss-warmup", type=int, default=200)
    parser.add_argument("--rss-max-minutes", type=float, default=None,
                        help="stop the RSS phase early (recorded as such) on a loaded machine")
    parser.add_argument("--audio-every", type=int, default=20,
                        help="every n-th RSS turn is a voice clip, the others typed")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--with-questions", type=int, default=0, metavar="N",
                        help="also run bench/voice_lanes.py: 4 kiosks speak while N ask")
    parser.add_argument("--phases", nargs="+", default=["inproc", *SCENARIOS],
                        choices=["inproc", *SCENARIOS])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="service config override for an experiment, e.g. "
                        "speech.stt.partial_min_audio_ms=60000")
    args = parser.parse_args()
    clips = load_clips()
    started = time.perf_counter()
    load0 = load()
    detail: dict[str, Any] = {}
    result: dict[str, Any] = {}
    if "inproc" in args.phases:
        detail["stt_inproc"] = stt_rtf(clips, 1 if args.quick else 3)
        detail["stt_window_experiment"] = window_experiment(clips)
        detail["tts_inproc"] = tts = tts_figures(2 if args.quick else 5)
        result["tts"] = {"en_first_audio_ms": tts["en"]["first_audio_ms"],
                         "en_rtf": tts["en"]["rtf"], "zh_first_audio_ms": tts["zh"]["first_audio_ms"],
                         "zh_rtf": tts["zh"]["rtf"]}
    elif args.out.is_file():  # not rerun: the previous run's in-process figures, marked so
        before = json.loads(args.out.read_text(encoding="utf-8"))
        kept = {k: before["detail"][k] for k in ("stt_inproc", "stt_window_experiment",
                                                 "tts_inproc") if k in before.get("detail", {})}
        if kept:
            detail.update(kept)
            detail["inproc_carried_over_from"] = before.get("git_head")
            if "tts" in before:
                result["tts"] = before["tts"]
    load_inproc = load()
    svc = asyncio.run(service_phases(args, clips))
    one, four = svc.pop("turn", None), svc.pop("turn_4_kiosks", None)
    if one is not None:
        result["stt"] = {"zh_cer": one["zh_cer"], "en_wer": one["en_wer"],
                         "rtf": detail["stt_inproc"]["rtf"] if "stt_inproc" in detail else None}
        result["turn"] = {"p50_s": one["p50_s"], "p95_s": one["p95_s"]}
        detail["turn"] = one
    if four is not None:
        result["turn_4_kiosks"] = {"p50_s": four["p50_s"], "p95_s": four["p95_s"]}
        detail["turn_4_kiosks"] = four
    if "rss" in svc:
        result["rss_growth_mb"] = svc["rss"]["growth_mb"]
        result["rss_block_median_growth_mb"] = svc["rss"]["block_median_growth_mb"]
        result["rss_turns_after_warmup"] = svc["rss"]["turns"]
    result.update({
        "machine": f"{platform.machine()} {os.cpu_count()}-core CPU, no GPU",
        "git_head": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                   capture_output=True, text=True).stdout.strip(),
        "quick": args.quick, "phases": args.phases, "service_overrides": args.set,
        "load_average_1_5_15": {"start": load0, "after_inproc": load_inproc, "end": load()},
        "wall_s": 0.0,
        "detail": {**detail, **svc},
        "method": ("clips streamed as 32 ms PCM16 frames on an absolute real-time schedule, then "
                   "1.2 s of real-time silence and audio_end; end of speech = wall time the "
                   "frame holding the clip's last voiced sample was sent (Silero >= 0.5, "
                   "bench/data/speech_ends.json), not its last frame; latency = first `speech` "
                   "binary frame of the reply to the clip's last final transcript (JFK splits "
                   "at its pause); end_session after every clip; 4 kiosks start 0.8 s apart, "
                   "each cycling the clips from a different offset. RSS: VmRSS of the service "
                   "process, growth from the end of the warm-up; typed turns (replies spoken) "
                   f"plus every {args.audio_every}th turn an audio clip sent unpaced."),
    })
    if args.with_questions:
        from bench.voice_lanes import lanes_bench
        result["lanes"] = asyncio.run(lanes_bench(clips, args.with_questions, args.quick,
                                                  latency_phase, summarise))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    agreed = ["stt", "tts", "turn", "turn_4_kiosks", "rss_growth_mb", "rss_block_median_growth_mb",
              "rss_turns_after_warmup"]
    result = {**{k: result[k] for k in agreed if k in result},
              **{k: v for k, v in result.items() if k not in agreed}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    print(table(result))
    print(f"load average start {load0} end {load()}; wall {result['wall_s']} s; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
