"""Fault cases with real service processes: SIGKILL during staging, smoke, switch and
probation; bad bundles; a customer mid-conversation. After every kill the restarted box
serves at once on a working bundle (bench/provisioning_bench.py runs the same cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.provisioning_bench import run_case


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "case",
    [
        "kill_staging",
        "kill_smoke",
        "kill_switch",
        "kill_switched",
        "kill_probation",
        "smoke_failing",
        "tampered",
        "older",
    ],
)
async def test_the_box_always_serves_on_a_working_bundle(case: str, tmp_path: Path) -> None:
    entry = await run_case(case, tmp_path)
    expected = {
        "kill_probation": "rolled_back",
        "smoke_failing": "rejected",
        "tampered": "rejected",
        "older": "rejected",
    }.get(case, "committed")
    assert entry["outcome"] == expected, entry


@pytest.mark.timeout(300)
async def test_a_customer_mid_conversation_is_never_delayed_by_the_switch(tmp_path: Path) -> None:
    entry = await run_case("happy", tmp_path)
    assert entry["outcome"] == "committed"
    assert "conversation(s) in progress" in entry["waited_because"]
    assert entry["longest_turn_delay_ms"] == 0.0
