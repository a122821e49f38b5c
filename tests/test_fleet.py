"""Issue 14's fault suite: a real central (`branch-teller central serve`) and three real
boxes (`branch-teller serve`) on 127.0.0.1, a staged rollout whose second cohort fails and
halts it, and every fault case in turn (bench/fleet_bench.py runs the same cases and records
their timings in bench/results/provisioning.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fleet_bench import CASES, open_fleet

pytestmark = pytest.mark.skipif(
    not (Path(__file__).resolve().parents[1] / "models" / "silero-vad").is_dir(),
    reason="needs the installed models (scripts/install.sh)",
)


@pytest.mark.timeout(1500)
async def test_a_fleet_rolls_out_in_stages_and_survives_every_fault(tmp_path: Path) -> None:
    fleet = await open_fleet(tmp_path)
    try:
        for name, case in CASES.items():
            entry = await case(fleet)  # each case asserts its own outcome
            serving = await fleet.all_serve()  # and after it, every box still serves
            assert set(serving) == {"box-1", "box-2", "box-3"}, (name, serving)
            assert entry["outcome"] in ("halted", "failed", "succeeded", "rolled_back"), entry
    finally:
        await fleet.close()
