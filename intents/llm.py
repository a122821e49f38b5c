"""The LLM tier: a DeepSeek-R1-Distill-Qwen-class ONNX model that routes and writes answers.

Synchronous and bounded: every call has a token budget, a deadline and a cancel event, and
returns None / stops instead of raising, so the service (which runs these calls in a worker
thread) always has the router and the knowledge hub to fall back on.

Runtime: onnxruntime-genai (int4 MatMulNBits + GroupQueryAttention, KV cache managed by the
runtime, same folder on CUDA). Measured here on the 0.5B demo weights, 2 threads, 34-token
prompt, 64 new tokens: genai int4 53.8 tok/s decode, 0.15 s prefill, 0.68 GB RSS; onnxruntime
1.32 via optimum-onnx 0.1.0 export + int8 dynamic quantization 24.5 tok/s, 0.09 s prefill.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from intents.llm_prompt import (
    THINK_OPEN,
    ChatFamily,
    SentenceSplitter,
    ThinkFilter,
    chat_prompt,
    family_of,
)
from intents.llm_route import (
    MAX_CANDIDATES,
    ROUTE_SYSTEM_EN,
    ChoiceTrie,
    best_allowed,
    menu_keys,
    route_user_message,
)

log = logging.getLogger(__name__)
Provider = Literal["auto", "cpu", "cuda"]
StopReason = Literal["", "eos", "max_tokens", "deadline", "cancelled", "think", "error", "busy"]
Logits = npt.NDArray[np.float32]
END_TOKENS: Final = ("<｜end▁of▁sentence｜>", "<|im_end|>", "<|endoftext|>")


class LlmSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The `[llm]` table of branch.toml; an empty folder turns the tier off (router + hub only)."""

    folder: str = "models/llm-qwen2.5-0.5b"  # onnxruntime-genai folder (from a bundle)
    provider: Provider = "auto"  # auto: CUDA when onnxruntime-genai-cuda sees a GPU, else CPU
    # CPU intra-op threads. 1, not the box's 2 cores: while it answers, speech still needs a
    # core (bench/thread_budget.py: with 2, a TTS sentence took 3x longer, with 1 about +30%)
    threads: int = 1
    route_deadline_s: float = 1.5  # wall time for one routing call, prompt included
    route_max_new_tokens: int = 8  # routing output budget (a menu number is 1-2 tokens)
    route_candidates: int = 5  # router's top-k offered to the model
    answer_deadline_s: float = 10.0  # stream_answer default (the Answerer passes its own)
    answer_max_new_tokens: int = 120  # about two short sentences
    temperature: float = 0.0  # 0 = greedy, deterministic (the only setting tested)


@dataclass(slots=True)
class CallStats:
    """What one call did, for logs, tests and the benchmark."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    stop: StopReason = ""


class Session(Protocol):
    """One generation over a prompt (the prefill happens when the session starts)."""

    def logits(self) -> Logits: ...
    def append(self, token: int) -> None: ...
    def step(self) -> int | None: ...


class Backend(Protocol):
    """What the engine needs from a runtime; onnxruntime-genai here, fakes in tests."""

    eos_ids: frozenset[int]
    special_tokens: frozenset[str]

    def encode(self, text: str) -> list[int]: ...
    def detokenizer(self) -> Callable[[int], str]: ...
    def start(self, ids: Sequence[int], max_new_tokens: int, temperature: float) -> Session: ...


class _GenaiSession:
    def __init__(self, og: Any, model: Any, ids: Sequence[int], max_new_tokens: int,
                 temperature: float) -> None:
        params = og.GeneratorParams(model)
        options: dict[str, Any] = {"max_length": len(ids) + max_new_tokens}
        options |= ({"do_sample": True, "temperature": temperature} if temperature > 0
                    else {"do_sample": False})
        params.set_search_options(**options)
        self._gen = og.Generator(model, params)
        self._gen.append_tokens(np.asarray(ids, dtype=np.int32))

    def logits(self) -> Logits:
        return np.asarray(self._gen.get_logits(), dtype=np.float32).reshape(-1)

    def append(self, token: int) -> None:
        self._gen.append_tokens(np.asarray([token], dtype=np.int32))

    def step(self) -> int | None:
        if self._gen.is_done():
            return None
        self._gen.generate_next_token()
        return int(self._gen.get_next_tokens()[0])


class GenaiBackend:
    """onnxruntime-genai: one model, its tokenizer, the provider chosen at load."""

    def __init__(self, folder: Path, provider: Provider = "auto", threads: int = 2) -> None:
        import onnxruntime_genai as og

        self._og = og
        config = og.Config(str(folder))
        use_cuda = provider == "cuda" or (provider == "auto" and og.is_cuda_available())
        config.clear_providers()
        if use_cuda:
            config.append_provider("cuda")
        else:
            options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
            config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self.provider = "cuda" if use_cuda else "cpu"
        self.model = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        genai = json.loads((folder / "genai_config.json").read_text())["model"]
        eos = genai.get("eos_token_id", [])
        tok_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        added = {t["content"]: int(t["id"]) for t in tok_json.get("added_tokens", [])}
        self.special_tokens = frozenset(added)
        self.eos_ids = frozenset([*(eos if isinstance(eos, list) else [eos]),
                                  *(added[t] for t in END_TOKENS if t in added)])

    def encode(self, text: str) -> list[int]:
        return [int(t) for t in self.tokenizer.encode(text)]

    def detokenizer(self) -> Callable[[int], str]:
        stream = self.tokenizer.create_stream()
        return lambda token: str(stream.decode(token))

    def start(self, ids: Sequence[int], max_new_tokens: int, temperature: float) -> Session:
        return _GenaiSession(self._og, self.model, ids, max_new_tokens, temperature)


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


class LlmEngine:
    """Routing and answer streaming over one loaded model; one call at a time (2 cores)."""

    def __init__(self, backend: Backend, settings: LlmSettings | None = None,
                 family: ChatFamily | None = None) -> None:
        self.backend = backend
        self.settings = settings or LlmSettings()
        self.family: ChatFamily = family or family_of(set(backend.special_tokens))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | str, provider: Provider = "auto", threads: int = 2,
             settings: LlmSettings | None = None) -> LlmEngine:
        """Load a genai model folder; raises if it is missing or broken (see `from_settings`)."""
        base = settings or LlmSettings()
        settings = msgspec.structs.replace(base, folder=str(folder), provider=provider,
                                           threads=threads)
        return cls(GenaiBackend(Path(folder), provider, threads), settings)

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> LlmEngine | None:
        """The engine, or None (logged) when the tier is off or the model cannot load."""
        if not settings.folder:
            return None
        folder = Path(settings.folder)
        if not (folder / "genai_config.json").is_file():
            log.warning("LLM tier off: no model at %s", folder)
            return None
        try:
            return cls.load(folder, settings.provider, settings.threads, settings)
        except Exception:
            log.exception("LLM tier off: %s failed to load", folder)
            return None

    def route(self, text: str, candidates: Sequence[tuple[str, str]],
              deadline_s: float | None = None, max_new_tokens: int | None = None,
              cancel: threading.Event | None = None,
              stats: CallStats | None = None) -> str | None:
        """Pick one of the candidate (intent_id, label) pairs, or None if unsure/late/failing."""
        stats = stats if stats is not None else CallStats()
        started = time.monotonic()
        deadline = started + (self.settings.route_deadline_s if deadline_s is None
                              else deadline_s)
        budget = max_new_tokens or self.settings.route_max_new_tokens
        options = list(candidates)[:MAX_CANDIDATES]
        if not options or not text.strip():
            return None
        if not self._lock.acquire(timeout=max(0.0, _remaining(deadline))):
            stats.stop = "busy"
            return None
        try:
            return self._route(text, options, deadline, budget, cancel, stats)
        except Exception:
            log.exception("LLM routing failed")
            stats.stop = "error"
            return None
        finally:
            stats.total_s = time.monotonic() - started
            self._lock.release()

    def _route(self, text: str, options: list[tuple[str, str]], deadline: float, budget: int,
               cancel: threading.Event | None, stats: CallStats) -> str | None:
        prompt = chat_prompt(self.family, ROUTE_SYSTEM_EN, route_user_message(text, options))
        ids = self.backend.encode(prompt)
        stats.prompt_tokens = len(ids)
        keys = menu_keys(options)
        end_ids = frozenset(self.backend.encode("\n")) | self.backend.eos_ids
        trie = ChoiceTrie([tuple(self.backend.encode(k)) for k in keys], end_ids)
        session = self.backend.start(ids, budget, 0.0)
        for _ in range(budget):
            if cancel is not None and cancel.is_set():
                stats.stop = "cancelled"
                return None
            if _remaining(deadline) <= 0:
                stats.stop = "deadline"
                return None
            token = best_allowed(session.logits(), trie.allowed())
            stats.new_tokens += 1
            trie.push(token)
            chosen = trie.resolved(token)
            if chosen is not None:
                stats.stop = "eos"
                return options[chosen][0] if _remaining(deadline) > 0 else None
            session.append(token)
        stats.stop = "max_tokens"
        return None

    def stream_answer(self, system: str, user: str, deadline_s: float | None = None,
                      max_new_tokens: int | None = None,
                      cancel: threading.Event | None = None,
                      stats: CallStats | None = None,
                      first_sentence_s: float | None = None) -> Generator[str, None, None]:
        """Answer sentences as they complete; never think text, never past budget or deadline.

        The prompt carries an already-closed think block. If the model opens another one the
        stream stops there (reasoning here would stall the customer for tens of seconds), and
        a block it never closes is never spoken. Errors end the stream (logged), never raise.
        `first_sentence_s`: give up (stop "deadline") if no sentence is complete by then.
        """
        stats = stats if stats is not None else CallStats()
        started = time.monotonic()
        deadline = started + (self.settings.answer_deadline_s if deadline_s is None
                              else deadline_s)
        budget = max_new_tokens or self.settings.answer_max_new_tokens
        first = deadline if first_sentence_s is None else min(deadline, started + first_sentence_s)
        if not self._lock.acquire(timeout=max(0.0, _remaining(first))):
            stats.stop = "busy"
            return
        try:
            yield from self._stream(system, user, (first, deadline), budget, cancel, stats,
                                    started)
        except Exception:
            log.exception("LLM answer failed")
            stats.stop = "error"
        finally:
            stats.total_s = time.monotonic() - started
            self._lock.release()

    def _stream(self, system: str, user: str, deadlines: tuple[float, float], budget: int,
                cancel: threading.Event | None, stats: CallStats,
                started: float) -> Iterator[str]:
        first, final = deadlines
        deadline = first
        ids = self.backend.encode(chat_prompt(self.family, system, user))
        stats.prompt_tokens = len(ids)
        session = self.backend.start(ids, budget, self.settings.temperature)
        text_of = self.backend.detokenizer()
        think = ThinkFilter()
        splitter = SentenceSplitter()
        while True:
            if cancel is not None and cancel.is_set():
                stats.stop = "cancelled"
                return
            if _remaining(deadline) <= 0:
                stats.stop = "deadline"
                return
            token = session.step()
            if token is None or stats.new_tokens >= budget:
                stats.stop = "max_tokens"
                break
            if stats.first_token_s is None:
                stats.first_token_s = time.monotonic() - started
            stats.new_tokens += 1
            if token in self.backend.eos_ids:
                stats.stop = "eos"
                break
            visible = think.feed(text_of(token))
            done = splitter.feed(visible)
            if done:
                deadline = final
            yield from done
            if think.saw_think:
                stats.stop = "think"
                return  # a partial sentence before the tag is dropped with the rest
        if cancel is not None and cancel.is_set():
            return
        yield from splitter.feed(think.finish())
        last = splitter.flush()
        # Out of tokens mid-sentence: the cut sentence ("...after the formal l") is not said.
        if last is not None and THINK_OPEN not in last and stats.stop != "max_tokens":
            yield last

    async def route_async(self, text: str, candidates: Sequence[tuple[str, str]],
                          deadline_s: float | None = None) -> str | None:
        """`route` in a worker thread; on timeout the thread is told to stop and None returns."""
        limit = self.settings.route_deadline_s if deadline_s is None else deadline_s
        cancel = threading.Event()
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.route, text, candidates, limit, None, cancel),
                timeout=limit + GRACE_S)
        except TimeoutError:
            cancel.set()
            return None


GRACE_S: Final = 0.25  # a prefill cannot be interrupted: the async wrapper waits this long more
