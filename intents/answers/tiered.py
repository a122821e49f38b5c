"""Two LLM tiers behind one interface: the bank's remote server first, the box's own model
when the remote tier is off, failing, late or open-circuited, all within the caller's budget.

The customer never waits longer than with the local tier alone: the remote call gets at most
its own deadline out of the caller's, and the local tier runs in what is left (a remote that
is down fails in milliseconds; an open breaker costs nothing). A remote answer that produced
no sentence hands over to the local tier; once a remote sentence was spoken, the answer stays
remote (the composer falls back to the extractive answer if it stops early).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence

from intents.answers.llm import CallStats
from intents.answers.remote import RemoteLlm
from intents.answers.tier import LlmTier


class TieredLlm:
    """Remote first (when configured for the job and its breaker allows), then local."""

    def __init__(
        self,
        remote: RemoteLlm,
        local: LlmTier | None,
        route_deadline_s: float,
        answer_deadline_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remote = remote
        self.local = local
        self.route_deadline_s = route_deadline_s  # the caller's default routing budget
        self.answer_deadline_s = answer_deadline_s
        self._clock = clock
        self.fallbacks: Counter[tuple[str, str]] = Counter()  # (route|answer, to) -> count
        self._lock = threading.Lock()

    def _fell_back(self, kind: str) -> None:
        with self._lock:
            self.fallbacks[(kind, "local" if self.local is not None else "none")] += 1

    def route(
        self,
        text: str,
        candidates: Sequence[tuple[str, str]],
        deadline_s: float | None = None,
        max_new_tokens: int | None = None,
        cancel: threading.Event | None = None,
        stats: CallStats | None = None,
    ) -> str | None:
        """The remote pick, else the local tier's within what is left of the budget."""
        started = self._clock()
        budget = self.route_deadline_s if deadline_s is None else deadline_s
        if self.remote.settings.route:
            pick = self.remote.route(
                text,
                candidates,
                min(budget, self.remote.settings.route_deadline_s),
                None,
                cancel,
                stats,
            )
            if pick is not None or (cancel is not None and cancel.is_set()):
                return pick
            self._fell_back("route")
        left = budget - (self._clock() - started)
        if self.local is None or left <= 0:
            return None
        return self.local.route(text, candidates, left, max_new_tokens, cancel, stats)

    def stream_answer(
        self,
        system: str,
        user: str,
        deadline_s: float | None = None,
        max_new_tokens: int | None = None,
        cancel: threading.Event | None = None,
        stats: CallStats | None = None,
        first_sentence_s: float | None = None,
    ) -> Generator[str, None, None]:
        """Remote sentences; if the remote gave none, the local tier's in the time left."""
        started = self._clock()
        total = self.answer_deadline_s if deadline_s is None else deadline_s
        if self.remote.settings.answers:
            spoke = False
            remote = self.remote.stream_answer(
                system, user, total, None, cancel, stats, first_sentence_s
            )
            try:
                for sentence in remote:
                    spoke = True
                    yield sentence
            finally:
                remote.close()
            if spoke or (cancel is not None and cancel.is_set()):
                return
            self._fell_back("answer")
        if self.local is None:
            return
        spent = self._clock() - started
        first = None if first_sentence_s is None else first_sentence_s - spent
        if total - spent <= 0 or (first is not None and first <= 0):
            return
        yield from self.local.stream_answer(
            system, user, total - spent, max_new_tokens, cancel, stats, first
        )
