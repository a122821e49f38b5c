"""What grows in the service over many turns: the voice bench's RSS phase run in process
under tracemalloc, snapshots compared after the warm-up, top growth by traceback.

Run: .venv/bin/python -m bench.voice_leak [--turns 300 --warmup 100]   (~10 min on 2 cores)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import tracemalloc
from pathlib import Path

from bench.voice_bench import load_clips, rss_phase
from edge.config import load_config
from edge.service import Service

ROOT = Path(__file__).resolve().parents[1]


class InProcess:
    """A Service started in this process; RSS is this process's."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rss_mb(self) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int) -> None:
    """Print the allocations that grew most, by line and then by full traceback."""
    keep = [tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            # the bench's own kiosk runs in this process too: its message log is not the service's
            tracemalloc.Filter(False, str(ROOT / "bench" / "voice_client.py"), all_frames=True),
            tracemalloc.Filter(False, str(ROOT / "bench" / "voice_bench.py"), all_frames=True)]
    before, after = before.filter_traces(keep), after.filter_traces(keep)
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"\ntraced growth after warm-up: {total / 1e6:+.2f} MB")
    print(f"\ntop {top} by line:")
    for stat in after.compare_to(before, "lineno")[:top]:
        print(f"  {stat.size_diff / 1e3:+9.1f} kB {stat.count_diff:+7d} blocks  "
              f"{stat.traceback[0]}")
    print(f"\ntop {min(top, 8)} by traceback:")
    for stat in after.compare_to(before, "traceback")[:min(top, 8)]:
        print(f"  {stat.size_diff / 1e3:+9.1f} kB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format(most_recent_first=True)[:16]:
            print(f"      {line}")


async def run(args: argparse.Namespace) -> None:
    clips = load_clips()
    with tempfile.TemporaryDirectory(prefix="voice-leak-") as tmp:
        config = load_config(None, {"data_dir": str(Path(tmp) / "data"), "server.port": 0,
                                    "knowledge.dense": False, "llm.folder": "",
                                    "models.root": str(ROOT / "models")})
        service = Service(config)
        host, port = await service.start()
        await service.hub_ready.wait()
        tracemalloc.start(args.frames)
        snaps: dict[int, tracemalloc.Snapshot] = {}

        def sample(turn: int) -> None:
            if turn in (args.warmup, args.warmup + args.turns):
                gc.collect()
                snaps[turn] = tracemalloc.take_snapshot()

        try:
            result = await rss_phase(InProcess(f"ws://{host}:{port}"), clips, args.turns,
                                     args.warmup, args.audio_every, every=50, on_sample=sample)
        finally:
            await service.stop()
        print(f"RSS growth after warm-up {result['growth_mb']} MB over {args.turns} turns")
        report(snaps[args.warmup], snaps[args.warmup + args.turns], args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--audio-every", type=int, default=20)
    parser.add_argument("--frames", type=int, default=12, help="traceback depth traced")
    parser.add_argument("--top", type=int, default=25)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
