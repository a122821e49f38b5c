"""Day reports for central: once a business day is closed, its aggregates go by
POST /api/v1/day (`wire.DayReport`) and are sent again until central acknowledges them.

The outbox is a folder on the data disk (DATA_DIR/central/days/<day>.json), so a report
computed before a power cut or while central is down is neither lost nor computed twice;
`sent.json` lists the days central acknowledged. Only days before the desk's current day are
reported: those the day close (`edge/queue/day.py`, `QueueDesk.close_past_days`) has closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import msgspec

from edge.central_secret import CentralError, read_secret
from edge.day_aggregates import day_aggregates
from edge.day_sketch import DaySketch
from edge.queue.engine import QueueEngine
from edge.queue.settings import QueueSettings
from edge.store import Store
from provisioning.central import wire
from provisioning.settings import CentralSettings
from provisioning.slots import write_atomic

log = logging.getLogger("branch_teller.central.days")

DAY_PATH = "/api/v1/day"


class SentDays(msgspec.Struct, kw_only=True):
    since: str = ""  # the first day this box reports (set on first run)
    sent: list[str] = msgspec.field(default_factory=list)


class DayOutbox:
    """Computes closed days' reports into the outbox and posts them until acknowledged."""

    def __init__(self, settings: CentralSettings, data_dir: Path, store: Store,
                 sketch: DaySketch, queue: QueueSettings, today: Callable[[], str],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.folder = data_dir / "central" / "days"
        self.store, self.sketch, self.queue = store, sketch, queue
        self.today = today  # the desk's business day: days before it are closed
        self.clock = clock
        self.last_error = ""

    def _sent(self) -> SentDays:
        try:
            return msgspec.json.decode((self.folder / "sent.json").read_bytes(), type=SentDays)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return SentDays()

    def _save_sent(self, sent: SentDays) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / "sent.json", msgspec.json.encode(sent))

    def pending(self) -> list[str]:
        """Days computed and not yet acknowledged, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("????-??-??.json"))

    async def tick(self, now: float) -> None:
        """The `central_days` job: compute newly closed days, then post the outbox."""
        await self.collect()
        await self.send_all()
        await self.sketch.purge(self.settings.keep_days)

    async def collect(self) -> list[str]:
        """Write the report of every closed day not yet reported; the days written."""
        today = self.today()
        sent = self._sent()
        if not sent.since:
            first = date.fromisoformat(today) - timedelta(days=self.settings.day_backfill_days)
            sent.since = first.isoformat()
            self._save_sent(sent)
        done = set(sent.sent) | set(self.pending())
        days = set(await self.store.event_days()) | set(await self.sketch.days())
        written = []
        for day in sorted(d for d in days if sent.since <= d < today and d not in done):
            report = await self.compute(day)
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / f"{day}.json", wire.ENCODER.encode(report))
            written.append(day)
            log.info("day %s closed: its aggregates wait to be sent to central", day)
        return written

    async def compute(self, day: str) -> wire.DayReport:
        """The day's report: the queue's history and the day's statistics, nothing else."""
        events = await self.store.load_events(day)
        tickets = QueueEngine.restore(self.queue, self.clock, events).tickets()
        conversations, deflected, turns, latency = await self.sketch.read(day)
        return wire.DayReport(box_id=self.settings.box_id, day=day, aggregates=day_aggregates(
            tickets, self.queue, day, conversations, deflected, turns, latency))

    async def send_all(self) -> int:
        """Post every pending report; the number central acknowledged."""
        acknowledged = 0
        for day in self.pending():
            path = self.folder / f"{day}.json"
            try:
                await asyncio.to_thread(self._post, path.read_bytes())
            except CentralError as err:
                self.last_error = str(err)
                log.warning("day report %s not sent (%s); it is sent again in %.0f s", day,
                            err, self.settings.day_resend_s)
                break
            sent = self._sent()
            sent.sent = sorted({*sent.sent, day})[-self.settings.keep_days:]
            self._save_sent(sent)
            path.unlink(missing_ok=True)
            self.last_error = ""
            acknowledged += 1
            log.info("day report %s acknowledged by central", day)
        return acknowledged

    def _post(self, body: bytes) -> None:
        secret = read_secret(self.settings.secret_file)
        request = urllib.request.Request(
            self.settings.url.rstrip("/") + DAY_PATH, data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.settings.box_id}:{secret}"})
        del secret
        try:
            with urllib.request.urlopen(request, timeout=self.settings.connect_timeout_s) as r:
                answer = json.loads(r.read(4096) or b"{}")
        except urllib.error.HTTPError as err:
            raise CentralError(f"central answered HTTP {err.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise CentralError(f"{type(err).__name__}: {getattr(err, 'reason', err)}") from None
        if not (isinstance(answer, dict) and answer.get("ok") is True):
            raise CentralError("central did not acknowledge the day")

