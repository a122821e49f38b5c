"""Two LLM tiers behind one interface: the bank's remote server first, the box's own model
when the remote tier is off, failing, late or open-circuited, all within the caller's budget.

The customer never waits longer than with the local tier alone: routing runs both tiers at
once and a slow remote pick is dropped when the local one is ready; with no local tier the
remote call gets at most its own deadline (a remote that is down fails in milliseconds; an
open breaker costs nothing). Answers try the remote tier first within its first-sentence
deadline, then the local tier in what is left. A remote answer that produced
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
        """The remote pick, else the local tier's within what is left of the budget; with a
        local tier both run at once (see `_race`), so a slow remote never delays the turn."""
        started = self._clock()
        budget = self.route_deadline_s if deadline_s is None else deadline_s
        if self.remote.settings.route and self.local is not None:
            return self._race(text, candidates, budget, max_new_tokens, cancel, stats)
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

    def _race(
        self,
        text: str,
        candidates: Sequence[tuple[str, str]],
        budget: float,
        max_new_tokens: int | None,
        cancel: threading.Event | None,
        stats: CallStats | None,
    ) -> str | None:
        """Remote and local pick at once (the remote call is network I/O, not the box's CPU).
        A remote pick that comes first stops the local one; when the local pick comes first,
        the local pick stands and the remote answer, whenever it comes, is dropped. The turn never waits longer than the local
        tier alone would make it wait, whatever the remote server does."""
        assert self.local is not None
        stop_remote, stop_local = _Either(cancel), _Either(cancel)
        picked: list[str | None] = []

        def remote_pick() -> None:
            pick = self.remote.route(
                text, candidates, min(budget, self.remote.settings.route_deadline_s), None,
                stop_remote, None)
            picked.append(pick)
            if pick is not None:
                stop_local.set()

        worker = threading.Thread(target=remote_pick, name="remote-route", daemon=True)
        worker.start()
        local = self.local.route(text, candidates, budget, max_new_tokens, stop_local, stats)
        if picked and picked[0] is not None:
            return picked[0]
        stop_remote.set()  # never waited for: its late answer is dropped (a late one still
        # counts against the breaker, so a slow server soon stops being asked)
        if cancel is None or not cancel.is_set():
            self._fell_back("route")
        return local

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


class _Either(threading.Event):
    """Set by itself or when the caller's cancel event is: one event to hand a tier."""

    def __init__(self, outer: threading.Event | None) -> None:
        super().__init__()
        self._outer = outer

    def is_set(self) -> bool:
        return super().is_set() or (self._outer is not None and self._outer.is_set())
