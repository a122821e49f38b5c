"""Shared fixtures: a real service on 127.0.0.1 port 0 with its own data folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.config import BranchConfig, load_config
from edge.service import Service

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def make_config(tmp_path: Path, **overrides: Any) -> BranchConfig:
    """Demo-branch config on a free port, data in tmp_path, models from the repo."""
    base: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "server.port": 0,
                            "knowledge.dense": False, "speech.enabled": False,
                            "llm.folder": "",
                            "models.root": str(REPO / "models"),
                            # cheap argon2 for the many demo logins of a test run
                            "staff.argon2_time_cost": 1, "staff.argon2_memory_kib": 1024,
                            "staff.argon2_parallelism": 1,
                            # floods of bad messages are other tests' subject: the budgets
                            # that cut floods short are tested in test_security
                            "server.control_per_s": 1e6, "server.control_burst": 1e6}
    base.update(overrides)
    return load_config(None, base)


@dataclass
class Running:
    """A started service and how to reach it."""

    service: Service
    url: str


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with Service.open(make_config(tmp_path), demo=True) as service:
        assert service.address is not None
        host, port = service.address
        yield Running(service, f"ws://{host}:{port}")
