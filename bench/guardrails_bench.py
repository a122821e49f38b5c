"""Guardrails: scam misses and false alarms on the table, rule evaluation time, and the alert's
latency to a staff console over the real websocket.

Usage: .venv/bin/python bench/guardrails_bench.py [--turns 30] [--out FILE] [--no-service]

1. The scam table (tests/fixtures/scam_table.tsv): misses and false alarms of the pattern
   rules, and of rules plus the router where the router model is built (models/router).
2. One `assess_turn` (scam patterns + large-value and structuring rules) per table row with an
   amount and a visit history, repeated: p50/p99 in microseconds.
3. The real service on 127.0.0.1 port 0, a manager's console and a kiosk connected over
   websockets: each large-withdrawal turn, the time from the kiosk sending it to the console
   receiving its alert, and from the alert to the kiosk's reply (the turn's end).
Figures depend on the machine's load: the JSON records `os.getloadavg()` with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from intents.guardrails.large_value import Transaction
from intents.guardrails.scam import detect
from intents.guardrails.verdict import GuardrailRules, assess_turn

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "tests" / "fixtures" / "scam_table.tsv"
OUT = REPO / "bench" / "results" / "guardrails.json"


def table() -> list[tuple[str, str, str]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, lang, text = line.split("\t")
            rows.append((label, lang, text))
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scam_rates(router: Any | None) -> dict[str, Any]:
    """Misses and false alarms per language, for the rules and (if built) rules + router."""
    rows = table()
    out: dict[str, Any] = {}
    detectors: dict[str, Any] = {"rules": lambda text: detect(text) is not None}
    if router is not None:

        def with_router(text: str) -> bool:
            u = router(text)
            return detect(text) is not None or (
                u.intent == "fraud_report" and not u.unsure and u.confidence >= 0.5
            )

        detectors["rules+router"] = with_router
        detectors["router"] = lambda text: (
            lambda u: u.intent == "fraud_report" and not u.unsure and u.confidence >= 0.5
        )(router(text))
    for name, flagged in detectors.items():
        per: dict[str, Any] = {}
        for lang in ("zh", "en", "all"):
            mine = [r for r in rows if lang == "all" or r[1] == lang]
            scams = [t for label, _, t in mine if label == "scam"]
            innocent = [t for label, _, t in mine if label == "innocent"]
            misses = [t for t in scams if not flagged(t)]
            alarms = [t for t in innocent if flagged(t)]
            per[lang] = {
                "scams": len(scams),
                "misses": len(misses),
                "innocent": len(innocent),
                "false_alarms": len(alarms),
                "false_alarm_rate": round(len(alarms) / max(1, len(innocent)), 4),
                "missed": misses,
                "alarmed": alarms,
            }
        out[name] = per
    return out


def rule_timing(rounds: int = 20) -> dict[str, float]:
    """Microseconds per `assess_turn` over the table's rows, with an amount and a visit."""
    rules = GuardrailRules()
    visit = (Transaction("cash", Decimal(45_000)), Transaction("transfer", Decimal(400_000)))
    texts = [text for _, _, text in table()]
    wall: list[float] = []
    cpu: list[float] = []  # this thread's CPU time: what the rules cost, without preemption
    for _ in range(rounds):
        for i, text in enumerate(texts):
            intent = ("cash_withdrawal", "transfer", "international_remittance")[i % 3]
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            assess_turn(text, intent, 0.9, "49000", "CNY", visit, rules)
            cpu.append((time.thread_time_ns() - started_cpu) / 1000)
            wall.append((time.perf_counter_ns() - started) / 1000)
    return {
        "n": len(wall),
        "p50_us": round(percentile(wall, 0.5), 1),
        "p99_us": round(percentile(wall, 0.99), 1),
        "max_us": round(max(wall), 1),
        "cpu_p50_us": round(percentile(cpu, 0.5), 1),
        "cpu_p99_us": round(percentile(cpu, 0.99), 1),
    }


async def alert_latency(turns: int) -> dict[str, Any]:
    """Kiosk turn -> console alert over real websockets, with the real service."""
    from edge.config import load_config
    from edge.service import Service
    from tests.wsclient import alert_of_kind, login, recv_until

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            None,
            {
                "data_dir": tmp,
                "server.port": 0,
                "knowledge.dense": False,
                "speech.enabled": False,
                "llm.folder": "",
                "models.root": str(REPO / "models"),
                "staff.argon2_time_cost": 1,
                "staff.argon2_memory_kib": 1024,
                "staff.argon2_parallelism": 1,
            },
        )
        async with Service.open(config, demo=True) as service:
            assert service.address is not None
            url = f"ws://{service.address[0]}:{service.address[1]}"
            manager = await login(url, "manager")
            to_alert: list[float] = []
            alert_to_reply: list[float] = []
            for i in range(turns):
                kiosk = await login(url, "kiosk-1" if i % 2 == 0 else "kiosk-2")
                sent = time.perf_counter()
                await kiosk.send(
                    json.dumps({"type": "text", "id": f"t{i}", "text": f"我要取{60 + i}000元现金"})
                )
                await alert_of_kind(manager, "large_cash")
                alerted = time.perf_counter()
                await recv_until(kiosk, "reply", id=f"t{i}")
                replied = time.perf_counter()
                to_alert.append((alerted - sent) * 1000)
                alert_to_reply.append((replied - alerted) * 1000)
                await kiosk.close()
            await manager.close()
    return {
        "turns": turns,
        "send_to_console_alert_ms": {
            "p50": round(statistics.median(to_alert), 1),
            "p90": round(percentile(to_alert, 0.9), 1),
            "max": round(max(to_alert), 1),
        },
        "alert_before_reply_ms": {"p50": round(statistics.median(alert_to_reply), 1)},
        "note": "send->alert includes the router's turn (tokenising, n-gram head, "
        "second stage where unsure); the alert is pushed before the kiosk's reply",
    }


def load_router() -> Any | None:
    """The trained router, if `make install` built it."""
    from edge.config import load_config
    from edge.understanding import load_understanding

    path = load_config(None, {"models.root": str(REPO / "models")}).models.resolve("router")
    if not path.exists():  # not built yet: the rules alone are reported
        print(f"router unavailable: no {path}")
        return None
    return load_understanding(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-service", action="store_true", help="skip the websocket part")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    result: dict[str, Any] = {"load_avg": [round(x, 2) for x in load], "cpus": os.cpu_count()}
    result["scam"] = scam_rates(load_router())
    result["rule_eval"] = rule_timing()
    if not args.no_service:
        result["alert_latency"] = asyncio.run(alert_latency(args.turns))
    print(f"load average {load[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'detector':<14}{'lang':<6}{'misses':>12}{'false alarms':>16}")
    for name, per in result["scam"].items():
        for lang, r in per.items():
            print(
                f"{name:<14}{lang:<6}{r['misses']:>5} of {r['scams']:<4}"
                f"{r['false_alarms']:>7} of {r['innocent']:<4} ({r['false_alarm_rate']:.1%})"
            )
    t = result["rule_eval"]
    print(
        f"rule evaluation: p50 {t['p50_us']} us, p99 {t['p99_us']} us wall; "
        f"CPU p50 {t['cpu_p50_us']} us, p99 {t['cpu_p99_us']} us (n={t['n']})"
    )
    if "alert_latency" in result:
        a = result["alert_latency"]["send_to_console_alert_ms"]
        print(
            f"kiosk turn -> console alert: p50 {a['p50']} ms, p90 {a['p90']} ms, "
            f"max {a['max']} ms ({args.turns} turns)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
