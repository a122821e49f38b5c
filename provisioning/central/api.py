"""Central's API handlers (wire.py's endpoints): a box's reports and day aggregates over HTTP,
its link (websocket), and the operators' fleet view. Every store call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import WSMsgType, web

from provisioning.central.auth import ApiError, BoxAuth, check_operator, json_error, shown
from provisioning.central.fleet import FleetStore
from provisioning.central.links import Link, Links
from provisioning.central.server_settings import CentralServerSettings
from provisioning.central.wire import (
    DAY_DECODER,
    ENCODER,
    REPORT_DECODER,
    Assignment,
    BoxReport,
    DayReport,
    LinkError,
    LinkErrorCode,
)

log = logging.getLogger("branch_teller.central")
M = TypeVar("M", BoxReport, DayReport)  # a message a box sends about itself

JSON = "application/json"


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it passes limit: nothing more is buffered."""
    if request.content_length is not None and request.content_length > limit:
        raise json_error(413, "too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65_536):
        size += len(chunk)
        if size > limit:
            raise json_error(413, "too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def record_and_assign(store: FleetStore, report: BoxReport, now: float) -> Assignment:
    """Store a report and say what the box should run (one worker-thread trip)."""
    store.record_report(report, now)
    rollout, bundle = store.assignment(report.box_id)
    return Assignment(rollout=rollout, bundle=bundle)


def link_error(code: LinkErrorCode, detail: str) -> LinkError:
    """What a box is told about a link message central could not take."""
    return LinkError(code=code, detail=detail)


def _valid_day(day: str) -> bool:
    try:
        return len(day) == 10 and dt.date.fromisoformat(day).isoformat() == day
    except ValueError:
        return False


class CentralApi:
    """The handlers, over one store, one credential checker and the open links."""

    def __init__(
        self,
        store: FleetStore,
        settings: CentralServerSettings,
        links: Links,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.settings, self.links, self.clock = store, settings, links, clock
        self.auth = BoxAuth(
            store,
            settings.auth_cache_s,
            failures_per_source=settings.auth_failures_per_source,
            failure_window_s=settings.auth_failure_window_s,
            concurrency=settings.auth_concurrency,
        )
        self.tick_at: float | None = None  # last rollout tick that went through
        self.tick_error = ""  # why the last tick failed ("" when it did not)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/report", self.report),
            web.post("/api/v1/day", self.day),
            web.get("/api/v1/link", self.link),
            web.get("/api/v1/fleet", self.fleet),
            web.get("/health", self.health),
        ]

    async def _from_box(
        self, request: web.Request, decoder: msgspec.json.Decoder[M], limit: int, what: str
    ) -> M:
        """A message from an authenticated box, about that box (401, 413, 400, 403 otherwise)."""
        box_id = await self.auth.box_id(request)
        body = await read_body(request, limit)
        try:
            message = decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise json_error(400, "bad_request", f"not {what}: {exc}") from None
        if message.box_id != box_id:
            raise json_error(403, "box_id_mismatch", "box_id differs from the credential's box")
        return message

    async def report(self, request: web.Request) -> web.Response:
        """POST /api/v1/report: BoxReport -> Assignment."""
        report = await self._from_box(request, REPORT_DECODER, self.settings.max_report_bytes,
                                      "a box report")
        assignment = await self._record(report)
        return web.Response(body=ENCODER.encode(assignment), content_type=JSON)

    async def day(self, request: web.Request) -> web.Response:
        """POST /api/v1/day: DayReport -> {"ok": true} (a resent day replaces the first)."""
        report = await self._from_box(request, DAY_DECODER, self.settings.max_day_bytes,
                                      "a day report")
        if not _valid_day(report.day):
            raise json_error(400, "bad_request", "day must be a date as YYYY-MM-DD")
        await asyncio.to_thread(
            self.store.record_day, report.box_id, report.day, report.aggregates, self.clock()
        )
        log.info("day %s recorded for box %s", report.day, shown(report.box_id))
        return web.json_response({"ok": True})

    async def _record(self, report: BoxReport) -> Assignment:
        try:
            assignment = await asyncio.to_thread(
                record_and_assign, self.store, report, self.clock()
            )
        except Exception:
            log.exception("could not record the report of box %s", shown(report.box_id))
            raise json_error(500, "internal", "central could not record the report") from None
        if report.update is not None:
            log.info(
                "box %s: rollout %s %s",
                shown(report.box_id), shown(report.update.rollout), report.update.step,
            )
        return assignment

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        """GET /api/v1/link: the websocket a box keeps open (credential checked before the
        upgrade, so a refused box gets a plain 401)."""
        box_id = await self.auth.box_id(request)
        ws = web.WebSocketResponse(
            heartbeat=self.settings.heartbeat_s,
            max_msg_size=self.settings.max_report_bytes,
            timeout=self.settings.shutdown_grace_s,  # how long a closing handshake may take
        )
        await ws.prepare(request)
        link = self.links.attach(box_id, ws)
        log.info("box %s linked", shown(box_id))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_link_report(link, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    link.send(link_error("binary_frame", "send reports as JSON text"))
        finally:
            await self.links.detach(link)
            log.info("box %s unlinked (close code %s)", shown(box_id), ws.close_code)
        return ws

    async def _on_link_report(self, link: Link, data: str) -> None:
        try:
            report = REPORT_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            link.send(link_error("bad_message", f"not a box report: {exc}"))
            return
        if report.box_id != link.box_id:
            link.send(link_error("box_id_mismatch", "box_id differs from the link's"))
            return
        try:
            assignment = await self._record(report)
        except ApiError:
            link.send(link_error("internal", "central could not record the report"))
            return
        link.send(assignment)

    async def fleet(self, request: web.Request) -> web.Response:
        """GET /api/v1/fleet: every box (online or not) and every rollout with its boxes."""
        token = await asyncio.to_thread(self.settings.operator_token)
        check_operator(request, token)
        view = await asyncio.to_thread(self._fleet_view, self.links.online())
        return web.Response(body=msgspec.json.encode(view), content_type=JSON)

    def _fleet_view(self, online: dict[str, float]) -> dict[str, Any]:
        boxes = []
        for box in self.store.boxes():
            row = msgspec.to_builtins(box)
            row["online_since"] = online.get(box.box_id)
            boxes.append(row)
        rollouts = []
        for rollout in self.store.rollouts(include_finished=True):
            row = msgspec.to_builtins(rollout)
            row["boxes"] = msgspec.to_builtins(self.store.rollout_boxes(rollout.rollout_id))
            rollouts.append(row)
        return {"now": self.clock(), "boxes": boxes, "rollouts": rollouts}

    async def health(self, request: web.Request) -> web.Response:
        """GET /health: alive, how many boxes are linked, and how the rollout tick fares."""
        del request
        return web.json_response(
            {
                "status": "ok" if not self.tick_error else "degraded",
                "links": len(self.links),
                "tick_at": self.tick_at,
                "tick_error": self.tick_error,
            }
        )
