"""The base every websocket message shares, with the role names and the audio stream id.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Role = Literal["kiosk", "caller", "console"]
StreamId = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]


class Message(msgspec.Struct, kw_only=True, tag_field="type", forbid_unknown_fields=True):
    """Base of every message; `id` lets a client correlate replies (`ref`)."""

    id: str | None = None
