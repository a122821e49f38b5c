"""The box's outbound link to central (`provisioning/central/wire.py`): one websocket the box
keeps open, its reports, and director mode (like Uptane's director).

With `[central] url` set, the box installs the bundle central ASSIGNS instead of polling
`bundles/current.json`: the assigned bundle's index (`bundles/<bundle>.json`) is fetched
through TUF (`edge/bundle_fetch.py`: every byte verified, rollback refused), so central can
hold a box back but never make it run something the signing roles did not sign; the
existing updater (`edge/updates.py`) installs, smoke-tests, switches when the lobby is quiet
and watches probation. The box reports each step (`wire.BoxStep`) over the link; the last
one is kept in DATA_DIR/central/link.json, so an update that finished while central was away
is reported on reconnect. Central down: the box serves on, retries with jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from edge.bundle_fetch import BundleFetcher
from edge.central_secret import CentralError, read_secret
from edge.updates import EdgeUpdater
from provisioning.central import wire
from provisioning.repository import BUNDLES
from provisioning.settings import CentralSettings
from provisioning.slots import write_atomic
from provisioning.trust import TrustError
from provisioning.updater import UpdateState

log = logging.getLogger("branch_teller.central")
# websockets logs every request header at DEBUG, the Authorization header included: its
# logger for the link never goes below INFO, whatever the service's log level.
WS_LOG = logging.getLogger("branch_teller.central.websocket")
WS_LOG.setLevel(logging.INFO)

STATE_FILE = "link.json"
LINK_PATH = "/api/v1/link"
IN_FLIGHT: frozenset[str] = frozenset({"downloading", "installing", "applied"})
_BUNDLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class LinkState(msgspec.Struct, kw_only=True):
    """What the box last knew of central's assignment and how far it got (persisted)."""

    rollout: str = ""
    bundle: str = ""  # the assigned bundle index name
    delivered: str = ""  # the inbox bundle id the TUF fetch delivered for it
    step: wire.BoxStep = "targeted"
    reason: str = ""


def step_of(state: UpdateState) -> wire.BoxStep:
    """The fleet table's step for the updater's state."""
    if state == "probation":
        return "applied"
    if state == "committed":
        return "succeeded"
    if state == "rejected":
        return "failed"
    if state == "rolled_back":
        return "rolled_back"
    return "installing"  # staged, verifying, smoke_testing, waiting_for_quiet, switching


def backoff_s(attempt: int, low: float, high: float, rand: Callable[[], float]) -> float:
    """Jittered exponential backoff: between `low` and low*2^(attempt-1) (capped at `high`),
    so a fleet that lost central together does not come back in one wave."""
    cap = min(high, low * 2.0 ** min(max(attempt - 1, 0), 30))
    return low + (cap - low) * rand()


def link_url(base: str) -> str:
    """ws(s)://host/.../api/v1/link for central's http(s) base URL."""
    scheme, _, rest = base.rstrip("/").partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{LINK_PATH}"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class CentralLink:
    """The link and director mode; `start()` runs its two tasks, `close()` ends them."""

    def __init__(self, settings: CentralSettings, data_dir: Path, service_version: str,
                 updater: EdgeUpdater, fetcher: BundleFetcher | None,
                 health: Callable[[], wire.BoxHealth], check_interval_s: float,
                 clock: Callable[[], float] = time.time,
                 rand: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self.folder = data_dir / "central"
        self.service_version = service_version
        self.updater, self.fetcher = updater, fetcher
        self.health = health
        self.check_interval_s = check_interval_s
        self.clock, self.rand = clock, rand
        self.state = self._load()
        self.connected_since: float | None = None
        self.error = ""  # why the link is down ("" before the first try)
        self.retry_at: float | None = None
        self.reports_sent = 0
        self._dirty = asyncio.Event()  # a step changed: report now
        # every step, in order, until central has it (a fast step is not hidden by the next)
        self._steps: deque[wire.UpdateReport] = deque(maxlen=settings.queued_steps)
        self._fetch: asyncio.Task[None] | None = None
        self._fetch_failures = 0
        self._fetch_after = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ persistence

    def _load(self) -> LinkState:
        try:
            return msgspec.json.decode((self.folder / STATE_FILE).read_bytes(), type=LinkState)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return LinkState()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / STATE_FILE, msgspec.json.encode(self.state))

    def _set_step(self, step: wire.BoxStep, reason: str = "") -> None:
        if (step, reason) == (self.state.step, self.state.reason):
            return
        changed = step != self.state.step
        self.state.step, self.state.reason = step, reason
        self._save()
        queued = self._update_report()
        if queued is not None:
            self._steps.append(queued)
        if changed:
            log.info("rollout %s bundle %s: %s%s", self.state.rollout or "-", self.state.bundle,
                     step, f" ({reason})" if reason else "")
        self._dirty.set()

    # ------------------------------------------------------------ start and stop

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run_link(), name="central_link"),
                       asyncio.create_task(self._run_updates(), name="central_updates")]

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._fetch] if self._fetch is not None else [])]
        self._tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ what the box reports

    def _update_report(self) -> wire.UpdateReport | None:
        s = self.state
        return wire.UpdateReport(rollout=s.rollout, bundle=s.bundle, step=s.step,
                                 reason=s.reason) if s.bundle else None

    def report(self, update: wire.UpdateReport | None = None) -> wire.BoxReport:
        """The box now: versions, health, and where it is with central's assignment (or
        with `update`, a step queued earlier)."""
        update = update or self._update_report()
        active = self.updater.slots.active_bundle() or "factory"
        comps = self.updater.slots.components(self.updater.slots.active_bundle())
        return wire.BoxReport(
            box_id=self.settings.box_id, service_version=self.service_version, bundle=active,
            components={n: (man.version if man else 0) for n, man in comps.items()},
            update=update, health=self.health(), sent_at=self.clock())

    def status(self) -> tuple[str, str]:
        """(link, assignment) for /health and the console's health tab."""
        if self.connected_since is not None:
            link = f"connected since {_when(self.connected_since)}"
        elif self.error:
            link = f"unreachable: {self.error}"
            if self.retry_at is not None:
                link += f" (next try in {max(0.0, self.retry_at - self.clock()):.0f} s)"
        else:
            link = "connecting"
        s = self.state
        assigned = ""
        if s.bundle:
            assigned = (f"rollout {s.rollout or '-'}: bundle {s.bundle}, {s.step}"
                        + (f" ({s.reason})" if s.reason else ""))
        return link, assigned

    # ------------------------------------------------------------ the link

    async def _run_link(self) -> None:
        attempt = 0
        while True:
            try:
                secret = await asyncio.to_thread(read_secret, self.settings.secret_file)
                async with connect(
                    link_url(self.settings.url),
                    additional_headers={
                        "Authorization": f"Bearer {self.settings.box_id}:{secret}"},
                    open_timeout=self.settings.connect_timeout_s,
                    max_size=self.settings.max_message_bytes, logger=WS_LOG,
                ) as ws:
                    del secret
                    self.connected_since, self.error, self.retry_at = self.clock(), "", None
                    attempt = 0
                    log.info("central link up (%s)", link_url(self.settings.url))
                    await self._converse(ws)
                why = "central closed the link"
            except asyncio.CancelledError:
                raise
            except InvalidStatus as err:
                code = err.response.status_code
                why = f"central refused the link: HTTP {code}" + (
                    " (box id or secret not accepted)" if code in (401, 403) else "")
            except CentralError as err:
                why = str(err)
            except (OSError, TimeoutError, WebSocketException) as err:
                why = f"{type(err).__name__}: {err}"
            except Exception as err:  # never let the link end the service
                log.exception("central link failed")
                why = f"{type(err).__name__}: {err}"
            self.connected_since, self.error = None, why
            attempt += 1
            delay = backoff_s(attempt, self.settings.reconnect_min_s,
                              self.settings.reconnect_max_s, self.rand)
            self.retry_at = self.clock() + delay
            log.warning("central unreachable (%s); next try in %.1f s", why, delay)
            await asyncio.sleep(delay)

    async def _converse(self, ws: ClientConnection) -> None:
        """Report at once, then on every step change and every report_interval_s, while
        central's messages are read as they come."""
        await self._send(ws)
        receiver = asyncio.create_task(self._receive(ws), name="central_receive")
        changed = asyncio.create_task(self._dirty.wait(), name="central_changed")
        try:
            while not receiver.done():
                await asyncio.wait({receiver, changed}, timeout=self.settings.report_interval_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                if receiver.done():
                    break
                await self._send(ws)  # a step changed, or report_interval_s passed
                if changed.done():
                    changed = asyncio.create_task(self._dirty.wait(), name="central_changed")
            receiver.result()  # a broken connection raises here
        finally:
            for task in (receiver, changed):
                task.cancel()
            await asyncio.gather(receiver, changed, return_exceptions=True)

    async def _send(self, ws: ClientConnection) -> None:
        """Every queued step in order, then (if none) the box as it is now."""
        self._dirty.clear()
        if not self._steps:
            await ws.send(wire.ENCODER.encode(self.report()).decode())
            self.reports_sent += 1
        while self._steps:
            await ws.send(wire.ENCODER.encode(self.report(self._steps[0])).decode())
            self._steps.popleft()  # only once it went out
            self.reports_sent += 1

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                msg = wire.LINK_DECODER.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as err:
                log.warning("central sent a message the box does not understand: %s", err)
                continue
            if isinstance(msg, wire.LinkError):  # central could not take a report of ours
                log.warning("central refused a report: %s (%s)", msg.code, msg.detail)
                continue
            self.assign(msg.rollout, msg.bundle, nudge=isinstance(msg, wire.Nudge))

    # ------------------------------------------------------------ director mode

    def assign(self, rollout: str, bundle: str, nudge: bool = False) -> None:
        """Central names the bundle this box should run ("" = stay as you are)."""
        # Central answers every report with an Assignment: only a nudge or a change asks for
        # a report back, or box and central would trade reports without end.
        s = self.state
        if (rollout, bundle) == (s.rollout, s.bundle):
            if nudge and s.step in wire.FAILED_STEPS and not self._fetching():
                self.state.delivered = ""
                self._set_step("targeted", "central asked again")
            if nudge:
                self._dirty.set()  # a nudge asks for a report now
            return
        if not bundle:
            if s.step not in IN_FLIGHT:
                self.state = LinkState()
                self._save()
                self._dirty.set()
            return
        if s.step in IN_FLIGHT and s.delivered:
            log.info("central assigned %s while %s is %s: it follows once that ends", bundle,
                     s.bundle, s.step)
        self.state = LinkState(rollout=rollout, bundle=bundle)
        self._fetch_failures, self._fetch_after = 0, 0.0
        if not _BUNDLE_NAME.match(bundle):
            self._set_step("failed", f"{bundle!r} is not a bundle name")
            return
        self._save()
        self._dirty.set()

    def _fetching(self) -> bool:
        return self._fetch is not None and not self._fetch.done()

    async def _run_updates(self) -> None:
        while True:
            try:
                self.follow(self.clock())
            except Exception:
                log.exception("following central's assignment failed; retrying")
            await asyncio.sleep(self.check_interval_s)

    def follow(self, now: float) -> None:
        """One look: start the assigned fetch, or move the step on with the updater's."""
        s = self.state
        if not s.bundle or self._fetching():
            return
        if s.step == "targeted" or (s.step == "downloading" and not s.delivered):
            if now < self._fetch_after:
                return
            if self.fetcher is None:
                self._set_step("failed", "this box has no root of trust ([provisioning] "
                               "root_file): it cannot verify bundles")
            elif self.updater.busy() or self.updater.slots.arrived():
                self._set_step("targeted", "waiting for the update in progress to end")
            else:
                self._set_step("downloading")
                self._fetch = asyncio.create_task(self._download(self.fetcher, s.bundle),
                                                  name="central_fetch")
            return
        if s.step in IN_FLIGHT and s.delivered:
            rec = self.updater.record
            if rec is None or rec.bundle != s.delivered:
                rec = self.updater.last if (self.updater.last is not None
                                            and self.updater.last.bundle == s.delivered) else None
            if rec is None:
                if s.delivered in self.updater.slots.arrived():
                    self._set_step("installing", "staged")
                return
            step = step_of(rec.state)
            self._set_step(step, rec.reason if step != "succeeded" else "")

    async def _download(self, fetcher: BundleFetcher, bundle: str) -> None:
        index = f"{BUNDLES}/{bundle}.json"
        try:
            delivered = await asyncio.to_thread(fetcher.fetch_once, index)
        except TrustError as err:
            if self.state.bundle != bundle:
                return
            if err.status.state == "unreachable":  # central or the CDN away: resume later
                self._fetch_failures += 1
                delay = backoff_s(self._fetch_failures, self.settings.reconnect_min_s,
                                  self.settings.reconnect_max_s, self.rand)
                self._fetch_after = self.clock() + delay
                self._set_step("downloading", f"retrying in {delay:.0f} s: {err}")
            else:
                self._set_step("failed", str(err))
            return
        except Exception as err:
            log.exception("fetching bundle %s failed", bundle)
            if self.state.bundle == bundle:
                self._set_step("failed", f"{type(err).__name__}: {err}")
            return
        if self.state.bundle != bundle:
            return
        if delivered is None:
            self._set_step("succeeded", "already installed: nothing newer in it")
            return
        self.state.delivered = delivered
        self._set_step("installing", "staged")
        self._save()
