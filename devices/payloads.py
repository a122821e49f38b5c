"""Typed payloads that travel inside messages: the base every payload family shares.

Nested structs of `devices.protocol`'s messages, one module a family: `queue_payloads`
(boards, tickets), `health_payloads`, `result_payloads` (command results) and
`branch_payloads` (the branch, forms). Like the messages they reject unknown fields, so the
service and every client agree on each field's name and type; a new field is added there
first, with a default, so older readers keep decoding.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Language = Literal["zh", "en"]


class Payload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every nested payload."""

