"""The real central as a box's tests meet it: the real fleet store (SQLite in tmp_path), a real
TUF repository, the real rollout engine and the real server on 127.0.0.1, which a test can
stop and start again on the same port. What central recorded is read back from its store;
the order of a box's rollout steps from central's own log, as an operator would read it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioning.central import rollout
from provisioning.central.fleet import Box, Rollout, RolloutBox
from provisioning.central.server import CentralServer, serve
from provisioning.central.server_settings import CentralServerSettings
from provisioning.central.store import open_store
from provisioning.repository import Repository
from tests.central_helpers import CHEAP, sqlite_url
from tests.trust_fixtures import fresh_keys

CENTRAL_LOG = "branch_teller.central"
STEP_LOGGED = "box %s: rollout %s %s"  # provisioning/central/api.py, one per update report
LINKED = "box %s linked"


class CentralLog(logging.Handler):
    """Central's log records, kept in order (the steps boxes reported, their links)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def steps(self, box_id: str) -> list[tuple[str, str]]:
        """(rollout, step) of each update the box reported, in order, repeats folded."""
        out: list[tuple[str, str]] = []
        for r in self.records:
            if r.msg == STEP_LOGGED and isinstance(r.args, tuple) and r.args[0] == repr(box_id):
                item = (str(r.args[1])[1:-1], str(r.args[2]))
                if not out or out[-1] != item:
                    out.append(item)
        return out

    def links(self, box_id: str) -> int:
        """How many times the box linked."""
        return sum(1 for r in self.records
                   if r.msg == LINKED and isinstance(r.args, tuple) and r.args[0] == repr(box_id))


class RealCentral:
    """One central for a test: `await start()`, `stop()`/`start()` again, `close()` at the end."""

    def __init__(self, tmp: Path, busy_timeout_s: float = 30.0) -> None:
        self.keys = fresh_keys()
        self.repo = Repository.create(tmp / "central" / "repository", self.keys)
        self.store_path = tmp / "central" / "fleet.db"
        self.store = open_store(sqlite_url(tmp), busy_timeout_s=busy_timeout_s, **CHEAP)
        self.server: CentralServer | None = None
        self.port = 0
        self.log = CentralLog()
        self._logger = logging.getLogger(CENTRAL_LOG)
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_box(self, box_id: str, tags: list[str] | None = None) -> str:
        """Register a box: its secret (shown once)."""
        return self.store.add_box(box_id, f"Branch {box_id}", tags or [])

    async def start(self) -> RealCentral:
        """Listen: a free port the first time, the same port after a stop."""
        self.server = await serve(self.store, self.repo.folder, rollout.step, port=self.port,
                                  tick_s=0.1, settings=CentralServerSettings(auth_cache_s=0.0))
        assert self.server.address is not None
        self.port = self.server.address[1]
        return self

    async def stop(self) -> None:
        """Central goes away: links closed ("going away"), nothing listening."""
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def close(self) -> None:
        try:
            await self.stop()
        finally:
            self.store.close()
            self._logger.removeHandler(self.log)
            self._logger.setLevel(self._level)

    def roll_out(self, rollout_id: str, bundle: str) -> None:
        """An operator's rollout of a bundle to the whole fleet (the next tick nudges)."""
        now = time.time()
        self.store.create_rollout(Rollout(
            rollout_id=rollout_id, bundle=bundle, stages=rollout.parse_stages("all"),
            soak_s=0.0, max_failures=0, created_at=now, stage_started_at=now))

    def box(self, box_id: str) -> Box:
        return next(b for b in self.store.boxes() if b.box_id == box_id)

    def row(self, rollout_id: str, box_id: str) -> RolloutBox | None:
        """What central keeps of the box in the rollout (its last step and reason)."""
        return next((r for r in self.store.rollout_boxes(rollout_id) if r.box_id == box_id), None)

    async def wait_for(self, what: str, ok: Callable[[], Any], timeout: float = 60.0) -> None:
        """Until ok() is true (central's store and log are read every 50 ms)."""
        try:
            async with asyncio.timeout(timeout):
                while not ok():  # noqa: ASYNC110 - the server and the box run on their own
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"central never saw {what} within {timeout:g} s") from None
