"""The one interface of the LLM tiers (local engine, remote server, or both in order)."""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from typing import Protocol

from intents.answers.llm import CallStats


class LlmTier(Protocol):
    """What the service and the composer call: bounded, never raising, None when unsure."""

    def route(
        self,
        text: str,
        candidates: Sequence[tuple[str, str]],
        deadline_s: float | None = None,
        max_new_tokens: int | None = None,
        cancel: threading.Event | None = None,
        stats: CallStats | None = None,
    ) -> str | None: ...

    def stream_answer(
        self,
        system: str,
        user: str,
        deadline_s: float | None = None,
        max_new_tokens: int | None = None,
        cancel: threading.Event | None = None,
        stats: CallStats | None = None,
        first_sentence_s: float | None = None,
    ) -> Generator[str, None, None]: ...
