"""The day simulator behind bench/queue_sim.py: it drives any engine and writes the agreed JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from edge.queue import QueueEngine, QueueSettings

ROOT = Path(__file__).resolve().parents[1]


def _sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("queue_sim", ROOT / "bench" / "queue_sim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["queue_sim"] = module
    spec.loader.exec_module(module)
    return module


def test_arrivals_are_seeded_and_shaped() -> None:
    sim = _sim()
    a, b, c = sim.simulate_arrivals(11), sim.simulate_arrivals(11), sim.simulate_arrivals(12)
    assert a == b and a != c
    assert len(a) == 300 and [x.at for x in a] == sorted(x.at for x in a)
    kinds = [x.kind for x in a]
    assert kinds.count("urgent") == 3
    assert 15 <= sum(k.startswith("vip") for k in kinds) <= 50
    lunch = sum(1 for x in a if 2.5 * 3600 <= x.at < 4.5 * 3600)
    assert lunch / 2 > (300 - lunch) / 5.5  # the peak is busier per hour than the rest


def test_run_day_serves_everyone_through_any_engine_like() -> None:
    sim = _sim()
    settings = QueueSettings()
    arrivals = sim.simulate_arrivals(3)[:60]
    calls: list[str] = []

    class Spy:
        """An engine-like wrapper, as the durable engine will be."""

        def __init__(self, clock: Any) -> None:
            self.inner = QueueEngine(settings, clock)

        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(self.inner, name)

    result = sim.run_day(Spy, arrivals, settings)
    assert result.unserved == 0
    assert sum(len(w) for w in result.waits.values()) == 60
    assert calls.count("issue") == 60 and calls.count("complete") == 60
    assert result.ops == len(calls)
    assert all(w >= 0 for ws in result.waits.values() for w in ws)


def test_main_writes_the_agreed_json(tmp_path: Path) -> None:
    sim = _sim()
    out = tmp_path / "q.json"
    assert sim.main(["--seed", "99", "--quick", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["policies"]) == {"fifo", "strict", "aging"}
    for policy in doc["policies"].values():
        for cls in ("urgent", "vip", "elderly", "normal"):
            assert {"p50_s", "p90_s", "max_s"} <= policy["classes"][cls].keys()
    assert doc["ops_per_s_memory"] > 0
    assert doc["ops_per_s_durable"] is None and doc["kill_test"] is None
    assert doc["seed"] == 99 and 99 not in doc["tuning_seeds"]


def test_appointment_wait_counts_from_the_booked_time() -> None:
    sim = _sim()
    early = sim.Arrival(
        at=100.0, service="loan", kind="appointment", service_s=60.0, appointment_at=700.0
    )
    late = sim.Arrival(
        at=100.0, service="loan", kind="appointment", service_s=60.0, appointment_at=0.0
    )
    assert sim._target_wait(early, "appointment", 900.0) == 300.0  # came 10 min early
    assert sim._target_wait(early, "appointment", 500.0) == 0.0  # called before the booking
    assert sim._target_wait(late, "appointment", 200.0) == 200.0  # came late: from arrival
    assert sim._target_wait(early, "normal", 900.0) == 900.0  # over late_s: ranked as normal


def test_days_meeting_targets_counts_each_group() -> None:
    sim = _sim()
    days = sim.days_meeting_targets((3, 4), sim.baselines())
    assert set(days) == {"fifo", "strict", "aging"}
    for counts in days.values():
        assert set(counts) == {"all", "priority_p90", "normal_p90", "normal_max"}
        assert 0 <= counts["all"] <= min(counts.values()) <= max(counts.values()) <= 2
    assert days["fifo"]["normal_max"] == 2  # FIFO is its own yardstick
