"""The websockets boxes keep open to central (`GET /api/v1/link`): one per box, each with a
bounded outgoing queue and its own writer task, so a slow box never holds up the rollout tick.
A box that connects again replaces its older link (a box has one current view of central).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSCloseCode, web

from provisioning.central.auth import shown
from provisioning.central.wire import ENCODER, LinkMessage

log = logging.getLogger("branch_teller.central")

CLOSE_REPLACED = 4000  # a newer link from the same box took over
CLOSE_DISABLED = 4003  # an operator disabled the box
CLOSE_TOO_SLOW = 4008  # the box fell more than link_queue messages behind


class Link:
    """One box's open websocket and what is waiting to be sent down it."""

    def __init__(self, box_id: str, ws: web.WebSocketResponse, queue_size: int) -> None:
        self.box_id, self.ws = box_id, ws
        self.since = time.time()
        self.queue: asyncio.Queue[LinkMessage] = asyncio.Queue(maxsize=queue_size)
        self.writer = asyncio.create_task(self._write(), name=f"central-link-writer-{box_id}")
        self._closing: asyncio.Task[None] | None = None

    def send(self, message: LinkMessage) -> bool:
        """Queue a message; a link too far behind is closed (the box reconnects and reports)."""
        if self.ws.closed or self._closing is not None:
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("link of box %s fell behind: closing it", shown(self.box_id))
            self.close_soon(CLOSE_TOO_SLOW, "fell behind; reconnect and report")
            return False
        return True

    def close_soon(self, code: int, reason: str) -> None:
        """Close from code that cannot wait (the tick, a full queue)."""
        if self._closing is None:
            self._closing = asyncio.create_task(
                self.close(code, reason), name=f"central-link-close-{self.box_id}"
            )

    async def close(self, code: int, reason: str) -> None:
        """Stop writing and close the websocket with a code and reason the box can log."""
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode())

    async def _write(self) -> None:
        while True:
            message = await self.queue.get()
            try:
                await self.ws.send_str(ENCODER.encode(message).decode())
            except (ConnectionError, RuntimeError) as exc:  # closing under us: the reader ends
                log.info("link of box %s lost while sending: %s", shown(self.box_id), exc)
                return


class Links:
    """Every open link by box id (the fleet's "online" view)."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._links: dict[str, Link] = {}

    def __len__(self) -> int:
        return len(self._links)

    def online(self) -> dict[str, float]:
        """Box id -> since when its current link is open (central's clock)."""
        return {box_id: link.since for box_id, link in self._links.items()}

    def attach(self, box_id: str, ws: web.WebSocketResponse) -> Link:
        """The box's new link; an older one is closed with CLOSE_REPLACED."""
        link = Link(box_id, ws, self.queue_size)
        old = self._links.get(box_id)
        self._links[box_id] = link
        if old is not None:
            log.info("box %s linked again: closing its older link", shown(box_id))
            old.close_soon(CLOSE_REPLACED, "replaced by a newer link from this box")
        return link

    async def detach(self, link: Link) -> None:
        """The link ended (either side); forget it unless a newer one replaced it already."""
        if self._links.get(link.box_id) is link:
            del self._links[link.box_id]
        await link.close(WSCloseCode.OK, "closed")

    def send(self, box_id: str, message: LinkMessage) -> bool:
        """Queue a message for a connected box; False when it has no open link."""
        link = self._links.get(box_id)
        return link.send(message) if link is not None else False

    def drop(self, box_id: str, code: int, reason: str) -> None:
        """Close a box's link (disabled by an operator)."""
        link = self._links.get(box_id)
        if link is not None:
            link.close_soon(code, reason)

    async def close_all(self, reason: str) -> None:
        """Shutdown: every link gets "going away", so boxes reconnect to the next central."""
        links = list(self._links.values())
        await asyncio.gather(
            *(link.close(WSCloseCode.GOING_AWAY, reason) for link in links),
            return_exceptions=True,
        )
