"""Crash safety: SIGKILL the service mid-work, restart, nothing acknowledged is lost.

The benchmark runs 200 kills (bench/kill_test.py); the suite runs a few to keep it honest.
"""

from __future__ import annotations

from pathlib import Path

from bench.kill_test import run_kill_test


async def test_sigkill_loses_no_acknowledged_ticket(tmp_path: Path) -> None:
    result = await run_kill_test(kills=3, seed=7, data=tmp_path / "data", log=lambda _: None)
    assert result["kills"] == 3
    assert result["lost"] == 0 and result["double_called"] == 0
    assert result["acknowledged"] > 0
