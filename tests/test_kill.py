"""Crash safety: SIGKILL the service mid-work, restart: no ticket, open alert or pending call
anyone was told about is lost.

The benchmark runs 200 kills (bench/kill_test.py); the suite runs a few to keep it honest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kill_test import run_kill_test


@pytest.mark.timeout(300)  # four service starts (router load each): 65-85 s alone, more beside -n 2
async def test_sigkill_loses_no_ticket_alert_or_call(tmp_path: Path) -> None:
    result = await run_kill_test(kills=4, seed=7, data=tmp_path / "data", log=lambda _: None)
    assert result["kills"] == 4
    assert result["lost"] == 0 and result["double_called"] == 0
    assert result["lost_alerts"] == 0 and result["alerts_not_shown"] == 0
    assert result["lost_calls"] == 0 and result["calls_not_resent"] == 0
    assert result["acknowledged"] > 0
    # the test had something to lose: alerts left open, calls left unacknowledged
    assert result["alerts"] > 0 and result["calls"] > result["calls_acked"] > 0
    assert result["calls_checked_after_restart"] > 0
