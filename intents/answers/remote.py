"""The remote LLM tier: the bank's own OpenAI-compatible server (vLLM, SGLang, llama.cpp).

Behind the local engine's interface (`route`, `stream_answer`: synchronous, bounded, run in a
worker thread, returning None / ending the stream instead of raising), so the composer and
the service treat both tiers alike. The sync `openai` client fits that interface: the caller
already owns a worker thread, and closing a stream closes the connection, which makes the
server cancel the request and free its slot. Retries are off (a retried generation doubles
the customer's wait); every call has deadlines and goes through the circuit breaker.

Only masked text leaves the box: every message is passed through `outbound` here, whatever
the caller sent. The API key is never logged nor shown in `repr`.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final

import httpx2
import openai

from intents.answers.breaker import BreakerState, CircuitBreaker
from intents.answers.llm import CallStats
from intents.answers.llm_prompt import SentenceSplitter
from intents.answers.llm_route import MAX_CANDIDATES, ROUTE_SYSTEM_EN, route_user_message
from intents.answers.remote_settings import RemoteLlmSettings
from intents.answers.remote_stream import (
    ReasoningSeparator,
    constraint_for,
    delta_of,
    route_pick,
    route_schema,
)
from intents.guardrails.masking import mask_pii
from intents.understanding.slot_appointment import mask_numbers

log = logging.getLogger(__name__)
NO_THINKING: Final = {"enable_thinking": False, "thinking": False}  # templates that have it
ROUTE_SYSTEM_JSON: Final = 'Reply with JSON {"intent": "<bank service id>"} only.'


def outbound(text: str) -> str:
    """What may leave the box: IDs, cards, phones, emails and long codes masked."""
    return mask_numbers(mask_pii(text), 6)


def api_key_of(settings: RemoteLlmSettings) -> str:
    """The key from branch.toml, else from the named environment variable ("" = none)."""
    return settings.api_key or os.environ.get(settings.api_key_env, "")


def tls_verify(settings: RemoteLlmSettings) -> ssl.SSLContext | bool:
    """httpx2's `verify`: the bank CA pinned when given, system CAs, or off (lab only)."""
    if not settings.verify_tls:
        return False
    if settings.ca_file:
        context = ssl.create_default_context(cafile=settings.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
    return True


class RemoteLlm:
    """Routing and answer streaming on a remote server, never waiting past its deadlines."""

    def __init__(
        self,
        settings: RemoteLlmSettings,
        client: openai.OpenAI | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.client = client or openai.OpenAI(
            base_url=settings.base_url,
            api_key=api_key_of(settings) or "none",
            max_retries=0,
            timeout=httpx2.Timeout(settings.answer_deadline_s, connect=settings.connect_timeout_s),
            http_client=httpx2.Client(verify=tls_verify(settings), trust_env=False),
        )
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s, clock)
        self._lock = threading.Lock()  # the breaker and the counters; calls run in threads
        self.model = settings.model
        self.constraint = settings.constraint
        self.server = ""  # what GET /models said owns the model (vllm, sglang, llamacpp)
        self._probed = settings.constraint != "auto" and bool(settings.model)
        self.calls: Counter[tuple[str, str]] = Counter()  # (route|answer, outcome) -> calls
        self.last_error = ""

    def __repr__(self) -> str:  # never the key
        return f"RemoteLlm({self.settings.base_url!r}, model={self.model!r})"

    @classmethod
    def from_settings(cls, settings: RemoteLlmSettings) -> RemoteLlm | None:
        """The remote tier, or None when no base URL is configured."""
        if not settings.base_url:
            return None
        if not settings.verify_tls:
            log.warning("remote LLM tier: TLS verification is off (lab setting)")
        return cls(settings)

    # ------------------------------------------------------------ bookkeeping

    @property
    def breaker_state(self) -> BreakerState:
        """closed, open or half_open, with a lapsed cooldown shown as half_open."""
        with self._lock:
            if self.breaker.state == "open" and self.breaker.retry_in() <= 0:
                return "half_open"
            return self.breaker.state

    def _admit(self, kind: str, stats: CallStats) -> bool:
        with self._lock:
            if self.breaker.allow():
                return True
            self.calls[(kind, "breaker_open")] += 1
        stats.stop = "busy"
        return False

    def _verdict(self, kind: str, outcome: str, ok: bool | None, why: str = "") -> None:
        with self._lock:
            self.calls[(kind, outcome)] += 1
            if ok is True:
                self.breaker.success()
            elif ok is False:
                self.breaker.failure()
                self.last_error = why or outcome
            else:
                self.breaker.release()
        if ok is False:
            log.info("remote LLM %s failed: %s", kind, why or outcome)

    def _probe(self, timeout_s: float) -> None:
        """Once: the served model's name and owner, which choose the routing constraint."""
        if self._probed:
            return
        page = self.client.models.list(
            timeout=httpx2.Timeout(
                timeout_s, connect=min(timeout_s, self.settings.connect_timeout_s)
            )
        )
        first = next(iter(page.data), None)
        if not self.model:
            if first is None:
                raise RuntimeError("the server lists no model")
            self.model = first.id
        owner = str(getattr(first, "owned_by", "") or "")
        version = ""
        if owner.lower() == "vllm" and self.constraint == "auto":
            version = self._vllm_version(timeout_s)
        self.server = owner
        if self.constraint == "auto":
            self.constraint = constraint_for(owner, version)  # type: ignore[assignment]
        self._probed = True

    def _vllm_version(self, timeout_s: float) -> str:
        root = str(self.client.base_url).rstrip("/").removesuffix("/v1")
        try:
            got = self.client._client.get(f"{root}/version", timeout=timeout_s)
            return str(got.json().get("version", ""))
        except Exception:
            return ""

    def _timeout(self, read_s: float) -> httpx2.Timeout:
        read_s = max(0.05, read_s)
        return httpx2.Timeout(read_s, connect=min(read_s, self.settings.connect_timeout_s))

    # ------------------------------------------------------------ routing

    def route(
        self,
        text: str,
        candidates: Sequence[tuple[str, str]],
        deadline_s: float | None = None,
        max_new_tokens: int | None = None,
        cancel: threading.Event | None = None,
        stats: CallStats | None = None,
    ) -> str | None:
        """One of the candidate intent ids, or None (late, failing, open breaker, nonsense)."""
        stats = stats if stats is not None else CallStats()
        started = self._clock()
        limit = self.settings.route_deadline_s if deadline_s is None else deadline_s
        options = list(candidates)[:MAX_CANDIDATES]
        if not options or not text.strip() or limit <= 0:
            return None
        if not self._admit("route", stats):
            return None
        try:
            self._probe(limit)
            pick = self._route(
                text,
                options,
                limit - (self._clock() - started),
                max_new_tokens or self.settings.route_max_tokens,
                stats,
            )
        except Exception as err:
            late = isinstance(err, openai.APITimeoutError | httpx2.TimeoutException)
            stats.stop = "deadline" if late else "error"
            self._verdict("route", stats.stop, False, _why(err))
            return None
        finally:
            stats.total_s = self._clock() - started
        if stats.total_s > limit:  # late counts against the breaker even if no longer wanted
            stats.stop = "deadline"
            self._verdict("route", "deadline", False, f"answered after {stats.total_s:.2f}s")
            return None
        if cancel is not None and cancel.is_set():
            stats.stop = "cancelled"
            self._verdict("route", "cancelled", None)
            return None
        if pick is None:
            self._verdict("route", "nonsense", False, "reply outside the candidates")
            return None
        stats.stop = "eos"
        self._verdict("route", "ok", True)
        return pick

    def _route(
        self,
        text: str,
        options: list[tuple[str, str]],
        remaining: float,
        budget: int,
        stats: CallStats,
    ) -> str | None:
        ids = [intent_id for intent_id, _label in options]
        extra: dict[str, Any] = {"chat_template_kwargs": NO_THINKING}
        system = ROUTE_SYSTEM_EN
        response_format: Any = openai.omit
        if self.constraint == "structured_outputs":
            extra["structured_outputs"] = {"choice": ids}
        elif self.constraint == "guided_choice":
            extra["guided_choice"] = ids
        else:
            system = ROUTE_SYSTEM_JSON
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "route", "strict": True, "schema": route_schema(ids)},
            }
        reply = self.client.chat.completions.create(
            model=self.model,
            temperature=0.0,
            max_tokens=budget,
            messages=[
                {"role": "system", "content": outbound(system)},
                {"role": "user", "content": outbound(route_user_message(text, options))},
            ],
            response_format=response_format,
            extra_body=extra,
            timeout=self._timeout(remaining),
        )
        if reply.usage is not None:
            stats.prompt_tokens = reply.usage.prompt_tokens
            stats.new_tokens = reply.usage.completion_tokens
        content = reply.choices[0].message.content if reply.choices else None
        return route_pick(content or "", ids, str(self.constraint))

    # ------------------------------------------------------------ answers

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
        """Answer sentences as they complete; reasoning never; nothing past the deadlines.

        `first_sentence_s` (or the configured first-token time, whichever is shorter) bounds
        the wait for the first answer text; reasoning does not count as an answer. Closing
        the generator closes the HTTP stream, which frees the server's slot.
        """
        stats = stats if stats is not None else CallStats()
        started = self._clock()
        total = self.settings.answer_deadline_s if deadline_s is None else deadline_s
        first = min(
            total,
            self.settings.first_token_s,
            first_sentence_s if first_sentence_s is not None else total,
        )
        if total <= 0 or first <= 0 or not self._admit("answer", stats):
            return
        outcome: str = "ok"
        ok: bool | None = True
        why = ""
        stream: Any = None
        try:
            self._probe(first)
            stream = self.client.chat.completions.create(
                model=self.model,
                temperature=0.0,
                stream=True,
                max_tokens=max_new_tokens or self.settings.answer_max_tokens,
                messages=[
                    {"role": "system", "content": outbound(system)},
                    {"role": "user", "content": outbound(user)},
                ],
                extra_body={"chat_template_kwargs": NO_THINKING},
                timeout=self._timeout(first - (self._clock() - started)),
            )
            outcome, ok, why = yield from self._sentences(
                stream, started, (first, total), cancel, stats
            )
        except GeneratorExit:  # the composer stopped listening: the stream closes below
            outcome, ok = "cancelled", None
            raise
        except Exception as err:
            late = isinstance(err, openai.APITimeoutError | httpx2.TimeoutException)
            outcome, ok, why = ("deadline" if late else "error"), False, _why(err)
            stats.stop = "deadline" if late else "error"
        finally:
            if stream is not None:
                stream.close()
            stats.total_s = self._clock() - started
            self._verdict("answer", outcome, ok, why)

    def _sentences(
        self,
        stream: Any,
        started: float,
        deadlines: tuple[float, float],
        cancel: threading.Event | None,
        stats: CallStats,
    ) -> Generator[str, None, tuple[str, bool | None, str]]:
        first, total = deadlines
        separator = ReasoningSeparator(self.settings.unopened_think)
        splitter = SentenceSplitter()
        finish: str | None = None
        for chunk in stream:
            elapsed = self._clock() - started
            if cancel is not None and cancel.is_set():
                stats.stop = "cancelled"
                return "cancelled", None, ""
            if elapsed > total or (stats.first_token_s is None and elapsed > first):
                stats.stop = "deadline"
                return "deadline", False, f"no answer text after {elapsed:.2f}s"
            delta = delta_of(chunk.model_dump())
            stats.new_tokens += 1
            text = separator.feed(delta)
            if text and stats.first_token_s is None:
                stats.first_token_s = elapsed
            finish = delta.finish_reason or finish
            yield from splitter.feed(text)
        yield from splitter.feed(separator.finish())
        if finish != "length":  # a sentence cut by the token budget is not said
            last = splitter.flush()
            if last is not None:
                yield last
        if separator.answer_chars == 0:
            stats.stop = "think" if separator.saw_reasoning else "eos"
            return "empty", False, "no answer text"
        stats.stop = "max_tokens" if finish == "length" else "eos"
        return "ok", True, ""


def _why(err: Exception) -> str:
    """A log-safe reason: the exception type and HTTP status, never a body or a header."""
    status = getattr(err, "status_code", None)
    return f"{type(err).__name__}" + (f" (HTTP {status})" if status else "")
