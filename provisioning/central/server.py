"""`branch-teller central serve`: the TUF repository, the boxes' API and their links on one
port (aiohttp), plus the rollout tick that nudges connected boxes a rollout has just targeted.

    /repo/metadata/*, /repo/targets/*   the repository folder, static, Range honoured
    /api/v1/report, /api/v1/day         a box's reports (its own bearer credential)
    /api/v1/link                        the websocket each box keeps open
    /api/v1/fleet                       the fleet and rollouts for operators (operator token)
    /health                             liveness and the tick's state
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from aiohttp import web

from provisioning.central.api import CentralApi
from provisioning.central.auth import ApiError, shown
from provisioning.central.fleet import FleetStore
from provisioning.central.links import CLOSE_DISABLED, Links
from provisioning.central.server_settings import CentralServerSettings, load_server_settings
from provisioning.central.wire import Nudge

log = logging.getLogger("branch_teller.central")

# rollout.step: (store, now) -> [(box_id, rollout_id, bundle)] of boxes newly targeted
RolloutStep = Callable[[FleetStore, float], list[tuple[str, str, str]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

IMMUTABLE = "public, max-age=31536000, immutable"  # hash-named targets, versioned metadata


def _cache_control(path: str) -> str:
    """Targets and N.role.json never change under their name; timestamp.json always does."""
    if path.startswith("/repo/targets/"):
        return IMMUTABLE
    name = path.rsplit("/", 1)[-1]
    return IMMUTABLE if name.split(".", 1)[0].isdigit() else "no-cache"


def _etag(path: Path) -> str:
    """The strong ETag aiohttp's FileResponse sends for a file (mtime and size in hex)."""
    st = path.stat()
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _if_range_fails(repo_dir: Path, request: web.Request) -> tuple[Path, int, str] | None:
    """RFC 9110 If-Range with an entity tag: aiohttp only judges the date form, so a range
    asked "if still ETAG" is checked here; a weak or stale tag gets the whole file (its
    path, size and ETag are returned then)."""
    if_range = request.headers.get("If-Range", "").strip()
    if (request.method != "GET" or "Range" not in request.headers
            or not if_range.startswith(('"', "W/"))):
        return None
    part, _, rest = request.path.removeprefix("/repo/").partition("/")
    if part not in ("metadata", "targets") or not rest:
        return None
    base = (repo_dir / part).resolve()
    path = Path(os.path.normpath(base / rest))
    if not path.is_relative_to(base) or path.resolve() != path or not path.is_file():
        return None  # escapes, symlinks, folders: the static route refuses them as always
    etag = _etag(path)
    if if_range.startswith("W/") or if_range != etag:
        return path, path.stat().st_size, etag
    return None


async def _whole_file(request: web.Request, whole: tuple[Path, int, str]) -> web.StreamResponse:
    """200 with every byte (FileResponse would still honour the request's Range)."""
    path, size, etag = whole
    response = web.StreamResponse(
        headers={"Content-Length": str(size), "ETag": etag,
                 "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
    )
    await response.prepare(request)
    with await asyncio.to_thread(path.open, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, 256 * 1024):
            await response.write(chunk)
    await response.write_eof()
    return response


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()


class CentralServer:
    """One running central: its aiohttp runner, its links and its rollout tick."""

    def __init__(
        self,
        store: FleetStore,
        repo_dir: Path,
        step: RolloutStep,
        *,
        tick_s: float = 5.0,
        settings: CentralServerSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for part in ("metadata", "targets"):
            if not (repo_dir / part).is_dir():
                raise ValueError(
                    f"{repo_dir} is not a TUF repository (no {part}/): run `branch-teller repo init`"
                )
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.store, self.repo_dir, self.step = store, repo_dir, step
        self.tick_s, self.clock = tick_s, clock
        self.settings = settings or CentralServerSettings()
        self.links = Links(self.settings.link_queue)
        self.api = CentralApi(store, self.settings, self.links, clock)
        self.app = self._build_app()
        self.runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=self.settings.shutdown_grace_s
        )
        self.address: tuple[str, int] | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self.address is not None, "not started"
        return f"http://{self.address[0]}:{self.address[1]}"

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[_api_errors, self._repo_guard])
        app.add_routes(self.api.routes())
        for part in ("metadata", "targets"):
            app.router.add_static(
                f"/repo/{part}/", self.repo_dir / part, show_index=False, follow_symlinks=False
            )
        app.on_response_prepare.append(self._headers)
        return app

    @web.middleware
    async def _repo_guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The repository is public unless [server] repo_requires_box_credential is set."""
        if not request.path.startswith("/repo/"):
            return await handler(request)
        if self.settings.repo_requires_box_credential:
            await self.api.auth.box_id(request)
        whole = _if_range_fails(self.repo_dir, request)
        return await handler(request) if whole is None else await _whole_file(request, whole)

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/repo/") and response.status in (200, 206, 304):
            response.headers["Cache-Control"] = _cache_control(request.path)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen (port 0: any free port, see .address) and start the rollout tick."""
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        self._ticker = asyncio.create_task(self._tick_forever(), name="central-rollout-tick")

    async def stop(self) -> None:
        """Stop the tick, close every link with "going away", then finish open requests."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.links.close_all("central is shutting down")
        await self.runner.cleanup()

    async def __aenter__(self) -> CentralServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            await self.tick()

    async def tick(self) -> list[tuple[str, str, str]]:
        """One rollout step: nudge the newly targeted boxes that are linked (the others get
        their Assignment with their next report); close links of disabled boxes."""
        try:
            targeted = await asyncio.to_thread(self.step, self.store, self.clock())
            boxes = await asyncio.to_thread(self.store.boxes)
        except Exception as exc:
            log.exception("rollout tick failed")
            self.api.tick_error = type(exc).__name__
            return []
        self.api.tick_at, self.api.tick_error = self.clock(), ""
        for box_id, rollout_id, bundle in targeted:
            if self.links.send(box_id, Nudge(rollout=rollout_id, bundle=bundle)):
                log.info("nudged box %s for rollout %s", shown(box_id), shown(rollout_id))
        for box in boxes:
            if not box.enabled:
                self.api.auth.forget(box.box_id)
                self.links.drop(box.box_id, CLOSE_DISABLED, "this box is disabled")
        return targeted


async def serve(
    store: FleetStore,
    repo_dir: Path,
    step: RolloutStep,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tick_s: float = 5.0,
    settings: CentralServerSettings | None = None,
) -> CentralServer:
    """A started central (tests: port 0, in-process); stop it with `await server.stop()` or
    `async with await serve(...) as server:`."""
    server = CentralServer(store, repo_dir, step, tick_s=tick_s, settings=settings)
    await server.start(host, port)
    return server


async def serve_until_signal(
    store: FleetStore,
    repo_dir: Path,
    step: RolloutStep,
    *,
    host: str,
    port: int,
    tick_s: float,
    settings: CentralServerSettings,
) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; prints the start line."""
    server = CentralServer(store, repo_dir, step, tick_s=tick_s, settings=settings)
    try:
        await server.start(host, port)
    except OSError as exc:
        print(f"central: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        await server.runner.cleanup()
        return 2
    async with server:
        print(f"central listening on {server.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("central shutting down")
    return 0


def run_with(
    store: FleetStore,
    step: RolloutStep,
    *,
    repo_dir: Path,
    host: str,
    port: int,
    tick_s: float,
    settings: CentralServerSettings | None = None,
) -> int:
    """Blocking: serve this store until a signal (run() with the store already open)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(
            serve_until_signal(
                store, repo_dir, step, host=host, port=port, tick_s=tick_s,
                settings=settings or CentralServerSettings(),
            )
        )
    except ValueError as exc:
        print(f"central: {exc}", file=sys.stderr)
        return 2


def run(
    store_url: str,
    repo_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8780,
    tick_s: float = 5.0,
    config_file: Path | None = None,
) -> int:
    """`central serve`: open the fleet store and serve until SIGTERM/SIGINT; the exit code."""
    from provisioning.central.rollout import step
    from provisioning.central.store import open_store

    try:
        settings = load_server_settings(config_file)
        store = open_store(store_url)
    except (ValueError, OSError) as exc:
        print(f"central: {exc}", file=sys.stderr)
        return 2
    try:
        return run_with(
            store, step, repo_dir=repo_dir, host=host, port=port, tick_s=tick_s,
            settings=settings,
        )
    finally:
        store.close()
