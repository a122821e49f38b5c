"""A small real central for the box's tests, speaking `provisioning/central/wire.py` over a
real aiohttp server on 127.0.0.1: the link websocket, POST /api/v1/report and /api/v1/day,
and the TUF repository as static files under /repo (byte ranges honoured).

It stands in for `provisioning/central/server.py` (built beside this branch); at merge the
tests can run against the real central instead. It keeps no fleet: it checks each box's
Bearer credential, records what boxes send, and lets a test push Nudge/Assignment messages,
drop links, refuse day reports, and stop and start again on the same port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from aiohttp import WSMsgType, web

from provisioning.central import wire


@dataclass
class CentralPeer:
    secrets: dict[str, str]  # box id -> secret
    repo: Path | None = None  # the TUF repository folder served under /repo
    reports: list[wire.BoxReport] = field(default_factory=list)
    days: list[wire.DayReport] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each refused request was refused
    day_status: int = 200  # answer POST /api/v1/day with this (503: central is struggling)
    links: dict[str, web.WebSocketResponse] = field(default_factory=dict)
    connects: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> CentralPeer:
        """Listen (on the same port as before, after a stop)."""
        app = web.Application()
        app.router.add_get("/api/v1/link", self._link)
        app.router.add_post("/api/v1/report", self._report)
        app.router.add_post("/api/v1/day", self._day)
        if self.repo is not None:
            app.router.add_static("/repo", self.repo)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Central goes away: links closed, nothing listening."""
        for ws in list(self.links.values()):
            await ws.close()
        self.links.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ what a test does

    async def send(self, box_id: str, msg: wire.Nudge | wire.Assignment) -> None:
        await self.links[box_id].send_str(wire.ENCODER.encode(msg).decode())

    async def drop(self, box_id: str) -> None:
        """Close one box's link (as a restarting central or a load balancer would)."""
        await self.links.pop(box_id).close()

    async def wait_for(self, what: str, ok: object, timeout: float = 60.0) -> None:
        """Until ok() is true (checked whenever a box sent something)."""
        assert callable(ok)
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(ok)
        del what

    def steps(self, box_id: str) -> list[tuple[str, str, str]]:
        """(rollout, step, reason) of each report carrying an update, in order, repeats
        of the same step folded."""
        out: list[tuple[str, str, str]] = []
        for r in self.reports:
            if r.box_id == box_id and r.update is not None:
                item = (r.update.rollout, r.update.step, r.update.reason)
                if not out or out[-1][:2] != item[:2]:
                    out.append(item)
        return out

    # ------------------------------------------------------------ handlers

    def _box(self, request: web.Request) -> str | None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        box_id, _, secret = credential.partition(":")
        if scheme != "Bearer" or not box_id or self.secrets.get(box_id) != secret:
            self.refused.append(f"{request.path}: bad credential for {box_id!r}")
            return None
        return box_id

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _link(self, request: web.Request) -> web.StreamResponse:
        box_id = self._box(request)
        if box_id is None:
            return web.Response(status=401, text="unknown box or wrong secret")
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        self.links[box_id] = ws
        self.connects += 1
        await self._notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                report = wire.REPORT_DECODER.decode(msg.data)
                self.reports.append(report)
                await self._notify()
        finally:
            if self.links.get(box_id) is ws:
                del self.links[box_id]
            await self._notify()
        return ws

    async def _report(self, request: web.Request) -> web.Response:
        if self._box(request) is None:
            return web.Response(status=401)
        self.reports.append(wire.REPORT_DECODER.decode(await request.read()))
        await self._notify()
        return web.Response(body=wire.ENCODER.encode(wire.Assignment()),
                            content_type="application/json")

    async def _day(self, request: web.Request) -> web.Response:
        if self._box(request) is None:
            return web.Response(status=401)
        if self.day_status != 200:
            return web.Response(status=self.day_status, text="try again later")
        try:
            self.days.append(wire.DAY_DECODER.decode(await request.read()))
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            return web.json_response({"ok": False, "error": str(err)}, status=400)
        await self._notify()
        return web.json_response({"ok": True})
